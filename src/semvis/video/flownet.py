"""The flow networks F of Deep Feature Flow (Zhu et al. 2017, §4 and Appendix A).

All three take the current frame and the key frame, concatenate them (6 channels, RGB in
[0, 1]), halve the resolution (2×2 average pooling, rounding up as the official MXNet code's
``pooling_convention='full'``) and predict flow at output stride 4 of that half-size input, i.e.
at 1/8 of the frame. :func:`resize_flow` then brings the flow (and the scale field) to the
feature stride, scaling the vectors.

========== ===================================================================================
name       encoder (names as FlowNetS' Caffe release; strides relative to the half-size input)
========== ===================================================================================
simple     FlowNetS of Dosovitskiy et al. 2015 ("FlowNet", DFF Table 6): conv1 7×7/2 64,
           conv2 5×5/2 128, conv3 5×5/2 256, conv3_1 3×3 256, conv4 3×3/2 512, conv4_1 512,
           conv5 3×3/2 512, conv5_1 512, conv6 3×3/2 1024, conv6_1 1024 — 38,676,514
           parameters without the scale field
half       the same with every width halved ("FlowNet Half", Table 7; §4: "reduces the number
           of convolutional kernels in each layer by half", about 1/4 of the complexity)
inception  "FlowNet Inception", Table 8 (``INCEPTION_TABLE``): conv1 7×7/2 32, pool1 3×3
           max pool/2, conv2 Inception 64, conv3_1 3×3/2 128, conv3_2 and conv3_3 Inception
           128, then Reduction/Inception pairs conv4_1/4_2 256, conv5_1/5_2 384 and
           conv6_1/6_2 512 (:class:`InceptionBlock`); skips conv2, conv3_3, conv4_2, conv5_2
========== ===================================================================================

Sources: the encoders are Appendix A's Tables 6–8; the decoder and the conventions below follow
FlowNetS and the flow network of the official code (msracver/Deep-Feature-Flow, ``get_flownet``).
Deviations, each our reading where the table is silent: Table 8 gives no decoder, so Inception
uses FlowNetS' refinement at a quarter of Simple's widths (``INCEPTION_DECONV``); Table 8 names
no activation or normalisation, so its convolutions are FlowNetS units (bias, leaky ReLU 0.1,
no batch norm); its stride-2 ``#1x1`` branch is a 1×1 convolution of stride 2, and its 3×3 max
poolings are padded by 1 so that every stride halves a side rounding up. Inception then costs
0.143 of Simple's FLOPs without a scale field; §4 says about 1/8, Table 2's ratios give 0.133.

Every convolution except the flow predictors is followed by a leaky ReLU of slope 0.1 and
has a bias, as in FlowNetS. The decoder is FlowNetS' refinement: from the coarsest level
(the last encoder layer, stride 64) down to stride 4, each step predicts a flow (3×3 conv → 2),
upsamples it (4×4/2 transposed conv, 2 → 2), upsamples the features (4×4/2 transposed conv +
leaky ReLU) and concatenates both with the encoder's skip feature; transposed outputs are
cropped to the skip's size, so any input size works. The last layer is a 3×3 conv on the
conv2-level concatenation that outputs 2 flow channels plus ``scale_channels`` channels of
the scale field S (DFF §3), whose weights start at 0 and biases at 1, so S ≡ 1 before
training. With ``scale_head="pooled"`` S comes instead from a separate 1×1 convolution on that
concatenation average-pooled 2×2 (stride 16 of the frame, the feature stride), as the official
code predicts it (weights 0, bias 1; the official bias is frozen, ours learns). The official code
also predicts the flow there and scales it by 2.5; here the flow stays at stride 8 as §4 says.

Conventions: ``net(current, key)`` returns the flow ``M_{i→k}`` from the current frame i to
the key frame k, ``current(p) ≈ key(p + flow(p))``, the convention of
:func:`semvis.nn.warp.warp` and :func:`semvis.flow.dis_flow` — pass it to ``warp`` with the
key frame's features to align them onto the current frame. Flow vectors are in pixels of the
grid they live on (here stride 8 of the frame). FlowNetS' released weights predict flow ÷ 20
in pixels of its input; loading them would mean multiplying the last layer by 20 / 4 = 5.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal, NamedTuple, overload

import torch
import torch.nn.functional as F
from torch import nn

from semvis.weights import ModelHeader, register_legacy_header, register_model

#: Output stride of the flow relative to the half-size input, and relative to the frame.
OUTPUT_STRIDE = 4
FRAME_STRIDE = 2 * OUTPUT_STRIDE
#: FlowNetS' leaky ReLU slope.
LEAKY_SLOPE = 0.1
#: FlowNetS: (name, kernel, stride, channels).
SIMPLE_LAYERS = (
    ("conv1", 7, 2, 64),
    ("conv2", 5, 2, 128),
    ("conv3", 5, 2, 256),
    ("conv3_1", 3, 1, 256),
    ("conv4", 3, 2, 512),
    ("conv4_1", 3, 1, 512),
    ("conv5", 3, 2, 512),
    ("conv5_1", 3, 1, 512),
    ("conv6", 3, 2, 1024),
    ("conv6_1", 3, 1, 1024),
)
#: Widths of the feature deconvolutions, coarse to fine (deconv5 … deconv2).
SIMPLE_DECONV = (512, 256, 128, 64)
#: FlowNet Inception, DFF Table 8: (name, type, stride, channels, #1x1, #1x1-#3x3, #1x1-#3x3-#3x3, #pool).
#: Types: ``conv7``/``conv3`` a 7×7/3×3 convolution, ``maxpool`` a 3×3 max pooling, ``inception``
#: an :class:`InceptionBlock`, ``reduction`` one with stride 2 and the pooling branch. An empty
#: branch is 0 or ``()``.
INCEPTION_TABLE: tuple[tuple[str, str, int, int, int, tuple[int, ...], tuple[int, ...], int], ...] = (
    ("conv1", "conv7", 2, 32, 0, (), (), 0),
    ("pool1", "maxpool", 2, 32, 0, (), (), 0),
    ("conv2", "inception", 1, 64, 0, (24, 32), (24, 32, 32), 0),
    ("conv3_1", "conv3", 2, 128, 0, (), (), 0),
    ("conv3_2", "inception", 1, 128, 48, (32, 64), (8, 16, 16), 0),
    ("conv3_3", "inception", 1, 128, 48, (48, 64), (12, 16, 16), 0),
    ("conv4_1", "reduction", 2, 256, 32, (112, 128), (28, 32, 32), 64),
    ("conv4_2", "inception", 1, 256, 96, (112, 128), (28, 32, 32), 0),
    ("conv5_1", "reduction", 2, 384, 48, (96, 192), (36, 48, 48), 96),
    ("conv5_2", "inception", 1, 384, 144, (96, 192), (36, 48, 48), 0),
    ("conv6_1", "reduction", 2, 512, 64, (192, 256), (48, 64, 64), 128),
    ("conv6_2", "inception", 1, 512, 192, (192, 256), (48, 64, 64), 0),
)
#: Table 8 gives no decoder: FlowNetS' refinement at a quarter of its widths (half of Half's), our choice.
INCEPTION_DECONV = (128, 64, 32, 16)
#: Encoder outputs the decoder concatenates, fine to coarse (strides 4…32 of the half-size input);
#: the last encoder layer (stride 64) starts it.
SKIPS = ("conv2", "conv3_1", "conv4_1", "conv5_1")
INCEPTION_SKIPS = ("conv2", "conv3_3", "conv4_2", "conv5_2")
FLOWNETS = ("simple", "half", "inception")
#: Where F predicts the scale field S: ``conv`` extra output channels of the last 3×3 layer at the
#: flow's stride (our reading of §3–4, the default); ``pooled`` the official code's 1×1 conv on
#: that layer's input average-pooled 2×2, i.e. at the feature stride 16 (about 1/36 of the cost).
SCALE_HEADS = ("conv", "pooled")


class FlowEstimate(NamedTuple):
    """A flow function's output: ``B × 2 × h × w`` flow in pixels of its own grid, and the
    ``B × C × h' × w'`` scale field S on its own grid (``None`` when the flow function predicts none)."""

    flow: torch.Tensor
    scale: torch.Tensor | None


def resize_flow(flow: torch.Tensor, size: Sequence[int], antialias: bool = False) -> torch.Tensor:
    """Bilinearly resize a ``B × 2 × h × w`` flow to ``size = (H, W)``, scaling u by ``W / w`` and v by ``H / h``.

    The vectors stay in pixels of the grid they are on: 8 px on a stride-4 grid become 2 px on
    the stride-16 grid of the same image. With ``align_corners=False`` pixel centres map by
    ``x' + ½ = (x + ½)·W/w``, so a displacement maps by the same factor. ``antialias`` averages
    over the footprint when shrinking (for targets of coarse grids, as FlowNet pools its ground truth).
    """
    h, w = flow.shape[-2:]
    height, width = size
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False, antialias=antialias)
    factor = torch.tensor([width / w, height / h], dtype=flow.dtype, device=flow.device)
    return resized * factor.view(1, 2, 1, 1)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """FlowNetS' unit: convolution with 'same' padding → leaky ReLU 0.1."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2), nn.LeakyReLU(LEAKY_SLOPE))


class InceptionBlock(nn.Module):
    """Table 8's Inception/Reduction module: up to four branches concatenated, each conv followed by leaky ReLU 0.1.

    Branches (widths as Table 8's columns; 0 or ``()`` leaves a branch out): ``one`` a 1×1 conv,
    ``double`` 1×1 → 3×3, ``triple`` 1×1 → 3×3 → 3×3, ``pool`` a 3×3 max pooling → 1×1 conv. With
    ``stride=2`` (a Reduction module) the last conv of each conv branch and the pooling have stride 2.
    """

    def __init__(
        self,
        in_channels: int,
        one: int,
        double: Sequence[int],
        triple: Sequence[int],
        pool: int = 0,
        stride: int = 1,
    ) -> None:
        super().__init__()
        if len(double) not in (0, 2) or len(triple) not in (0, 3):
            raise ValueError(f"need 2 widths for #1x1-#3x3 and 3 for #1x1-#3x3-#3x3, got {double} and {triple}")
        if pool and stride == 1:
            raise ValueError("the pooling branch belongs to a Reduction module (stride 2)")
        branches: list[nn.Module] = []
        if one:
            branches.append(_conv(in_channels, one, 1, stride))
        for widths in (double, triple):
            if widths:
                kernels = (1,) + (3,) * (len(widths) - 1)
                strides = (1,) * (len(widths) - 1) + (stride,)
                chain = zip((in_channels, *widths[:-1]), widths, kernels, strides)
                branches.append(nn.Sequential(*(_conv(c_in, c_out, k, st) for c_in, c_out, k, st in chain)))
        if pool:
            branches.append(nn.Sequential(nn.MaxPool2d(3, stride, 1), _conv(in_channels, pool, 1)))
        self.branches = nn.ModuleList(branches)
        self.out_channels = one + sum(widths[-1] for widths in (double, triple) if widths) + pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


def _crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return x[..., : size[0], : size[1]]


class FlowNet(nn.Module):
    """Encoder (named layers) → FlowNetS refinement → flow + scale field at stride 4 of the half-size input.

    Args:
        layers: ``(name, module, out_channels)`` in order; must include the ``skips``
            names, and the last one starts the decoder.
        deconv_widths: widths of the four feature deconvolutions, coarse to fine.
        scale_channels: channels of the scale field S (the feature channels of N_feat; 0: none).
        name: what :func:`build_flownet` calls this design (saved with the weights).
        skips: the four encoder layers the decoder concatenates, fine to coarse (strides 4…32).
        scale_head: one of :data:`SCALE_HEADS`.
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "flownet"

    def __init__(
        self,
        layers: Sequence[tuple[str, nn.Module, int]],
        deconv_widths: Sequence[int],
        scale_channels: int = 0,
        name: str = "custom",
        skips: Sequence[str] = SKIPS,
        scale_head: str = "conv",
    ) -> None:
        super().__init__()
        if scale_head not in SCALE_HEADS:
            raise ValueError(f"unknown scale head {scale_head!r}; choose one of {list(SCALE_HEADS)}")
        if len(deconv_widths) != len(skips):
            raise ValueError(f"need {len(skips)} deconvolution widths, got {len(deconv_widths)}")
        if scale_channels < 0:
            raise ValueError(f"scale_channels must be non-negative, got {scale_channels}")
        self.encoder = nn.ModuleDict({name: module for name, module, _ in layers})
        channels = {name: width for name, _, width in layers}
        missing = [name for name in skips if name not in channels]
        if missing:
            raise ValueError(f"the encoder lacks the skip layer(s) {missing}")
        self.predict, self.upsample_flow, self.deconv = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        width = layers[-1][2]
        for skip, deconv_width in zip(reversed(skips), deconv_widths):
            self.predict.append(nn.Conv2d(width, 2, 3, padding=1))
            self.upsample_flow.append(nn.ConvTranspose2d(2, 2, 4, 2, 1))
            self.deconv.append(
                nn.Sequential(nn.ConvTranspose2d(width, deconv_width, 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE))
            )
            width = channels[skip] + deconv_width + 2
        pooled = scale_head == "pooled"
        self.head = nn.Conv2d(width, 2 + (0 if pooled else scale_channels), 3, padding=1)
        self.scale = nn.Conv2d(width, scale_channels, 1) if pooled and scale_channels else None
        with torch.no_grad():  # S ≡ 1 before training
            self.head.weight[2:].zero_()
            self.head.bias[2:].fill_(1.0)
            if self.scale is not None:
                self.scale.weight.zero_()
                self.scale.bias.fill_(1.0)
        self.scale_channels = scale_channels
        self.scale_head = scale_head
        self.name = name
        self.skips = tuple(skips)

    @overload
    def forward(self, current: torch.Tensor, key: torch.Tensor, pyramid: Literal[False] = False) -> FlowEstimate: ...

    @overload
    def forward(self, current: torch.Tensor, key: torch.Tensor, pyramid: Literal[True]) -> list[torch.Tensor]: ...

    def forward(
        self, current: torch.Tensor, key: torch.Tensor, pyramid: bool = False
    ) -> FlowEstimate | list[torch.Tensor]:
        """Flow from ``current`` to ``key`` (both ``B × 3 × H × W`` in [0, 1]) at ``⌈⌈H/2⌉/4⌉ × ⌈⌈W/2⌉/4⌉``.

        With ``pyramid=True`` it returns every flow the decoder predicts instead, coarse to fine
        (strides 128, 64, 32, 16 of the frame, then F's own flow at stride 8), for FlowNet's
        multi-scale loss; each is read as pixels of its own grid.
        """
        if current.dim() != 4 or current.shape[1] != 3 or current.shape != key.shape:
            raise ValueError(
                f"expected two B×3×H×W frames of one shape, got {tuple(current.shape)} and {tuple(key.shape)}"
            )
        x = F.avg_pool2d(torch.cat([current, key], 1), 2, ceil_mode=True)
        skips = {}
        for name, layer in self.encoder.items():
            x = layer(x)
            if name in self.skips:
                skips[name] = x
        coarse = []
        levels = zip(self.predict, self.upsample_flow, self.deconv, reversed(self.skips))
        for predict, upsample_flow, deconv, name in levels:
            skip = skips[name]
            size = skip.shape[-2:]
            coarse.append(predict(x))
            x = torch.cat([skip, _crop(deconv(x), size), _crop(upsample_flow(coarse[-1]), size)], 1)
        out = self.head(x)
        if pyramid:
            return [*coarse, out[:, :2]]
        if self.scale is not None:
            return FlowEstimate(out, self.scale(F.avg_pool2d(x, 2, ceil_mode=True)))
        return FlowEstimate(out[:, :2], out[:, 2:] if self.scale_channels else None)


def _simple_layers(divisor: int) -> list[tuple[str, nn.Module, int]]:
    layers, width = [], 6
    for name, kernel, stride, channels in SIMPLE_LAYERS:
        layers.append((name, _conv(width, channels // divisor, kernel, stride), channels // divisor))
        width = channels // divisor
    return layers


def _inception_layers() -> list[tuple[str, nn.Module, int]]:
    layers: list[tuple[str, nn.Module, int]] = []
    width = 6
    for name, kind, stride, channels, one, double, triple, pool in INCEPTION_TABLE:
        if kind == "maxpool":
            module: nn.Module = nn.MaxPool2d(3, stride, 1)
        elif kind in ("conv7", "conv3"):
            module = _conv(width, channels, int(kind[-1]), stride)
        else:
            module = InceptionBlock(width, one, double, triple, pool, stride)
            if module.out_channels != channels:
                raise ValueError(f"{name}: branches give {module.out_channels} channels, the table {channels}")
        layers.append((name, module, channels))
        width = channels
    return layers


def build_flownet(name: str = "simple", scale_channels: int = 0, scale_head: str = "conv") -> FlowNet:
    """One of :data:`FLOWNETS` (randomly initialised), optionally predicting a scale field of ``scale_channels``
    with one of :data:`SCALE_HEADS`."""
    if name == "simple":
        return FlowNet(_simple_layers(1), SIMPLE_DECONV, scale_channels, name, scale_head=scale_head)
    if name == "half":
        return FlowNet(_simple_layers(2), [w // 2 for w in SIMPLE_DECONV], scale_channels, name, scale_head=scale_head)
    if name == "inception":
        return FlowNet(_inception_layers(), INCEPTION_DECONV, scale_channels, name, INCEPTION_SKIPS, scale_head)
    raise ValueError(f"unknown flow network {name!r}; choose one of {list(FLOWNETS)}")


def _upgrade(meta: dict[str, str]) -> ModelHeader:
    """The header of a flow-network file written before the v1 model file (``semvis.flownet``)."""
    old = json.loads(meta["semvis.flownet"])
    config = {"name": old["name"], "scale_channels": old["scale_channels"]}
    return ModelHeader(FlowNet.kind, config, provenance=old.get("notes") or {})


register_model(FlowNet.kind, build_flownet)
register_legacy_header("semvis.flownet", _upgrade)
