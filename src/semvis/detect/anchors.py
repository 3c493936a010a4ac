"""Anchors of the region proposal network (Ren et al. 2015, §3.1.1).

At every position of a feature map of stride ``s`` sit ``n_a`` = 3 scales × 3 aspect ratios = 9
anchors centred on the position's receptive-field centre ``(s·x + s/2, s·y + s/2)``. An anchor of
scale ``a`` (pixels) and ratio ``r = h / w`` has area ``a²``: ``w = a / √r``, ``h = a·√r``.
"""

from __future__ import annotations

import torch

#: Faster R-CNN / R-FCN anchors for a short side of 600 px: 128², 256², 512² boxes of ratios 1:2, 1:1, 2:1.
PAPER_SCALES = (128.0, 256.0, 512.0)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
#: The short side those scales are meant for (R-FCN and DFF on ImageNet VID resize to 600).
PAPER_SHORT_SIDE = 600


def base_anchors(scales: tuple[float, ...], ratios: tuple[float, ...] = ASPECT_RATIOS) -> torch.Tensor:
    """``(len(scales)·len(ratios)) × 4`` anchors centred at the origin, scale-major."""
    rows = []
    for scale in scales:
        for ratio in ratios:
            w, h = scale / ratio**0.5, scale * ratio**0.5
            rows.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.tensor(rows, dtype=torch.float32)


def grid_anchors(base: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """Anchors of every position of a ``size = (h, w)`` map: ``(h·w·A) × 4``, ordered position-major
    (index ``(y·w + x)·A + a``), matching a ``B × A·4 × h × w`` prediction permuted to ``h, w, A``."""
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    centres = (torch.stack([xs, ys, xs, ys], dim=-1).reshape(-1, 1, 4).float() + 0.5) * stride
    return (centres + base[None]).reshape(-1, 4)
