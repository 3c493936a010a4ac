"""Boxes ``x1, y1, x2, y2`` in pixels: areas, the IoU matrix, R-CNN box coding and clipping.

Box coding is the parametrisation of R-CNN (Girshick et al. 2014, Appendix C) used by Faster
R-CNN (Ren et al. 2015, eq. 2) and R-FCN (Dai et al. 2016): for a reference box with centre
``(x_a, y_a)`` and size ``w_a × h_a`` and a target ``(x, y, w, h)``,

    t_x = (x − x_a) / w_a,  t_y = (y − y_a) / h_a,  t_w = log(w / w_a),  t_h = log(h / h_a),

each multiplied by a weight (R-FCN's box regression targets are normalised by the standard
deviations 0.1, 0.1, 0.2, 0.2, i.e. weights 10, 10, 5, 5; the RPN uses 1). Widths are
``x2 − x1`` (continuous coordinates), not the ``+ 1`` of the Caffe code.
"""

from __future__ import annotations

import math

import torch

#: Weights of the RPN deltas (Faster R-CNN: targets are not normalised).
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
#: Weights of the R-FCN box deltas: 1 / (0.1, 0.1, 0.2, 0.2), the official code's BBOX_STDS.
RCNN_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
#: Largest ``t_w, t_h`` before ``exp`` when decoding: log(1000 / 16), as Detectron, so a wild
#: prediction cannot overflow.
MAX_LOG_SCALE = math.log(1000.0 / 16)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of ``N × 4`` boxes (0 for an empty box)."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def box_intersection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``N × M`` areas of the overlaps of ``N × 4`` and ``M × 4`` boxes."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    return (bottom_right - top_left).clamp(min=0).prod(dim=2)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``N × M`` intersection over union of ``N × 4`` and ``M × 4`` boxes (0 where the union is 0)."""
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny), torch.zeros_like(inter))


def _centre_size(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode(reference: torch.Tensor, target: torch.Tensor, weights: tuple[float, ...] = RPN_WEIGHTS) -> torch.Tensor:
    """Deltas ``N × 4`` that move each ``reference`` box onto its ``target`` box (module docstring)."""
    xa, ya, wa, ha = _centre_size(reference)
    x, y, w, h = _centre_size(target)
    wx, wy, ww, wh = weights
    return torch.stack([wx * (x - xa) / wa, wy * (y - ya) / ha, ww * torch.log(w / wa), wh * torch.log(h / ha)], dim=1)


def decode(reference: torch.Tensor, deltas: torch.Tensor, weights: tuple[float, ...] = RPN_WEIGHTS) -> torch.Tensor:
    """Boxes ``N × 4`` from ``reference`` boxes moved by ``deltas`` (the inverse of :func:`encode`)."""
    xa, ya, wa, ha = _centre_size(reference)
    wx, wy, ww, wh = weights
    x = xa + deltas[:, 0] / wx * wa
    y = ya + deltas[:, 1] / wy * ha
    w = wa * torch.exp((deltas[:, 2] / ww).clamp(max=MAX_LOG_SCALE))
    h = ha * torch.exp((deltas[:, 3] / wh).clamp(max=MAX_LOG_SCALE))
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], dim=1)


def clip_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Boxes clipped to an image of ``size = (height, width)``."""
    h, w = size
    return torch.stack(
        [boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)], dim=1
    )
