"""Building blocks shared by every semvis model."""

from semvis.nn.blocks import ConvBNAct, make_activation
from semvis.nn.separable import SeparableConv2d
from semvis.nn.warp import warp

__all__ = ["ConvBNAct", "SeparableConv2d", "make_activation", "warp"]
