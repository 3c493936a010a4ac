"""Backward warping by a dense flow field, shared by video style transfer and Deep Feature Flow.

``output(p) = input(p + flow(p))`` with bilinear interpolation, the kernel
``g(a, b) = max(0, 1 − |a − b|)`` per axis (Zhu et al. 2017, "Deep Feature Flow", eq. 2;
Ruder et al. 2016 warp the previous stylised frame the same way). Samples outside the
input contribute zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_positions(flow: torch.Tensor) -> torch.Tensor:
    """``p + flow(p)`` for every pixel ``p = (x, y)``: the ``B × 2 × H × W`` positions a warp reads from."""
    h, w = flow.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, device=flow.device, dtype=flow.dtype),
        torch.arange(w, device=flow.device, dtype=flow.dtype),
        indexing="ij",
    )
    return flow + torch.stack([xs, ys])


def warp(features: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Warp ``B × C × H × W`` features by a ``B × 2 × H × W`` flow (channel 0 = x/u, 1 = y/v, in pixels).

    Differentiable with respect to ``features``, ``flow`` and ``scale``; ``scale`` (broadcastable
    to the output, e.g. DFF's ``B × C × H × W`` scale field) multiplies the warped features.
    To align frame ``t`` onto frame ``t+1``, pass the flow from ``t+1`` to ``t``.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be B×C×H×W, got shape {tuple(features.shape)}")
    b, _, h, w = features.shape
    if flow.shape != (b, 2, h, w):
        raise ValueError(f"flow must be {b}×2×{h}×{w} to match the features, got {tuple(flow.shape)}")
    target = sample_positions(flow.to(features.dtype)).permute(0, 2, 3, 1)
    # grid_sample's align_corners=False puts pixel i's centre at (2i + 1) / size − 1; unlike
    # align_corners=True this stays exact for a width or height of 1
    size = torch.tensor([w, h], device=features.device, dtype=features.dtype)
    grid = (2 * target + 1) / size - 1
    out = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out if scale is None else out * scale
