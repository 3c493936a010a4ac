"""Dense prediction heads shared by segmentation (PSPNet) and hashing (phase 1)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semvis.nn.blocks import ConvBNAct


class SegmentationHead(nn.Module):
    """Phase-1 head: 3×3 conv → BN → ReLU → dropout → 1×1 conv → bilinear upsample to the image size."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = ConvBNAct(in_channels, width, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        y = self.classifier(self.dropout(self.conv(x)))
        return F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)
