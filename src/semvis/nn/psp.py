"""Pyramid pooling module (Zhao et al. 2017, "Pyramid Scene Parsing Network", §3.3).

Each branch average-pools the feature map to a ``b × b`` grid of bins, reduces it with a
1×1 convolution to ``C / N`` channels (``N`` branches) → BN → ReLU, and upsamples it
bilinearly back to the map's size; the branches are concatenated with the input, so a
28×28×512 map becomes 28×28×(512 + 4·128 = 1024).

Two ways to give the pyramid:

- ``bins`` — output grid sizes, as PSPNet and mmseg (``pool_scales=(1, 2, 3, 6)``) do;
- :meth:`PyramidPooling.from_windows` — pooling *windows* for a given map size. The
  semantic-hashing paper's "bin size 28×28, 14×14, 9×9 and 7×7" on the 28×28 map of
  VGG's fourth block reads this way: windows of 28, 14, 9 and 7 pixels, i.e. grids of
  1, 2, 3 and 4 bins. A window ``w`` on a map of ``s`` pixels gives ``s // w`` bins and
  is accepted when ``s // (s // w) == w``.

Pooling is adaptive (``nn.AdaptiveAvgPool2d``): bin ``i`` of ``b`` spans pixels
``floor(i·s/b) … ceil((i+1)·s/b)``. For 3 bins on 28 pixels that is three windows of 10
overlapping by one pixel, where a literal 9×9 window of stride 9 would skip the last row
and column. Upsampling uses ``align_corners=False``. While traced for ONNX export the same bins
are pooled by :func:`~semvis.nn.runtime.traceable_adaptive_avg_pool2d`, so the graph follows the input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semvis.nn.blocks import ConvBNAct
from semvis.nn.runtime import traceable_adaptive_avg_pool2d

#: The paper's windows on the 28×28 map (VGG fourth block at 224×224 input).
PAPER_WINDOWS = (28, 14, 9, 7)


class PoolBranch(nn.Module):
    """Average-pool to ``bins × bins`` → 1×1 conv → BN → ReLU → bilinear upsample."""

    def __init__(self, in_channels: int, bins: int, out_channels: int) -> None:
        super().__init__()
        self.bins = bins
        self.pool = nn.AdaptiveAvgPool2d(bins)
        self.conv = ConvBNAct(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(traceable_adaptive_avg_pool2d(x, self.bins) if torch.jit.is_tracing() else self.pool(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling: ``cat([x, branch_1(x), …, branch_N(x)])`` along channels."""

    def __init__(
        self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 4), branch_channels: int | None = None
    ) -> None:
        super().__init__()
        bins = tuple(bins)
        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        if not bins or any(not isinstance(b, int) or b < 1 for b in bins):
            raise ValueError(f"bins must be positive integers, got {bins}")
        if len(set(bins)) != len(bins):
            raise ValueError(f"bins must be distinct, got {bins}")
        if branch_channels is None:
            branch_channels = in_channels // len(bins)
        if branch_channels < 1:
            raise ValueError(f"branch_channels must be positive, got {branch_channels} (in_channels={in_channels})")
        self.bins = bins
        self.branches = nn.ModuleList(PoolBranch(in_channels, b, branch_channels) for b in bins)
        self.out_channels = in_channels + len(bins) * branch_channels

    @classmethod
    def from_windows(
        cls,
        in_channels: int,
        input_size: int,
        windows: Sequence[int] = PAPER_WINDOWS,
        branch_channels: int | None = None,
    ) -> PyramidPooling:
        """Build from pooling windows on an ``input_size × input_size`` map (the paper's reading)."""
        return cls(in_channels, windows_to_bins(input_size, windows), branch_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected an N×C×H×W feature map, got shape {tuple(x.shape)}")
        return torch.cat([x, *(branch(x) for branch in self.branches)], dim=1)


def windows_to_bins(input_size: int, windows: Sequence[int]) -> tuple[int, ...]:
    """Bin counts for pooling ``windows`` on a map of ``input_size`` pixels: 28, (28, 14, 9, 7) → (1, 2, 3, 4)."""
    if input_size < 1:
        raise ValueError(f"input_size must be positive, got {input_size}")
    bins = []
    for w in windows:
        if not isinstance(w, int) or not 1 <= w <= input_size:
            raise ValueError(f"window {w!r} must be an integer in 1..{input_size} (the map size)")
        b = input_size // w
        if input_size // b != w:
            raise ValueError(
                f"window {w} does not tile a {input_size}-pixel map: {b} bins would be {input_size // b} pixels wide"
            )
        bins.append(b)
    return tuple(bins)
