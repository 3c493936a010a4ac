"""Ready ``loss_fn`` / ``metrics`` pairs for :class:`~semvis.train.Trainer`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from semvis.train.loop import move_to


def classification_loss(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy of ``model(images)`` against integer ``labels``; logs top-1 accuracy."""
    images, labels = batch
    logits = model(images)
    accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
    return F.cross_entropy(logits, labels), {"acc": accuracy}


def classification_metrics(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """Mean cross-entropy (``loss``), top-1 (``acc``) and top-5 (``top5``) accuracy over ``loader``.

    Top-5 counts a label among the five highest logits (all of them when there are fewer classes).
    """
    device = next(model.parameters()).device
    total_loss, correct, correct5, count = 0.0, 0, 0, 0
    for batch in loader:
        images, labels = move_to(batch, device)
        logits = model(images)
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == labels).sum())
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
        correct5 += int((top5 == labels[:, None]).any(dim=1).sum())
        count += labels.numel()
    return {"loss": total_loss / count, "acc": correct / count, "top5": correct5 / count}
