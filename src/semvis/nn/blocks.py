"""Convolution + batch-norm + activation blocks and an activation factory."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {
    "none": nn.Identity,
    "relu": lambda: nn.ReLU(inplace=False),
    "relu6": lambda: nn.ReLU6(inplace=False),
    "elu": lambda: nn.ELU(inplace=False),
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}


def make_activation(name: str | None) -> nn.Module:
    """Return a fresh activation module for ``name`` (``None`` means identity)."""
    key = "none" if name is None else name.lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]()


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size for odd kernels at stride 1."""
    return dilation * (kernel_size - 1) // 2


class ConvBNAct(nn.Sequential):
    """``Conv2d`` (no bias) → ``BatchNorm2d`` → activation, with 'same' padding and dilation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        activation: str | None = "relu",
        padding: int | None = None,
    ) -> None:
        pad = same_padding(kernel_size, dilation) if padding is None else padding
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = make_activation(activation)
