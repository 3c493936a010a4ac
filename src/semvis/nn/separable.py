"""Depthwise-separable convolution (Chollet 2017, §2 and Fig. 4)."""

from __future__ import annotations

import torch
from torch import nn

from semvis.nn.blocks import make_activation, same_padding


class SeparableConv2d(nn.Module):
    """A depthwise ``k×k`` convolution followed by a pointwise ``1×1`` convolution.

    ``depth_multiplier`` is the number of depthwise output channels per input channel
    (Xception uses 1). ``intermediate_activation`` is applied between the two
    convolutions: ``None`` (Xception's default), ``"relu"`` or ``"elu"`` — the
    ablation of the paper's Fig. 10. Neither convolution has a bias; the BN that
    follows in every Xception block makes one redundant.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        depth_multiplier: int = 1,
        intermediate_activation: str | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        mid = in_channels * depth_multiplier
        self.depthwise = nn.Conv2d(
            in_channels,
            mid,
            kernel_size,
            stride=stride,
            padding=same_padding(kernel_size, dilation),
            dilation=dilation,
            groups=in_channels,
            bias=False,
        )
        self.intermediate = make_activation(intermediate_activation)
        self.pointwise = nn.Conv2d(mid, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.intermediate(self.depthwise(x)))
