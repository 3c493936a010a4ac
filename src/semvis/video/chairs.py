"""Flying-Chairs-style training pairs with exact optical flow, made from ordinary photos.

Flying Chairs (Dosovitskiy et al. 2015), on which FlowNet is pre-trained, is not available here, so
pairs are synthesised the same way: a background photo and a few foreground patches cut from other
photos (elliptical masks), each layer moved from frame 1 to frame 2 by its own random affine motion.
Because every pixel of frame 1 belongs to one known layer, its flow is that layer's motion exactly:
``flow(p) = M_L(p) − p`` for the topmost layer L at p, in the convention of :mod:`semvis.nn.warp`
(``frame1(p) ≈ frame2(p + flow(p))``; occluded and out-of-frame pixels excepted). Layers are
rendered with kornia's ``warp_affine`` (bilinear).

Motion ranges (our choice, milder than Flying Chairs' so that stride-4 FlowNets at half resolution
see plausible video motion): background shift ±10 px, rotation ±5°, scale 0.93–1.07; objects
shift ±15 px, rotation ±10°, scale 0.9–1.1, one to three objects of 20–45 % of the frame side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.geometry.transform import warp_affine
from torch.utils.data import Dataset

from semvis.data import IMAGE_EXTENSIONS, image_to_tensor, list_images, load_image
from semvis.errors import DataError

Size = tuple[int, int]  # (H, W)


@dataclass(frozen=True)
class Motion:
    """Ranges of a layer's random affine motion: ± shift (px), ± rotation (degrees), scale interval."""

    shift: float
    degrees: float
    scale: tuple[float, float]


BACKGROUND = Motion(10.0, 5.0, (0.93, 1.07))
OBJECT = Motion(15.0, 10.0, (0.9, 1.1))


@dataclass(frozen=True)
class FlowPair:
    """Two RGB frames (3×H×W in [0, 1]) and the exact flow from frame 1 to frame 2 (2×H×W, pixels)."""

    frame1: torch.Tensor
    frame2: torch.Tensor
    flow: torch.Tensor


def affine(angle: float, scale: float, shift: tuple[float, float], center: tuple[float, float]) -> torch.Tensor:
    """The 2×3 matrix rotating by ``angle`` degrees and scaling about ``center`` (x, y), then shifting."""
    cos, sin = math.cos(math.radians(angle)) * scale, math.sin(math.radians(angle)) * scale
    cx, cy = center
    return torch.tensor(
        [[cos, -sin, cx - cos * cx + sin * cy + shift[0]], [sin, cos, cy - sin * cx - cos * cy + shift[1]]]
    )


def compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The 2×3 affine ``outer ∘ inner``."""
    bottom = torch.tensor([[0.0, 0.0, 1.0]])
    return (torch.cat([outer, bottom]) @ torch.cat([inner, bottom]))[:2]


def affine_flow(motion: torch.Tensor, size: Size) -> torch.Tensor:
    """``M(p) − p`` for every pixel ``p = (x, y)`` of an H×W frame: the 2×H×W flow of an affine motion."""
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    points = torch.stack([xs, ys, torch.ones_like(xs)])  # 3×H×W
    return torch.einsum("ij,jhw->ihw", motion, points) - points[:2]


def _random_motion(ranges: Motion, center: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(4, generator=generator).tolist()
    low, high = ranges.scale
    shift = (ranges.shift * (2 * u[0] - 1), ranges.shift * (2 * u[1] - 1))
    return affine(ranges.degrees * (2 * u[2] - 1), low + (high - low) * u[3], shift, center)


def _ellipse(h: int, w: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return (xs**2 + ys**2 <= 1.0).float()[None]


def _patch(photo: torch.Tensor, size: Size, generator: torch.Generator) -> torch.Tensor:
    """A random crop of ``photo`` resized to ``size`` (the crop keeps the target's aspect ratio)."""
    h, w = photo.shape[-2:]
    scale = min(h / size[0], w / size[1]) * (0.5 + 0.5 * float(torch.rand((), generator=generator)))
    ch, cw = max(1, int(size[0] * scale)), max(1, int(size[1] * scale))
    top = int(torch.randint(h - ch + 1, (), generator=generator))
    left = int(torch.randint(w - cw + 1, (), generator=generator))
    crop = photo[None, :, top : top + ch, left : left + cw]
    return F.interpolate(crop, size, mode="bilinear", align_corners=False, antialias=True)[0]


def synthetic_pair(
    photos: Sequence[torch.Tensor], size: Size, generator: torch.Generator, objects: tuple[int, int] = (1, 3)
) -> FlowPair:
    """One pair from ``photos`` (RGB 3×h×w in [0, 1]; the first a background, any as objects), see the module doc."""
    if not photos:
        raise ValueError("need at least one photo")
    h, w = size
    pick = lambda: photos[int(torch.randint(len(photos), (), generator=generator))]  # noqa: E731
    layers = [(_patch(pick(), size, generator), torch.ones(1, h, w), torch.eye(2, 3), BACKGROUND)]
    count = int(torch.randint(objects[0], objects[1] + 1, (), generator=generator))
    for _ in range(count):
        side = min(h, w) * (0.2 + 0.25 * float(torch.rand((), generator=generator)))
        ph, pw = max(2, int(side * (0.7 + 0.6 * float(torch.rand((), generator=generator))))), max(2, int(side))
        x = float(torch.rand((), generator=generator)) * (w - pw)
        y = float(torch.rand((), generator=generator)) * (h - ph)
        layers.append((_patch(pick(), (ph, pw), generator), _ellipse(ph, pw), affine(0, 1, (x, y), (0, 0)), OBJECT))
    frames = [torch.zeros(3, h, w), torch.zeros(3, h, w)]
    flow = torch.zeros(2, h, w)
    for image, alpha, placement, ranges in layers:
        layer_center = tuple(
            float(v) for v in placement @ torch.tensor([alpha.shape[-1] / 2, alpha.shape[-2] / 2, 1.0])
        )
        motion = _random_motion(ranges, layer_center, generator)  # frame 1 → frame 2, about the layer's centre
        for index, matrix in enumerate((placement, compose(motion, placement))):
            warped = warp_affine(torch.cat([image, alpha])[None], matrix[None], (h, w), align_corners=True)[0]
            a = warped[3:]
            frames[index] = frames[index] * (1 - a) + warped[:3] * a
            if index == 0:
                flow = torch.where(a > 0.5, affine_flow(motion, size), flow)
    return FlowPair(frames[0].clamp(0, 1), frames[1].clamp(0, 1), flow)


class SyntheticPairs(Dataset):
    """``length`` :func:`synthetic_pair` samples from the photos under ``folder``; item i is the same on every call."""

    def __init__(self, folder: str | Path, size: Size, length: int, seed: int = 0) -> None:
        folder = Path(folder)
        files = list_images(folder)
        if not files:
            raise DataError(f"{folder}: no photos ({', '.join(IMAGE_EXTENSIONS)}) to make flow pairs from")
        self.photos = [image_to_tensor(load_image(p)) for p in files]
        self.size, self.length, self.seed = size, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"pair {index} of {self.length}")  # also ends iteration over the dataset
        pair = synthetic_pair(self.photos, self.size, torch.Generator().manual_seed(self.seed * 1_000_003 + index))
        return pair.frame1, pair.frame2, pair.flow
