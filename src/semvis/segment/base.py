"""What PSPNet and DeepLabv3+ share: a pretrained backbone that sees gray photos as R = G = B."""

from __future__ import annotations

import torch
from torch import nn

from semvis.backbones import FeatureExtractor, InputSpec


def check_settings(num_classes: int, in_channels: int, output_stride: int) -> None:
    """One clear error for a class count, channel count or stride these segmenters cannot take."""
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 (gray) or 3 (RGB), got {in_channels}")
    if output_stride not in (8, 16):
        raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")


class BackboneSegmenter(nn.Module):
    """A segmenter whose ``backbone`` (a :class:`FeatureExtractor`) takes RGB in [0, 1].

    Gray input (``in_channels=1``) is repeated into R = G = B, so a grayscale photo goes through
    the RGB backbone with its pretrained weights unchanged.
    """

    backbone: FeatureExtractor
    in_channels: int

    @property
    def input_spec(self) -> InputSpec:
        """Pixel convention of the backbone's weights (applied inside; inputs stay in [0, 1])."""
        return self.backbone.backbone.input_spec

    def _stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The backbone's named maps of an N×``in_channels``×H×W batch; a clear error for another shape."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected an N×{self.in_channels}×H×W batch, got shape {tuple(x.shape)}")
        return self.backbone(x.expand(-1, 3, -1, -1))
