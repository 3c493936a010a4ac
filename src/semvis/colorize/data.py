"""Training samples (L, S, ab): CamVid images with their labels, or photos with a segmenter's maps."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

from semvis.colorize.lab import rgb_to_lab
from semvis.data import IMAGE_EXTENSIONS, ResizeCropFlip, SegmentationDataset, image_to_tensor, list_images, load_image
from semvis.errors import DataError

#: ``segmenter(rgb 3×H×W in [0, 1]) -> labels H×W``: any segmentation model wrapped as a function.
Segmenter = Callable[[torch.Tensor], torch.Tensor]
Pair = tuple[torch.Tensor, torch.Tensor]


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
