"""Inference at full resolution: whole images or sliding windows, and dataset evaluation.

Every segmenter takes pixels in [0, 1]; :func:`~semvis.data.images.match_channels` turns an RGB
batch into the 1-channel luma a gray model wants or repeats a gray batch for an RGB model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from semvis.data import match_channels
from semvis.device import DeviceSpec, place
from semvis.progress import ProgressCallback, tracked
from semvis.segment.metrics import confusion_matrix, iou_per_class, scores


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window origins covering ``size`` pixels; the last window ends at the edge."""
    if size <= window:
        return [0]
    count = math.ceil((size - window) / stride) + 1
    return [min(i * stride, size - window) for i in range(count)]


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: torch.Tensor, window: int | None = None, overlap: float = 1 / 3
) -> torch.Tensor:
    """Logits ``N × K × H × W`` for a batch already in the model's convention (eval mode, no grad).

    With ``window``, square windows of that side sweep the image with the given ``overlap``
    and overlapping logits are averaged (mmseg's "slide" mode); otherwise the whole image
    goes through at once.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    model.eval()
    if window is None:
        return model(images)
    h, w = images.shape[-2:]
    stride = max(1, round(window * (1 - overlap)))
    total: torch.Tensor | None = None
    count = images.new_zeros(1, 1, h, w)
    for top in _starts(h, window, stride):
        for left in _starts(w, window, stride):
            rows, cols = slice(top, top + window), slice(left, left + window)
            logits = model(images[..., rows, cols])
            if total is None:
                total = images.new_zeros(images.shape[0], logits.shape[1], h, w)
            total[..., rows, cols] += logits
            count[..., rows, cols] += 1
    assert total is not None
    return total / count


def segment(
    model: nn.Module, image: torch.Tensor, window: int | None = None, device: DeviceSpec | None = None
) -> torch.Tensor:
    """Label map ``H × W`` (int64, on the CPU) of one ``C × H × W`` image in [0, 1] (RGB or gray).

    ``device``: where the model runs (it is moved there; ``None``: where it is), see :mod:`semvis.device`.
    """
    x = match_channels(image, model.in_channels)[None]
    return predict_logits(model, x.to(place(model, device)), window).argmax(1)[0].cpu()


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    ignore_index: int,
    window: int | None = None,
    progress: ProgressCallback | None = None,
    device: DeviceSpec | None = None,
) -> dict[str, Any]:
    """Scores of ``model`` on every ``(image, label)`` of ``dataset``, one full-resolution image at a time.

    Returns ``miou``, ``pixel_acc``, ``mean_acc`` (see :mod:`semvis.segment.metrics`),
    ``iou`` (per class, NaN for a class absent from ground truth and prediction) and
    ``confusion`` (the ``K × K`` counts). ``progress`` counts images; ``device`` as for :func:`segment`.
    """
    place(model, device)
    conf = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for i in tracked(range(len(dataset)), "evaluating", progress):
        image, label = dataset[i]
        conf += confusion_matrix(segment(model, image, window), label, num_classes, ignore_index)
    return scores(conf) | {"iou": iou_per_class(conf).tolist(), "confusion": conf}
