"""Atrous spatial pyramid pooling and the DeepLabv3+ decoder (Chen et al. 2017, 2018).

ASPP (DeepLabv3 §3.3): four parallel branches on the last feature map — a 1×1 convolution and
three 3×3 atrous convolutions with rates (6, 12, 18) at output stride 16 (doubled at stride
8) — plus image-level features (global average pool → 1×1 conv → upsample), each 256 channels
with BN and ReLU, concatenated and fused by a 1×1 convolution to 256 channels.

DeepLabv3+ (§3.1–3.2) makes the atrous branches depthwise separable (:class:`SeparableConvBN`)
and adds a decoder: the low-level map at 1/4 of the input is reduced to 48 channels by a 1×1
convolution, concatenated with the ASPP output upsampled ×4, refined by two separable 3×3
convolutions of 256 channels, and classified by a 1×1 convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semvis.nn.blocks import ConvBNAct
from semvis.nn.psp import PoolBranch

#: DeepLabv3's rates at output stride 16 (§3.3); at stride 8 they double.
ASPP_RATES = (6, 12, 18)
#: DeepLabv3+'s low-level reduction (§3.1, Table 1: 48 channels works best).
LOW_LEVEL_CHANNELS = 48


class SeparableConvBN(nn.Sequential):
    """DeepLabv3+'s separable convolution: depthwise 3×3 (dilated) → BN → ReLU → pointwise 1×1 → BN → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.depthwise = ConvBNAct(in_channels, in_channels, 3, dilation=dilation, groups=in_channels)
        self.pointwise = ConvBNAct(in_channels, out_channels, 1)


class ASPP(nn.Module):
    """ASPP with image pooling; ``separable`` uses :class:`SeparableConvBN` for the atrous branches."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        rates: Sequence[int] = ASPP_RATES,
        separable: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if not rates or any(r < 1 for r in rates):
            raise ValueError(f"rates must be positive, got {tuple(rates)}")

        def atrous(rate: int) -> nn.Module:
            if separable:
                return SeparableConvBN(in_channels, out_channels, rate)
            return ConvBNAct(in_channels, out_channels, 3, dilation=rate)

        self.branches = nn.ModuleList([ConvBNAct(in_channels, out_channels, 1), *(atrous(r) for r in rates)])
        self.image_pool = PoolBranch(in_channels, 1, out_channels)
        self.project = ConvBNAct(out_channels * (len(rates) + 2), out_channels, 1)
        self.dropout = nn.Dropout2d(dropout)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [branch(x) for branch in self.branches] + [self.image_pool(x)]
        return self.dropout(self.project(torch.cat(parts, 1)))


class LowLevelDecoder(nn.Module):
    """DeepLabv3+'s decoder: context ↑ to the low-level map, ‖ 1×1(low) → two separable 3×3 → classifier → ↑ size."""

    def __init__(
        self, context_channels: int, low_channels: int, num_classes: int, width: int = 256, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.reduce = ConvBNAct(low_channels, LOW_LEVEL_CHANNELS, 1)
        self.refine = nn.Sequential(
            SeparableConvBN(context_channels + LOW_LEVEL_CHANNELS, width), SeparableConvBN(width, width)
        )
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, context: torch.Tensor, low: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        up = F.interpolate(context, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.refine(torch.cat([up, self.reduce(low)], 1))
        y = self.classifier(self.dropout(y))
        return F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)
