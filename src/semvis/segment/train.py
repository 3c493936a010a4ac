"""Training a segmenter on a CamVid-style dataset with the shared :class:`~semvis.train.Trainer`.

Loss: pixel-wise cross-entropy over the labelled pixels (``ignore_index`` left out), plus
0.4 × the auxiliary head's cross-entropy for PSPNet (§3.4, deep supervision).

Recipes: PSPNet's own (§4.1: SGD, base lr 0.01, "poly" decay with power 0.9, momentum 0.9,
weight decay 1e-4); GridNet, trained from scratch, gets Adam (lr 1e-3) with the same poly
decay and weight decay — our choice, not the paper's. Augmentation: random scale 0.5–2,
pad-and-crop to a square, horizontal flip (:class:`~semvis.data.RandomScaleCropFlip`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from semvis.data import LabelSpec, RandomScaleCropFlip, SegmentationDataset, match_channels
from semvis.errors import DataError
from semvis.progress import ProgressCallback
from semvis.segment.metrics import confusion_matrix, iou_per_class, scores
from semvis.segment.models import build_segmenter, save_segmenter
from semvis.segment.pspnet import AUX_WEIGHT, PSPNet
from semvis.train import (
    TrainConfig,
    TrainConfigError,
    Trainer,
    is_main_process,
    move_to,
    unwrap_model,
)

log = logging.getLogger("semvis.segment")

#: TrainConfig settings per model family (``gridnet`` / ``pspnet``).
RECIPES: dict[str, dict[str, Any]] = {
    "pspnet": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "scheduler": "poly"},
    "gridnet": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4, "scheduler": "poly"},
}


def cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean cross-entropy over the labelled pixels; 0 (with a gradient) when none is labelled.

    With ``class_weights`` it is the weighted mean: Σ w_y·CE / Σ w_y over the labelled pixels.
    """
    class_weights = None if class_weights is None else class_weights.to(logits.device)
    total = F.cross_entropy(logits, labels, class_weights, ignore_index=ignore_index, reduction="sum")
    labelled = labels != ignore_index
    if class_weights is None:
        return total / labelled.sum().clamp_min(1)
    return total / class_weights[labels[labelled]].sum().clamp_min(1e-12)


def segmentation_loss(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    ignore_index: int = 255,
    aux_weight: float = AUX_WEIGHT,
    class_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss_fn`` for the Trainer: cross-entropy (optionally class-weighted), plus ``aux_weight`` ×
    the auxiliary loss of a PSPNet."""
    images, labels = batch
    aux = None
    if isinstance(unwrap_model(model), PSPNet) and aux_weight > 0:
        logits, aux = model(images, aux=True)
    else:
        logits = model(images)
    loss = cross_entropy(logits, labels, ignore_index, class_weights)
    logs = {"ce": loss.detach()}
    if aux is not None:
        aux_loss = cross_entropy(aux, labels, ignore_index, class_weights)
        logs["aux"] = aux_loss.detach()
        loss = loss + aux_weight * aux_loss
    return loss, logs


def segmentation_metrics(
    model: nn.Module, loader: DataLoader, num_classes: int, ignore_index: int, classes: Sequence[str] = ()
) -> dict[str, float]:
    """``metrics`` for the Trainer: mean cross-entropy (``loss``), ``miou``, ``pixel_acc``, ``mean_acc``,
    and ``iou_<name>`` for each name of ``classes`` (the class names in index order, if given)."""
    device = next(model.parameters()).device
    conf = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    total, count = 0.0, 0
    for batch in loader:
        images, labels = move_to(batch, device)
        logits = model(images)
        total += F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="sum").item()
        count += int((labels != ignore_index).sum())
        conf += confusion_matrix(logits.argmax(1), labels, num_classes, ignore_index)
    per_class = {f"iou_{name}": iou.item() for name, iou in zip(classes, iou_per_class(conf))}
    return {"loss": total / max(count, 1)} | scores(conf) | per_class


@dataclass
class PairTransform:
    """Optional joint augmentation, then the model's channel convention (picklable for loader workers)."""

    in_channels: int
    augment: RandomScaleCropFlip | None = None

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.augment is not None:
            image, label = self.augment(image, label)
        return match_channels(image, self.in_channels), label


def training_split(data_root: str | Path) -> tuple[SegmentationDataset, LabelSpec]:
    """``data_root/train`` and its classes; a clear error when ``classes.json`` does not name them."""
    train_set = SegmentationDataset(data_root, "train")
    labels = train_set.labels
    if not labels.classes:
        raise DataError(f"{data_root}: classes.json is needed to name the classes")
    return train_set, labels


def train_segmenter(
    arch: str,
    data_root: str | Path,
    out_dir: str | Path,
    epochs: int = 50,
    batch_size: int = 8,
    crop: int = 352,
    lr: float | None = None,
    gray: bool = True,
    pretrained: bool | str | Path | None = None,
    scale: tuple[float, float] = (0.5, 2.0),
    aux_weight: float = AUX_WEIGHT,
    val_split: str | None = "val",
    model_kwargs: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Train ``arch`` (see :data:`~semvis.segment.models.ARCHS`) on ``data_root/train``.

    ``gray`` trains on luma input (1 channel), as the colorization pipeline needs;
    ``pretrained`` defaults to ImageNet weights for PSPNet and none for GridNet.
    ``model_kwargs`` go to the model (``output_stride``, ``total_dropout``…), ``overrides``
    to :class:`~semvis.train.TrainConfig` (``ema_decay``, ``num_workers``, ``seed``,
    ``resume``, ``amp``…). Validates on ``data_root/<val_split>`` after every epoch and
    writes checkpoints and ``metrics.csv`` under ``out_dir``, then the final weights (the
    EMA when enabled) as ``model.safetensors`` with classes, colours and input convention
    in its header. Works under ``torchrun``; ``progress`` gets the training steps. Returns the last
    row of ``metrics.csv``.
    """
    if arch != "gridnet" and batch_size < 2:
        raise TrainConfigError(
            "PSPNet trains with batches of 2 or more: the 1×1 pyramid branch's BatchNorm sees one value per image"
        )
    out_dir = Path(out_dir)
    train_set, labels = training_split(data_root)
    in_channels = 1 if gray else 3
    if pretrained is None:
        pretrained = arch != "gridnet"
    model = build_segmenter(arch, len(labels.classes), in_channels, pretrained, **(model_kwargs or {}))
    augment = RandomScaleCropFlip(crop, scale, ignore_index=labels.ignore_index)
    train_set.transform = PairTransform(in_channels, augment)
    val_set = None if val_split is None else SegmentationDataset(data_root, val_split, PairTransform(in_channels))
    recipe = RECIPES["gridnet" if arch == "gridnet" else "pspnet"]
    settings = recipe | {"epochs": epochs, "batch_size": batch_size, "out_dir": out_dir, "drop_last": True}
    if lr is not None:
        settings["lr"] = lr
    cfg = TrainConfig(**(settings | overrides))
    trainer = Trainer(
        model,
        partial(segmentation_loss, ignore_index=labels.ignore_index, aux_weight=aux_weight),
        train_set,
        cfg,
        val_data=val_set,
        metrics=None
        if val_set is None
        else partial(segmentation_metrics, num_classes=len(labels.classes), ignore_index=labels.ignore_index),
        progress=progress,
    )
    results = trainer.fit()
    if is_main_process():
        final = trainer.ema.module if trainer.ema is not None else model
        save_segmenter(
            final, out_dir / "model.safetensors", labels, provenance={"data": str(data_root), "metrics": results}
        )
        log.info("weights: %s", out_dir / "model.safetensors")
    return results
