"""The small video-detection sets: ``video_boxes`` (TinyTLP/OTB tracking clips) and DAVIS masks as boxes.

Each sequence is a list of frames with boxes ``x1, y1, x2, y2`` and class indices into
:data:`CLASSES`. DAVIS gives one box per frame, the tight box around the foreground mask, with
the class of its sequence (``../shared/data/README.md``); the three DAVIS sequences whose class
is not one of ours (blackswan, dog, horsejump-high) are left out. The split is by sequence
(:data:`TEST_SEQUENCES`); motorcycle has a single sequence, so it is trained on and not measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from semvis.data import image_to_tensor, load_image
from semvis.data.transforms import short_side_size
from semvis.errors import DataError

CLASSES = ("person", "car", "motorcycle")
#: README: class per DAVIS sequence (only those whose class is in CLASSES).
DAVIS_CLASSES = {
    "bmx-trees": "person",
    "car-roundabout": "car",
    "drift-chicane": "car",
    "kite-surf": "person",
    "paragliding-launch": "person",
}
#: Held-out sequences: two person clips (two small joggers; a kite surfer) and one car clip.
TEST_SEQUENCES = ("otb_jogging", "davis/kite-surf", "davis/car-roundabout")


@dataclass(frozen=True)
class Frame:
    """One annotated frame: its image file, ``N × 4`` boxes in the file's pixels and ``N`` class indices."""

    path: Path
    boxes: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class Sequence:
    """A named clip of consecutive annotated frames."""

    name: str
    frames: list[Frame]


def video_boxes_sequence(folder: Path) -> Sequence:
    """A ``video_boxes/<seq>`` clip from its ``annotations.json``; classes are mapped by name."""
    path = folder / "annotations.json"
    try:
        notes = json.loads(path.read_text())
        names = notes["classes"]
        frames = [
            Frame(
                folder / "frames" / f["file"],
                torch.tensor(f["boxes"], dtype=torch.float32).reshape(-1, 4),
                torch.tensor([CLASSES.index(names[i]) for i in f["labels"]], dtype=torch.long),
            )
            for f in notes["frames"]
        ]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise DataError(f"{path}: not a video_boxes annotation file ({e})") from None
    return Sequence(folder.name, frames)


def mask_box(path: Path) -> torch.Tensor:
    """The tight ``1 × 4`` box around a mask's nonzero pixels (``0 × 4`` for an empty mask)."""
    mask = np.asarray(load_image(path, "L")) > 127
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return torch.zeros(0, 4)
    return torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32)


def davis_sequence(folder: Path, label: str) -> Sequence:
    """A DAVIS sequence, one box per frame from its mask, all of class ``label``."""
    frames = []
    for image in sorted((folder / "frames").glob("*.jpg")):
        box = mask_box(folder / "masks" / f"{image.stem}.png")
        frames.append(Frame(image, box, torch.full((len(box),), CLASSES.index(label), dtype=torch.long)))
    if not frames:
        raise DataError(f"{folder}: no frames/*.jpg")
    return Sequence(f"davis/{folder.name}", frames)


def load_sequences(root: Path) -> list[Sequence]:
    """All sequences under the data root (``video_boxes/*`` and the DAVIS ones of :data:`DAVIS_CLASSES`)."""
    boxes = sorted(p for p in (root / "video_boxes").glob("*") if (p / "annotations.json").is_file())
    davis = [root / "davis" / name for name in DAVIS_CLASSES if (root / "davis" / name).is_dir()]
    if not boxes and not davis:
        raise DataError(f"{root}: neither video_boxes/*/annotations.json nor davis/<seq>/ found")
    return [video_boxes_sequence(p) for p in boxes] + [davis_sequence(p, DAVIS_CLASSES[p.name]) for p in davis]


def split(sequences: list[Sequence]) -> tuple[list[Sequence], list[Sequence]]:
    """(train, test) by sequence name (:data:`TEST_SEQUENCES`)."""
    return [s for s in sequences if s.name not in TEST_SEQUENCES], [s for s in sequences if s.name in TEST_SEQUENCES]


def load_frame(frame: Frame, short_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame as ``3 × H × W`` RGB in [0, 1] with its short side at ``short_side``, and its boxes scaled alike."""
    image = image_to_tensor(load_image(frame.path, "RGB"))
    h, w = image.shape[-2:]
    size = short_side_size(h, w, short_side)
    image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    return image.clamp(0, 1), scale_boxes(frame.boxes, (h, w), size)


def scale_boxes(boxes: torch.Tensor, size: tuple[int, int], new_size: tuple[int, int]) -> torch.Tensor:
    """Boxes of an image of ``size = (H, W)`` in the pixels of the same image resized to ``new_size``."""
    sy, sx = new_size[0] / size[0], new_size[1] / size[1]
    return boxes * torch.tensor([sx, sy, sx, sy])


class FrameImages(Dataset):
    """``(image, index)`` of each frame of a sequence, resized to ``short_side`` (for feature caching)."""

    def __init__(self, sequence: Sequence, short_side: int) -> None:
        self.sequence, self.short_side = sequence, short_side

    def __len__(self) -> int:
        return len(self.sequence.frames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return load_frame(self.sequence.frames[index], self.short_side)[0], torch.tensor(index)
