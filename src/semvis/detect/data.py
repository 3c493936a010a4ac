"""The small video-detection sets: ``video_boxes`` (TinyTLP/OTB tracking clips) and DAVIS masks as boxes.

Each sequence is a list of frames with boxes ``x1, y1, x2, y2`` and class indices into
:data:`CLASSES`. DAVIS gives one box per frame, the tight box around the foreground mask, with
the class of its sequence (``../shared/data/README.md``); the three DAVIS sequences whose class
is not one of ours (blackswan, dog, horsejump-high) are left out. The split is by sequence
(:data:`TEST_SEQUENCES`); motorcycle has a single sequence, so it is trained on and not measured.

CamVid (:func:`camvid_sequence`, train and val only — its test split is the segmentation test set)
adds street scenes whose label maps are turned into boxes: each 8-connected component of *car* is a
car, each of *pedestrian* ∪ *bicyclist* a person (as DAVIS bmx-trees boxes the rider with the bike).
A component that cannot be one object (touching cars, a group of pedestrians) or is too small to
box reliably becomes an *ignore* region instead. CamVid labels every car and pedestrian, so its
frames are *exhaustive*: every unboxed place is background (see :mod:`semvis.detect.targets`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
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
#: CamVid label indices (``camvid/classes.json``) and the detection class each becomes.
CAMVID_CLASSES = {"car": (8,), "person": (9, 10)}
#: CamVid splits used for training boxes; ``test`` stays the segmentation test set and is never read here.
CAMVID_SPLITS = ("train", "val")
#: A component shorter than this (pixels at CamVid's 360-px height) is ignored: 852 of 1985 car and
#: 590 of 2160 person components of train+val are, mostly distant specks and fragments cut by poles,
#: far below the smallest anchor (76.8 px) and half-hidden objects whose box would be a guess.
MIN_HEIGHT = 16
#: Widest car component (width / height) boxed as one car: a car seen side-on is about 3 × as long as
#: tall (4.5 m × 1.5 m); wider blobs are parked cars touching in the mask (18 of 1133 in train+val).
CAR_MAX_ASPECT = 3.0
#: Widest person component boxed as one person. A pedestrian or a cyclist seen from behind (most of
#: CamVid's) is about 0.3 × as wide as tall (95th percentile 0.66 pedestrian, 0.45 cyclist); two people
#: side by side reach 0.6–0.8 and more. 0.8 ignores the wider groups (33 of 1570) at the cost of the
#: few side-on cyclists (≈ 1.0): an ignored object costs nothing, a merged group as one box misleads.
PERSON_MAX_ASPECT = 0.8


@dataclass(frozen=True)
class Frame:
    """One annotated frame: its image file, ``N × 4`` boxes in the file's pixels and ``N`` class indices.

    ``ignore`` holds ``M × 4`` regions (file pixels) where no negative is taken (merged or tiny
    objects); ``exhaustive`` says every object of our classes is boxed or inside an ignore region
    (CamVid), so everything else is background; the video clips box only their tracked object.
    """

    path: Path
    boxes: torch.Tensor
    labels: torch.Tensor
    ignore: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4))
    exhaustive: bool = False


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


def _cv2():  # noqa: ANN202 (cv2 has no stubs)
    """OpenCV, imported lazily: it is the optional ``semvis[video]`` extra."""
    try:
        import cv2
    except ImportError:
        raise DataError("CamVid boxes need OpenCV: pip install 'semvis[video]'") from None
    return cv2


def label_map_boxes(labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes, class indices and ignore regions from a CamVid label map (``H × W`` class indices).

    Each 8-connected component of a class group of :data:`CAMVID_CLASSES` is one box, unless it is
    shorter than :data:`MIN_HEIGHT` or wider than :data:`CAR_MAX_ASPECT` / :data:`PERSON_MAX_ASPECT`
    × its height, in which case its box is an ignore region.
    """
    cv2 = _cv2()
    boxes, classes, ignore = [], [], []
    for name, indices in CAMVID_CLASSES.items():
        mask = np.isin(labels, indices).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        widest = CAR_MAX_ASPECT if name == "car" else PERSON_MAX_ASPECT
        for x, y, w, h, _ in stats[1:count].tolist():
            box = [x, y, x + w, y + h]
            if h < MIN_HEIGHT or w > widest * h:
                ignore.append(box)
            else:
                boxes.append(box)
                classes.append(CLASSES.index(name))
    as_boxes = lambda b: torch.tensor(b, dtype=torch.float32).reshape(-1, 4)  # noqa: E731
    return as_boxes(boxes), torch.tensor(classes, dtype=torch.long), as_boxes(ignore)


def camvid_sequence(root: Path, split: str) -> Sequence:
    """CamVid ``split`` (``train`` or ``val``) as exhaustively labelled frames with boxes from its label maps."""
    if split not in CAMVID_SPLITS:
        raise DataError(f"CamVid {split!r}: only {CAMVID_SPLITS} train the detector (test is for segmentation)")
    frames = []
    for image in sorted((root / split / "images").glob("*.jpg")):
        path = root / split / "labels" / f"{image.stem}.png"
        try:
            labels = np.asarray(Image.open(path))
        except OSError as e:
            raise DataError(f"{path}: unreadable CamVid label map ({e})") from None
        boxes, classes, ignore = label_map_boxes(labels)
        frames.append(Frame(image, boxes, classes, ignore, exhaustive=True))
    if not frames:
        raise DataError(f"{root / split}: no images/*.jpg")
    return Sequence(f"camvid/{split}", frames)


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
