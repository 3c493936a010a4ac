"""Datasets: folders of classes and CamVid-style segmentation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from semvis.data.images import IMAGE_EXTENSIONS, image_to_tensor, list_images, load_image, load_label
from semvis.data.labels import DEFAULT_IGNORE_INDEX, LabelSpec
from semvis.errors import DataError
from semvis.paths import data_root

#: PASCAL VOC 2012's segmentation classes, index order.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

PathLike = str | os.PathLike[str]
JointTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def shared_dataset(name: str) -> Path:
    """The folder of shared dataset ``name`` under ``$SEMVIS_DATA``; DataError when absent."""
    path = data_root() / name
    if not path.is_dir():
        raise DataError(f"{path}: dataset {name!r} not found (set SEMVIS_DATA to the shared data folder)")
    return path


def voc_palette(count: int) -> list[tuple[int, int, int]]:
    """VOC's label colours: the bits of index ``i`` spread over the high bits of R, G and B."""
    colors = []
    for i in range(count):
        r = g = b = 0
        for shift in range(8):
            r |= ((i >> (3 * shift)) & 1) << (7 - shift)
            g |= ((i >> (3 * shift + 1)) & 1) << (7 - shift)
            b |= ((i >> (3 * shift + 2)) & 1) << (7 - shift)
        colors.append((r, g, b))
    return colors


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise DataError(f"{path}: {what} not found")


class ImageFolderDataset(Dataset):
    """Classification dataset laid out as ``root/<class>/<image>``.

    With ``list_file``, only the images it lists (one path relative to ``root`` per line,
    class = first path component) are used; class indices still cover every class folder,
    so different list files of one root agree. Items are ``(transform(image), class_index)``
    where the transform receives an RGB Pillow image (default: :func:`image_to_tensor`).
    """

    def __init__(
        self,
        root: PathLike,
        transform: Callable[[Image.Image], object] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        list_file: PathLike | None = None,
    ) -> None:
        self.root = Path(root)
        _require_dir(self.root, "dataset folder")
        self.transform = transform or image_to_tensor
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        if list_file is None:
            self.samples = [
                (path, i) for i, name in enumerate(self.classes) for path in list_images(self.root / name, extensions)
            ]
        else:
            self.samples = self._read_list(Path(list_file))
        if not self.samples:
            raise DataError(f"{self.root}: no images ({', '.join(extensions)}) found in class folders")

    def _read_list(self, list_file: Path) -> list[tuple[Path, int]]:
        if not list_file.is_file():
            raise DataError(f"{list_file}: list file not found")
        samples = []
        for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
            rel = line.strip()
            if not rel:
                continue
            path = self.root / rel
            cls = Path(rel).parts[0]
            if cls not in self.class_to_idx or not path.is_file():
                raise DataError(f"{list_file}: line {lineno} names {rel!r}, which is not an image in a class folder")
            samples.append((path, self.class_to_idx[cls]))
        return samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[object, int]:
        path, target = self.samples[index]
        return self.transform(load_image(path)), target


class SegmentationDataset(Dataset):
    """CamVid layout: ``root/<split>/images/X.jpg`` with ``root/<split>/labels/X.png``.

    Labels hold one uint8 class index per pixel. ``root/classes.json`` (optional) gives
    ``classes``, ``colors`` and ``ignore_index`` (default 255). Items are
    ``(image float 3×H×W in [0, 1], label int64 H×W)``, passed through ``transform(image, label)``.

    The PASCAL VOC layout is read too (``root`` = the ``VOC2012`` folder): the ids of
    ``ImageSets/Segmentation/<split>.txt``, images ``JPEGImages/<id>.jpg``, labels
    ``SegmentationClass/<id>.png`` (palette PNGs whose indices are the classes). Without a
    ``classes.json`` it gets VOC's 21 classes and palette, 255 (object borders) ignored.
    """

    def __init__(self, root: PathLike, split: str, transform: JointTransform | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.transform = transform
        self.classes, self.colors, self.ignore_index = self._read_classes(self.root / "classes.json")
        voc_list = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        self.samples = self._voc_samples(voc_list) if voc_list.is_file() else self._camvid_samples(split)
        if voc_list.is_file() and not self.classes:
            self.classes, self.colors = list(VOC_CLASSES), voc_palette(len(VOC_CLASSES))

    @property
    def labels(self) -> LabelSpec:
        """The dataset's classes, colours and ignored value, as a model trained on it records them."""
        return LabelSpec(tuple(self.classes), tuple(self.colors), self.ignore_index)

    def _camvid_samples(self, split: str) -> list[tuple[Path, Path]]:
        split_dir = self.root / split
        _require_dir(split_dir, f"split {split!r}")
        _require_dir(split_dir / "images", "images folder")
        _require_dir(split_dir / "labels", "labels folder")
        samples = []
        images = split_dir / "images"
        for image in list_images(images):
            label = split_dir / "labels" / image.relative_to(images).with_suffix(".png")
            if not label.is_file():
                raise DataError(f"{image}: image has no label file (expected {label})")
            samples.append((image, label))
        if not samples:
            raise DataError(f"{images}: split {split!r} holds no images")
        return samples

    def _voc_samples(self, list_file: Path) -> list[tuple[Path, Path]]:
        samples = []
        for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
            name = line.strip()
            if not name:
                continue
            image = self.root / "JPEGImages" / f"{name}.jpg"
            label = self.root / "SegmentationClass" / f"{name}.png"
            if not image.is_file() or not label.is_file():
                raise DataError(f"{list_file}: line {lineno} names {name!r}, which lacks {image.name} or {label.name}")
            samples.append((image, label))
        if not samples:
            raise DataError(f"{list_file}: split {self.split!r} lists no images")
        return samples

    @staticmethod
    def _read_classes(path: Path) -> tuple[list[str], list[tuple[int, int, int]], int]:
        if not path.is_file():
            return [], [], DEFAULT_IGNORE_INDEX
        try:
            spec = json.loads(path.read_text())
            classes = [str(c) for c in spec["classes"]]
            colors = [(int(r), int(g), int(b)) for r, g, b in spec.get("colors", [])]
            ignore = int(spec.get("ignore_index", DEFAULT_IGNORE_INDEX))
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}: malformed class list ({type(e).__name__}: {e})") from None
        if colors and len(colors) != len(classes):
            raise DataError(f"{path}: {len(classes)} classes but {len(colors)} colors")
        return classes, colors, ignore

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, label_path = self.samples[index]
        image = image_to_tensor(load_image(image_path))
        label = torch.from_numpy(load_label(label_path)).long()
        if label.shape != image.shape[1:]:
            raise DataError(
                f"{label_path}: label is {label.shape[1]}x{label.shape[0]} "
                f"but its image is {image.shape[2]}x{image.shape[1]}"
            )
        return self.transform(image, label) if self.transform else (image, label)
