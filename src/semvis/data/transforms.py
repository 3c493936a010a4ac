"""Joint image/label transforms: whatever moves the pixels of an image moves its label map too.

Images are ``C×H×W`` tensors in [0, 1] (any channels: RGB, gray, cached feature maps) and
labels ``H×W`` integer maps; sizes are ``(height, width)``. Images are resized bilinearly
with antialiasing and clamped to [0, 1], labels by nearest neighbour, so no label value is
ever invented. Random draws come from an optional ``torch.Generator`` (torch's global one by
default), in a fixed order, so a seeded generator reproduces a sequence of samples.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from semvis.data.labels import DEFAULT_IGNORE_INDEX

Pair = tuple[torch.Tensor, torch.Tensor]
Size = tuple[int, int]
LabelMode = Literal["nearest-exact", "nearest"]


def scaled_size(height: int, width: int, scale: float) -> Size:
    """``(H, W)`` times ``scale``, rounded, at least one pixel each."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def short_side_size(height: int, width: int, short: int) -> Size:
    """``(H, W)`` with the shorter side scaled to ``short``, keeping the aspect ratio."""
    return scaled_size(height, width, short / min(height, width))


def resize_pair(image: torch.Tensor, label: torch.Tensor, size: Size, label_mode: LabelMode = "nearest-exact") -> Pair:
    """Both to ``size``: the image bilinear (antialiased, clamped to [0, 1]), the label nearest.

    ``label_mode`` is torch's nearest flavour: ``nearest-exact`` samples at pixel centres (aligned
    with the image), ``nearest`` at top-left corners. The label keeps its dtype; a pair already at
    ``size`` comes back unchanged.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image, label
    image = F.interpolate(image[None], size, mode="bilinear", align_corners=False, antialias=True)[0].clamp_(0, 1)
    label = F.interpolate(label[None, None].float(), size, mode=label_mode)[0, 0].to(label.dtype)
    return image, label


def resize_image_pair(image: Image.Image, label: np.ndarray, size: Size) -> tuple[Image.Image, np.ndarray]:
    """A Pillow image (bicubic) and its ``H×W`` label array (nearest) resized to ``size``."""
    height, width = size
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    resized = Image.fromarray(label).resize((width, height), Image.Resampling.NEAREST)
    return image, np.asarray(resized)


def pad_pair(image: torch.Tensor, label: torch.Tensor, size: Size, ignore_index: int = DEFAULT_IGNORE_INDEX) -> Pair:
    """Pad the bottom and right edges up to ``size`` (never shrinks): image with 0, label with ``ignore_index``."""
    pad_h, pad_w = max(0, size[0] - image.shape[-2]), max(0, size[1] - image.shape[-1])
    if not pad_h and not pad_w:
        return image, label
    return F.pad(image, (0, pad_w, 0, pad_h), value=0.0), F.pad(label, (0, pad_w, 0, pad_h), value=ignore_index)


def crop_pair(image: torch.Tensor, label: torch.Tensor, top: int, left: int, size: Size) -> Pair:
    """The ``size`` window whose top-left corner is ``(top, left)``, of both."""
    rows, cols = slice(top, top + size[0]), slice(left, left + size[1])
    return image[..., rows, cols], label[rows, cols]


def center_crop_pair(image: torch.Tensor, label: torch.Tensor, size: Size) -> Pair:
    """The centred ``size`` window of both (an odd leftover row or column goes to the bottom/right)."""
    return crop_pair(image, label, (image.shape[-2] - size[0]) // 2, (image.shape[-1] - size[1]) // 2, size)


def random_crop_pair(
    image: torch.Tensor, label: torch.Tensor, size: Size, generator: torch.Generator | None = None
) -> Pair:
    """A uniformly placed ``size`` window of both (top drawn first, then left)."""
    top = int(torch.randint(image.shape[-2] - size[0] + 1, (), generator=generator))
    left = int(torch.randint(image.shape[-1] - size[1] + 1, (), generator=generator))
    return crop_pair(image, label, top, left, size)


def random_flip_pair(image: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None = None) -> Pair:
    """Both mirrored left–right with probability ½ (one draw)."""
    if float(torch.rand((), generator=generator)) < 0.5:
        return image.flip(-1), label.flip(-1)
    return image, label


class RandomScaleCropFlip:
    """Joint augmentation: random rescale, pad-and-crop to ``crop_size`` and horizontal flip.

    The label padding uses ``ignore_index``. Pass a seeded ``torch.Generator`` for reproducible
    draws (in a single process; DataLoader workers would each copy it).
    """

    def __init__(
        self,
        crop_size: int | Size,
        scale: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        generator: torch.Generator | None = None,
    ) -> None:
        self.crop = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        self.scale = scale
        self.flip = flip
        self.ignore_index = ignore_index
        self.generator = generator

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> Pair:
        lo, hi = self.scale
        s = lo + (hi - lo) * float(torch.rand((), generator=self.generator))
        image, label = resize_pair(image, label, scaled_size(*image.shape[-2:], s))
        image, label = pad_pair(image, label, self.crop, self.ignore_index)
        image, label = random_crop_pair(image, label, self.crop, self.generator)
        return random_flip_pair(image, label, self.generator) if self.flip else (image, label)


class ResizeCropFlip:
    """Shorter side → ``resize``, ``crop``×``crop`` crop, horizontal flip (the colorization seed §3).

    Training draws the crop position and the flip (probability ½) from ``generator`` (torch's
    global generator by default); evaluation (``train=False``) takes the centre crop, unflipped.
    """

    def __init__(
        self, resize: int = 360, crop: int = 352, train: bool = True, generator: torch.Generator | None = None
    ) -> None:
        if not 0 < crop <= resize:
            raise ValueError(f"need 0 < crop <= resize, got crop={crop}, resize={resize}")
        self.resize, self.crop, self.train, self.generator = resize, crop, train, generator

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> Pair:
        image, label = resize_pair(image, label, short_side_size(*image.shape[-2:], self.resize))
        size = (self.crop, self.crop)
        if not self.train:
            return center_crop_pair(image, label, size)
        image, label = random_crop_pair(image, label, size, self.generator)
        return random_flip_pair(image, label, self.generator)
