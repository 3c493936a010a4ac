"""A small-scale training cache: colour photos resized once, each with its label map predicted once.

The segmenter (a frozen VGG-19 PSPNet) costs far more than a colorizer step on a CPU, so every photo
is shrunk to a short side of ``short`` pixels and segmented a single time; the cache holds uint8
RGB and uint8 labels, written in chunks (``<name>-NNN.pt``) so an interrupted run resumes where it
stopped. :class:`CachedPhotos` serves random crops of it to :class:`~semvis.colorize.data.ColorizationDataset`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from semvis.colorize.data import Pair, Segmenter
from semvis.data import image_to_tensor, list_images, load_image, load_label
from semvis.data.transforms import resize_pair, short_side_size
from semvis.errors import DataError

log = logging.getLogger("semvis.colorize")
CHUNK = 100
#: Every ``HOLDOUT_EVERY``-th photo of a sorted folder is kept out of training (see :func:`split_holdout`).
HOLDOUT_EVERY = 10


def split_holdout(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(training, held-out) files: every :data:`HOLDOUT_EVERY`-th of the sorted list (from the first) is held out."""
    ordered = sorted(files)
    held = ordered[::HOLDOUT_EVERY]
    return [f for i, f in enumerate(ordered) if i % HOLDOUT_EVERY], held


def shrink(image: torch.Tensor, label: torch.Tensor, short: int) -> Pair:
    """Resize an (image, labels) pair so that its shorter side is ``short`` (never enlarging)."""
    h, w = image.shape[1:]
    if min(h, w) <= short:
        return image, label
    return resize_pair(image, label, short_side_size(h, w, short))


def build_cache(
    files: Sequence[Path],
    out_dir: str | os.PathLike[str],
    name: str,
    segmenter: Segmenter | None,
    short: int,
    label_files: Sequence[Path] | None = None,
) -> list[Path]:
    """Cache ``files`` under ``out_dir`` as chunks ``name-NNN.pt``; existing chunks are kept (resume).

    Labels come from ``label_files`` (ground truth, e.g. CamVid) or from ``segmenter`` run on the
    shrunk photo. Returns the chunk paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chunks = []
    for start in range(0, len(files), CHUNK):
        path = out / f"{name}-{start // CHUNK:03d}.pt"
        chunks.append(path)
        if path.is_file():
            continue
        images, labels = [], []
        for i in range(start, min(start + CHUNK, len(files))):
            rgb = image_to_tensor(load_image(files[i]).convert("RGB"))
            if label_files is not None:
                given = torch.from_numpy(load_label(label_files[i])).long()
                rgb, label = shrink(rgb, given, short)
            else:
                if segmenter is None:
                    raise ValueError("build_cache needs label_files or a segmenter")
                rgb = shrink(rgb, torch.zeros(rgb.shape[1:], dtype=torch.long), short)[0]
                with torch.no_grad():
                    label = segmenter(rgb)
            images.append((rgb * 255).round().to(torch.uint8))
            labels.append(label.to(torch.uint8))
        tmp = path.with_suffix(".tmp")
        torch.save({"images": images, "labels": labels, "files": [str(f) for f in files[start : start + CHUNK]]}, tmp)
        tmp.replace(path)
        log.info("cached %s (%d images)", path, len(images))
    return chunks


class CachedPhotos(Dataset):
    """(RGB 3×h×w in [0, 1], labels h×w) pairs from every ``*.pt`` chunk under ``folder``, through ``transform``.

    ``epoch_size``: an epoch is that many photos drawn at random (with replacement, torch's global
    generator) instead of every photo once, so that a CPU run checkpoints often.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        transform: Callable[[torch.Tensor, torch.Tensor], Pair] | None = None,
        epoch_size: int | None = None,
    ) -> None:
        chunks = sorted(Path(folder).glob("*.pt"))
        if not chunks:
            raise DataError(f"{folder}: no cache chunks (*.pt) found")
        self.images: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        for chunk in chunks:
            data = torch.load(chunk, weights_only=True)
            self.images += data["images"]
            self.labels += data["labels"]
        self.transform = transform
        self.epoch_size = epoch_size

    def __len__(self) -> int:
        return self.epoch_size or len(self.images)

    def __getitem__(self, index: int) -> Pair:
        if self.epoch_size:
            index = int(torch.randint(len(self.images), ()))
        image, label = self.images[index].float() / 255, self.labels[index].long()
        return self.transform(image, label) if self.transform else (image, label)


def caltech_colour(root: Path, per_class: int) -> list[Path]:
    """The first ``per_class`` colour (RGB-mode) images of each Caltech-101 class folder."""
    from PIL import Image

    chosen = []
    for folder in sorted(p for p in (root / "images").iterdir() if p.is_dir()):
        picked = 0
        for path in list_images(folder):
            if picked == per_class:
                break
            with Image.open(path) as img:
                if img.mode == "RGB":
                    chosen.append(path)
                    picked += 1
    return chosen


def build_training_cache(
    data: Path,
    out_dir: str | os.PathLike[str],
    segmenter: Segmenter,
    segmenter_file: Path,
    num_classes: int,
    short: int,
) -> dict:
    """The diverse training set of docs/colorize.md under ``out_dir``, built or resumed; returns its manifest.

    ``data`` is the shared data root: CamVid train (ground-truth maps), the photos of
    ``photos/images`` outside the held-out slice (:func:`split_holdout`), every 8th DAVIS frame and
    3 colour images per Caltech-101 class, the last three labelled by ``segmenter``.
    """
    camvid = sorted((data / "camvid/train/images").glob("*.jpg"))
    build_cache(
        camvid, out_dir, "camvid", None, short, [data / "camvid/train/labels" / f"{p.stem}.png" for p in camvid]
    )
    photos, held = split_holdout(list_images(data / "photos/images"))
    build_cache(photos, out_dir, "photos", segmenter, short)
    davis = [f for seq in sorted((data / "davis").iterdir()) if seq.is_dir() for f in list_images(seq / "frames")[::8]]
    build_cache(davis, out_dir, "davis", segmenter, short)
    caltech = caltech_colour(data / "caltech101", 3)
    build_cache(caltech, out_dir, "caltech", segmenter, short)
    info = {
        "short_side": short,
        "num_classes": num_classes,
        "segmenter": segmenter_file.name,
        "segmenter_sha256": hashlib.sha256(segmenter_file.read_bytes()).hexdigest(),
        "images": {"camvid_train": len(camvid), "photos": len(photos), "davis": len(davis), "caltech": len(caltech)},
        "photos_held_out": len(held),
    }
    (Path(out_dir) / "manifest.json").write_text(json.dumps(info, indent=1) + "\n")
    return info
