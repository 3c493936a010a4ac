"""Greedy non-maximum suppression (Felzenszwalb et al. 2010; the NMS of Faster R-CNN and R-FCN).

Boxes are visited by descending score; each kept box removes every later box whose IoU with
it exceeds the threshold. Class-wise NMS runs this per class, done at once by shifting each
class's boxes by an offset so boxes of different classes never overlap.
"""

from __future__ import annotations

import torch

from semvis.detect.boxes import box_iou


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, max_keep: int | None = None) -> torch.Tensor:
    """Indices of the kept ``N × 4`` boxes by descending score (ties: lower index first), at most ``max_keep``."""
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while order.numel() and (max_keep is None or len(keep) < max_keep):
        best, order = order[0], order[1:]
        keep.append(best)
        order = order[box_iou(boxes[best, None], boxes[order])[0] <= threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS within each class (``classes``: ``N`` integers); indices of the kept boxes by descending score."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    offset = classes.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offset, scores, threshold)
