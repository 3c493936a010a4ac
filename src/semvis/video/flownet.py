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
inception  Inception-style blocks at the same strides ("FlowNet Inception", Table 8); see
           :class:`InceptionBlock` and ``INCEPTION_LAYERS`` — our own widths, chosen so that
           its FLOPs are about 1/8 of ``simple``'s, the figure §4 gives
========== ===================================================================================

Sources: Appendix A's Tables 6–8 could not be retrieved. The ``simple`` layers and the decoder
follow the FlowNetS layer names and the flow network of the official code (msracver/
Deep-Feature-Flow, ``get_flownet``); ``half`` follows §4's one-sentence description; the
``inception`` design is ours and is a stand-in for Table 8, not a reproduction of it.

Every convolution except the flow predictors is followed by a leaky ReLU of slope 0.1 and
has a bias, as in FlowNetS. The decoder is FlowNetS' refinement: from the coarsest level
(conv6_1, stride 64) down to conv2 (stride 4), each step predicts a flow (3×3 conv → 2),
upsamples it (4×4/2 transposed conv, 2 → 2), upsamples the features (4×4/2 transposed conv +
leaky ReLU) and concatenates both with the encoder's skip feature; transposed outputs are
cropped to the skip's size, so any input size works. The last layer is a 3×3 conv on the
conv2-level concatenation that outputs 2 flow channels plus ``scale_channels`` channels of
the scale field S (DFF §3), whose weights start at 0 and biases at 1, so S ≡ 1 before
training. (The official code differs here: it average-pools that concatenation to the feature
stride first and predicts S with a separate 1×1 convolution, which costs far less.)

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
from typing import NamedTuple

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
#: FlowNet Inception (our reading): (name, stride, channels); conv1 is a 7×7/2 convolution,
#: every other entry an :class:`InceptionBlock`.
INCEPTION_LAYERS = (
    ("conv1", 2, 32),
    ("conv2", 2, 64),
    ("conv3", 2, 128),
    ("conv3_1", 1, 128),
    ("conv4", 2, 256),
    ("conv4_1", 1, 256),
    ("conv5", 2, 256),
    ("conv5_1", 1, 256),
    ("conv6", 2, 512),
    ("conv6_1", 1, 512),
)
INCEPTION_DECONV = (128, 64, 32, 16)
#: Encoder outputs the decoder concatenates, fine to coarse; the last encoder layer starts it.
SKIPS = ("conv2", "conv3_1", "conv4_1", "conv5_1")
FLOWNETS = ("simple", "half", "inception")


class FlowEstimate(NamedTuple):
    """A flow function's output: ``B × 2 × h × w`` flow in pixels of its own grid, and the
    ``B × C × h × w`` scale field S (``None`` when the flow function predicts none)."""

    flow: torch.Tensor
    scale: torch.Tensor | None


def resize_flow(flow: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a ``B × 2 × h × w`` flow to ``size = (H, W)``, scaling u by ``W / w`` and v by ``H / h``.

    The vectors stay in pixels of the grid they are on: 8 px on a stride-4 grid become 2 px on
    the stride-16 grid of the same image. With ``align_corners=False`` pixel centres map by
    ``x' + ½ = (x + ½)·W/w``, so a displacement maps by the same factor.
    """
    h, w = flow.shape[-2:]
    height, width = size
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    factor = torch.tensor([width / w, height / h], dtype=flow.dtype, device=flow.device)
    return resized * factor.view(1, 2, 1, 1)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """FlowNetS' unit: convolution with 'same' padding → leaky ReLU 0.1."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2), nn.LeakyReLU(LEAKY_SLOPE))


class InceptionBlock(nn.Module):
    """Three branches concatenated (Szegedy et al. 2015/2016), each conv followed by leaky ReLU 0.1.

    Output ``C`` channels: ``C/4`` from a 1×1 conv, ``C/2`` from 1×1 (``C/4``) → 3×3, ``C/4``
    from 1×1 (``C/8``) → 3×3 → 3×3. With ``stride=2`` (a reduction block) the last conv of
    each branch has stride 2, the first branch's becoming a 3×3 so that it sees every pixel.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if out_channels % 8:
            raise ValueError(f"out_channels must be a multiple of 8, got {out_channels}")
        quarter, eighth = out_channels // 4, out_channels // 8
        self.branch1 = _conv(in_channels, quarter, 1 if stride == 1 else 3, stride)
        self.branch2 = nn.Sequential(_conv(in_channels, quarter, 1), _conv(quarter, 2 * quarter, 3, stride))
        self.branch3 = nn.Sequential(
            _conv(in_channels, eighth, 1), _conv(eighth, quarter, 3), _conv(quarter, quarter, 3, stride)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], 1)


def _crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return x[..., : size[0], : size[1]]


class FlowNet(nn.Module):
    """Encoder (named layers) → FlowNetS refinement → flow + scale field at stride 4 of the half-size input.

    Args:
        layers: ``(name, module, out_channels)`` in order; must include the :data:`SKIPS`
            names, and the last one starts the decoder.
        deconv_widths: widths of the four feature deconvolutions, coarse to fine.
        scale_channels: channels of the scale field S (the feature channels of N_feat; 0: none).
        name: what :func:`build_flownet` calls this design (saved with the weights).
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "flownet"

    def __init__(
        self,
        layers: Sequence[tuple[str, nn.Module, int]],
        deconv_widths: Sequence[int],
        scale_channels: int = 0,
        name: str = "custom",
    ) -> None:
        super().__init__()
        if len(deconv_widths) != len(SKIPS):
            raise ValueError(f"need {len(SKIPS)} deconvolution widths, got {len(deconv_widths)}")
        if scale_channels < 0:
            raise ValueError(f"scale_channels must be non-negative, got {scale_channels}")
        self.encoder = nn.ModuleDict({name: module for name, module, _ in layers})
        channels = {name: width for name, _, width in layers}
        missing = [name for name in SKIPS if name not in channels]
        if missing:
            raise ValueError(f"the encoder lacks the skip layer(s) {missing}")
        self.predict, self.upsample_flow, self.deconv = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        width = layers[-1][2]
        for skip, deconv_width in zip(reversed(SKIPS), deconv_widths):
            self.predict.append(nn.Conv2d(width, 2, 3, padding=1))
            self.upsample_flow.append(nn.ConvTranspose2d(2, 2, 4, 2, 1))
            self.deconv.append(
                nn.Sequential(nn.ConvTranspose2d(width, deconv_width, 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE))
            )
            width = channels[skip] + deconv_width + 2
        self.head = nn.Conv2d(width, 2 + scale_channels, 3, padding=1)
        with torch.no_grad():
            self.head.weight[2:].zero_()
            self.head.bias[2:].fill_(1.0)
        self.scale_channels = scale_channels
        self.name = name

    def forward(self, current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
        """Flow from ``current`` to ``key`` (both ``B × 3 × H × W`` in [0, 1]) at ``⌈⌈H/2⌉/4⌉ × ⌈⌈W/2⌉/4⌉``."""
        if current.dim() != 4 or current.shape[1] != 3 or current.shape != key.shape:
            raise ValueError(
                f"expected two B×3×H×W frames of one shape, got {tuple(current.shape)} and {tuple(key.shape)}"
            )
        x = F.avg_pool2d(torch.cat([current, key], 1), 2, ceil_mode=True)
        skips = {}
        for name, layer in self.encoder.items():
            x = layer(x)
            if name in SKIPS:
                skips[name] = x
        for predict, upsample_flow, deconv, name in zip(self.predict, self.upsample_flow, self.deconv, reversed(SKIPS)):
            skip = skips[name]
            size = skip.shape[-2:]
            x = torch.cat([skip, _crop(deconv(x), size), _crop(upsample_flow(predict(x)), size)], 1)
        out = self.head(x)
        return FlowEstimate(out[:, :2], out[:, 2:] if self.scale_channels else None)


def _simple_layers(divisor: int) -> list[tuple[str, nn.Module, int]]:
    layers, width = [], 6
    for name, kernel, stride, channels in SIMPLE_LAYERS:
        layers.append((name, _conv(width, channels // divisor, kernel, stride), channels // divisor))
        width = channels // divisor
    return layers


def _inception_layers() -> list[tuple[str, nn.Module, int]]:
    (name, stride, width), *blocks = INCEPTION_LAYERS
    layers = [(name, _conv(6, width, 7, stride), width)]
    for name, stride, channels in blocks:
        layers.append((name, InceptionBlock(width, channels, stride), channels))
        width = channels
    return layers


def build_flownet(name: str = "simple", scale_channels: int = 0) -> FlowNet:
    """One of :data:`FLOWNETS` (randomly initialised), optionally predicting a scale field of ``scale_channels``."""
    if name == "simple":
        return FlowNet(_simple_layers(1), SIMPLE_DECONV, scale_channels, name)
    if name == "half":
        return FlowNet(_simple_layers(2), [w // 2 for w in SIMPLE_DECONV], scale_channels, name)
    if name == "inception":
        return FlowNet(_inception_layers(), INCEPTION_DECONV, scale_channels, name)
    raise ValueError(f"unknown flow network {name!r}; choose one of {list(FLOWNETS)}")


def _upgrade(meta: dict[str, str]) -> ModelHeader:
    """The header of a flow-network file written before the v1 model file (``semvis.flownet``)."""
    old = json.loads(meta["semvis.flownet"])
    config = {"name": old["name"], "scale_channels": old["scale_channels"]}
    return ModelHeader(FlowNet.kind, config, provenance=old.get("notes") or {})


register_model(FlowNet.kind, build_flownet)
register_legacy_header("semvis.flownet", _upgrade)
