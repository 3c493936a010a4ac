"""Segmentation scores from a confusion matrix, and a picture of it.

``conf[t, p]`` counts the pixels of ground-truth class ``t`` predicted as ``p``; pixels whose
label is ``ignore_index`` are left out. With ``TP_k = conf[k, k]``, ``GT_k`` the row sum and
``P_k`` the column sum:

- IoU_k = TP_k / (GT_k + P_k − TP_k); NaN when the class is in neither the ground truth nor
  the predictions (0 / 0), and such classes are left out of the mean (mIoU). A class only
  predicted, never present, has IoU 0 and counts.
- pixel accuracy = Σ TP_k / Σ GT_k;
- class accuracy_k = TP_k / GT_k (NaN without ground truth), mean class accuracy over the
  classes present.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from semvis.viz import colormap, font, labelled_grid

#: Side of one cell of :func:`confusion_picture`.
CELL = 44


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """``num_classes × num_classes`` int64 counts (rows: ground truth, columns: prediction).

    ``pred`` and ``target`` are integer maps of one shape; ``target`` holds classes
    ``0 … num_classes − 1`` or ``ignore_index``, anything else raises ``ValueError``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    valid = target != ignore_index
    t, p = target[valid].long(), pred[valid].long()
    for name, values in (("target", t), ("prediction", p)):
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} holds classes outside 0..{num_classes - 1} "
                f"(range {int(values.min())}..{int(values.max())}, ignore_index {ignore_index})"
            )
    counts = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).cpu()


def iou_per_class(conf: torch.Tensor) -> torch.Tensor:
    """IoU of each class (float64); NaN for a class absent from ground truth and prediction."""
    conf = conf.double()
    tp = conf.diagonal()
    union = conf.sum(0) + conf.sum(1) - tp
    return tp / union


def accuracy_per_class(conf: torch.Tensor) -> torch.Tensor:
    """Recall of each class (float64); NaN for a class without ground-truth pixels."""
    conf = conf.double()
    return conf.diagonal() / conf.sum(1)


def scores(conf: torch.Tensor) -> dict[str, float]:
    """``miou``, ``pixel_acc`` and ``mean_acc`` of a confusion matrix (NaN when it is empty)."""
    total = conf.sum().item()
    return {
        "miou": iou_per_class(conf).nanmean().item(),
        "pixel_acc": conf.diagonal().sum().item() / total if total else float("nan"),
        "mean_acc": accuracy_per_class(conf).nanmean().item(),
    }


def _cell(value: float) -> Image.Image:
    """One heat-map cell: viridis colour for ``value`` in [0, 1] and its percentage; grey if NaN."""
    if np.isnan(value):
        return Image.new("RGB", (CELL, CELL), (220, 220, 220))
    # two extra pixels pin the colour scale to 0..1 whatever the matrix holds
    colour = colormap(np.array([[value, 0.0, 1.0]])).getpixel((0, 0))
    cell = Image.new("RGB", (CELL, CELL), colour)
    text = f"{100 * value:.0f}"
    ImageDraw.Draw(cell).text(
        (CELL // 2, CELL // 2), text, fill="black" if value > 0.6 else "white", font=font(13), anchor="mm"
    )
    return cell


def confusion_picture(conf: torch.Tensor, class_names: Sequence[str], title: str = "") -> Image.Image:
    """Row-normalised confusion matrix as a labelled heat map (percent of each ground-truth class).

    Rows are ground truth (named, with their index), columns predictions (by index); a row
    without ground-truth pixels is grey.
    """
    k = conf.shape[0]
    if conf.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"need a square matrix and one name per class, got {tuple(conf.shape)} and {len(class_names)}")
    rows = conf.double() / conf.sum(1, keepdim=True).double()
    cells = [[_cell(float(v)) for v in row] for row in rows]
    return labelled_grid(
        cells,
        (CELL, CELL),
        row_labels=[f"{i} {name}" for i, name in enumerate(class_names)],
        col_labels=[str(i) for i in range(k)],
        title=title or "confusion: rows ground truth, columns prediction (% of row)",
    )
