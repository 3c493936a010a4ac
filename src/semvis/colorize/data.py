"""Training samples (L, S, ab): CamVid images with their labels, or photos with a segmenter's maps."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from semvis.colorize.lab import rgb_to_lab
from semvis.data import IMAGE_EXTENSIONS, SegmentationDataset, image_to_tensor, list_images, load_image
from semvis.errors import DataError

#: ``segmenter(rgb 3×H×W in [0, 1]) -> labels H×W``: any segmentation model wrapped as a function.
Segmenter = Callable[[torch.Tensor], torch.Tensor]
Pair = tuple[torch.Tensor, torch.Tensor]


def resize_pair(image: torch.Tensor, label: torch.Tensor, size: tuple[int, int]) -> Pair:
    """Image bilinear (antialiased, clamped to [0, 1]), labels nearest, to ``size`` = (H, W)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image, label
    image = F.interpolate(image[None], size, mode="bilinear", align_corners=False, antialias=True)[0].clamp_(0, 1)
    label = F.interpolate(label[None, None].float(), size, mode="nearest-exact")[0, 0].to(label.dtype)
    return image, label


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(H, W) with the shorter side scaled to ``short``, keeping the aspect ratio."""
    scale = short / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


class ResizeCropFlip:
    """Seed §3 augmentation: shorter side → ``resize``, ``crop``×``crop`` crop, horizontal flip.

    Training draws the crop position and the flip (probability ½) from ``generator`` (torch's
    global generator by default); evaluation (``train=False``) takes the centre crop, unflipped.
    """

    def __init__(
        self, resize: int = 360, crop: int = 352, train: bool = True, generator: torch.Generator | None = None
    ) -> None:
        if not 0 < crop <= resize:
            raise ValueError(f"need 0 < crop <= resize, got crop={crop}, resize={resize}")
        self.resize, self.crop, self.train, self.generator = resize, crop, train, generator

    def _offset(self, room: int) -> int:
        if not self.train:
            return room // 2
        return int(torch.randint(room + 1, (), generator=self.generator))

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> Pair:
        image, label = resize_pair(image, label, short_side_size(*image.shape[-2:], self.resize))
        top = self._offset(image.shape[-2] - self.crop)
        left = self._offset(image.shape[-1] - self.crop)
        image = image[:, top : top + self.crop, left : left + self.crop]
        label = label[top : top + self.crop, left : left + self.crop]
        if self.train and float(torch.rand((), generator=self.generator)) < 0.5:
            image, label = image.flip(-1), label.flip(-1)
        return image, label


class ColorizationDataset(Dataset):
    """Turns any dataset of (RGB 3×H×W in [0, 1], labels H×W) into (L 1×H×W, labels, ab 2×H×W), scaled Lab."""

    def __init__(self, pairs: Dataset) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, label = self.pairs[index]
        lab = rgb_to_lab(image)
        return lab[:1], label, lab[1:]


class SegmentedPhotos(Dataset):
    """Colour photos under ``folder`` (recursively), each labelled by ``segmenter`` on the full image.

    The map of each photo is predicted once and kept (uint8) for later epochs: the segmenter is the
    expensive part. With several loader workers each worker keeps its own copy.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        segmenter: Segmenter,
        transform: Callable[[torch.Tensor, torch.Tensor], Pair] | None = None,
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: photo folder not found")
        self.files = list_images(self.folder)
        if not self.files:
            raise DataError(f"{self.folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        self.segmenter = segmenter
        self.transform = transform
        self._maps: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Pair:
        image = image_to_tensor(load_image(self.files[index]))
        if index not in self._maps:
            with torch.no_grad():
                label = self.segmenter(image)
            size = tuple(image.shape[1:])
            if label.shape != size:
                raise DataError(f"{self.files[index]}: segmenter gave a {tuple(label.shape)} map for a {size} image")
            self._maps[index] = label.to(torch.uint8)
        label = self._maps[index].long()
        return self.transform(image, label) if self.transform else (image, label)


def camvid_colorization(
    root: str | os.PathLike[str], split: str, train: bool, resize: int = 360, crop: int = 352
) -> tuple[ColorizationDataset, int]:
    """(L, labels, ab) samples of a CamVid-layout split, and its class count (void = any other index)."""
    pairs = SegmentationDataset(root, split, ResizeCropFlip(resize, crop, train))
    if not pairs.classes:
        raise DataError(f"{root}: classes.json with the class names is needed to know the class count")
    return ColorizationDataset(pairs), len(pairs.classes)
