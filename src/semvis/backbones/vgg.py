"""VGG-16 and VGG-19 (Simonyan & Zisserman 2015, configurations D and E) with Caffe layer names.

Every layer is a named stage — ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, …, pool5`` —
so style losses can ask for ``relu4_2`` and computation stops there. Pooling is
switchable between max (the ImageNet network) and average (Gatys et al. 2015, §2:
"replacing the max-pooling operation by average pooling improves the gradient flow").

``output_stride`` 16 or 8 follows DeepLab-LargeFOV: pooling layers past the target
stride become 3×3 windows with stride 1 and padding 1, and the convolutions after
them are dilated accordingly, so pretrained weights stay valid on a denser grid.
The optional classifier is ``fc6``/``fc7``/``fc8`` over a 7×7 adaptive average pool,
as in torchvision, so torchvision checkpoints load unchanged.
"""

from __future__ import annotations

from torch import nn

from semvis.backbones.base import Backbone
from semvis.backbones.registry import register_backbone

#: Convolutions per block: D (VGG-16) and E (VGG-19).
BLOCK_DEPTHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_WIDTHS = (64, 128, 256, 512, 512)


def _pool(kind: str, stride: int) -> nn.Module:
    if kind not in {"max", "avg"}:
        raise ValueError(f"pooling must be 'max' or 'avg', got {kind!r}")
    if stride == 2:
        return nn.MaxPool2d(2, 2) if kind == "max" else nn.AvgPool2d(2, 2)
    if kind == "max":
        return nn.MaxPool2d(3, 1, padding=1)
    return nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)


class VGG(Backbone):
    """VGG feature stack with Caffe names and an optional fc6–fc8 classifier."""

    def __init__(
        self,
        depths: tuple[int, ...],
        num_classes: int | None = None,
        pooling: str = "max",
        output_stride: int = 32,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        in_ch, reduction, dilation = 3, 1, 1
        for block, (depth, width) in enumerate(zip(depths, BLOCK_WIDTHS), start=1):
            for i in range(1, depth + 1):
                conv = nn.Conv2d(in_ch, width, 3, padding=dilation, dilation=dilation)
                self._add_stage(f"conv{block}_{i}", conv, width, reduction)
                self._add_stage(f"relu{block}_{i}", nn.ReLU(), width, reduction)
                in_ch = width
            stride = 2 if reduction * 2 <= output_stride else 1
            reduction *= stride
            self._add_stage(f"pool{block}", _pool(pooling, stride), width, reduction)
            if stride == 1:
                dilation *= 2
        self.pooling = pooling
        self.output_stride = output_stride
        if num_classes:
            self.head = nn.Sequential()
            self.head.add_module("pool", nn.AdaptiveAvgPool2d(7))
            self.head.add_module("flatten", nn.Flatten())
            self.head.add_module("fc6", nn.Linear(512 * 7 * 7, 4096))
            self.head.add_module("relu6", nn.ReLU())
            self.head.add_module("drop6", nn.Dropout(dropout))
            self.head.add_module("fc7", nn.Linear(4096, 4096))
            self.head.add_module("relu7", nn.ReLU())
            self.head.add_module("drop7", nn.Dropout(dropout))
            self.head.add_module("fc8", nn.Linear(4096, num_classes))
        self.num_classes = num_classes

    @property
    def conv_names(self) -> list[str]:
        return [name for name in self.stages if name.startswith("conv")]


@register_backbone
def vgg16(num_classes: int | None = None, output_stride: int = 32, pooling: str = "max") -> VGG:
    """VGG-16 (configuration D)."""
    return VGG(BLOCK_DEPTHS["vgg16"], num_classes, pooling, output_stride)


@register_backbone
def vgg19(num_classes: int | None = None, output_stride: int = 32, pooling: str = "max") -> VGG:
    """VGG-19 (configuration E), the network of Gatys et al. 2015."""
    return VGG(BLOCK_DEPTHS["vgg19"], num_classes, pooling, output_stride)
