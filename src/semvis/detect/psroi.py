"""Position-sensitive RoI pooling and voting (Dai et al. 2016, "R-FCN", §2, eq. 1).

A RoI of size ``w × h`` is divided into ``k × k`` bins of size ``w/k × h/k``. Bin ``(i, j)`` of
class ``c`` reads only its own score map, channel ``(c·k + i)·k + j`` of the ``(C+1)·k²`` maps
(the layout of the official psroi_pooling), and averages it over the bin's pixels:

    r_c(i, j) = Σ_{(x, y) ∈ bin(i, j)} z_{i,j,c}(x + x₀, y + y₀) / n,

with bin bounds ``⌊i·h/k⌋ … ⌈(i+1)·h/k⌉`` on the feature grid (clipped to the map; an empty bin
gives 0). Voting averages the ``k²`` bins: ``r_c = mean_{i,j} r_c(i, j)`` (eq. 1's vote, then a
softmax over classes). The same pooling on the ``4·k²`` box maps gives class-agnostic deltas.

Deviation: RoI corners are scaled to the grid as they are (continuous coordinates) instead of the
official code's ``round(x1)`` and ``round(x2) + 1``, to match :mod:`semvis.detect.boxes`.

The sums come from an integral image (summed-area table), so each bin costs four look-ups
and the pooling is differentiable through ``cumsum`` and indexing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: R-FCN's k: a 7 × 7 grid of position-sensitive bins.
GRID = 7
#: The official code's floor on a RoI's width and height on the feature grid.
MIN_ROI_SIDE = 0.1


def bin_bounds(start: torch.Tensor, end: torch.Tensor, k: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and one-past-last grid index of each of ``k`` bins per RoI (``R × k`` each), clipped to ``[0, limit]``."""
    size = (end - start).clamp(min=MIN_ROI_SIDE)[:, None] / k
    steps = torch.arange(k, dtype=start.dtype, device=start.device)
    first = torch.floor(start[:, None] + steps * size).clamp(0, limit).long()
    last = torch.ceil(start[:, None] + (steps + 1) * size).clamp(0, limit).long()
    return first, last


def ps_roi_pool(maps: torch.Tensor, rois: torch.Tensor, k: int = GRID, spatial_scale: float = 1 / 16) -> torch.Tensor:
    """Pool ``D·k² × H × W`` maps of one image over ``R × 4`` RoIs (image pixels) → ``R × D × k × k``."""
    channels, h, w = maps.shape
    if channels % (k * k):
        raise ValueError(f"position-sensitive maps need a multiple of k² = {k * k} channels, got {channels}")
    depth = channels // (k * k)
    integral = F.pad(maps.double().cumsum(1).cumsum(2), (1, 0, 1, 0)).reshape(depth, k, k, h + 1, w + 1)
    scaled = rois.double() * spatial_scale
    x0, x1 = bin_bounds(scaled[:, 0], scaled[:, 2], k, w)
    y0, y1 = bin_bounds(scaled[:, 1], scaled[:, 3], k, h)
    rows = torch.arange(k, device=maps.device)[None, :, None]
    cols = torch.arange(k, device=maps.device)[None, None, :]

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return integral[:, rows, cols, y[:, :, None], x[:, None, :]]  # depth × R × k × k

    sums = at(y1, x1) - at(y0, x1) - at(y1, x0) + at(y0, x0)
    area = ((y1 - y0)[:, :, None] * (x1 - x0)[:, None, :]).to(sums.dtype)
    pooled = torch.where(area > 0, sums / area.clamp(min=1), torch.zeros_like(sums))
    return pooled.permute(1, 0, 2, 3).to(maps.dtype)


def vote(pooled: torch.Tensor) -> torch.Tensor:
    """R-FCN's vote: the mean over the ``k × k`` bins, ``R × D × k × k`` → ``R × D``."""
    return pooled.mean(dim=(2, 3))
