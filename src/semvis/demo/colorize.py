"""Showcase: a bundled gray photo segmented, colorized, then repainted with one semantic edit.

The bundled CamVid models (:mod:`semvis.bundled`) segment the gray cameraman photo; the colorizer
colours it under that map; then every pixel predicted as ``road`` (mostly the grass field) is
relabelled ``tree``, CamVid's vegetation class (what a user does with the app's brush), and the photo
is colorized again.
"""

from __future__ import annotations

from pathlib import Path

from PIL import ImageOps

from semvis.assets import sample_path
from semvis.colorize import colorize
from semvis.colorize.pipeline import load_colorization_models
from semvis.data import image_to_tensor, load_image, save_image, tensor_to_image
from semvis.device import DeviceSpec
from semvis.segment import overlay
from semvis.viz import labelled_grid

TITLE = "Semantic-driven colorization"
#: The demo's edit: (class painted over, class painted with).
EDIT = ("road", "tree")


def run(out_dir: Path, device: DeviceSpec | None = None) -> list[Path]:
    photo = load_image(sample_path("cameraman"))
    gray = image_to_tensor(photo)
    segmenter, spec, colorizer = load_colorization_models(device=device)  # the bundled models
    labels = segmenter(gray)
    before, after = (spec.classes.index(name) for name in EDIT)
    edited = labels.clone()
    edited[labels == before] = after
    cells = [
        photo.convert("RGB"),
        overlay(photo, labels, spec.palette, spec.classes),
        tensor_to_image(colorize(gray, labels, colorizer)),
        overlay(photo, edited, spec.palette, spec.classes),
        tensor_to_image(colorize(gray, edited, colorizer)),
    ]
    size = (max(c.width for c in cells), max(c.height for c in cells))  # the maps carry a legend
    panel = labelled_grid(
        [[ImageOps.pad(c, size, color="white", centering=(0, 0.5)) for c in cells]],
        size,
        col_labels=[
            "gray photo",
            "predicted map",
            "colorized",
            f"edit: {EDIT[0]} painted as {EDIT[1]}",
            "re-colorized",
        ],
        title="Semantic-driven colorization: DeepLabv3+ map of a gray photo, U-Net colorizer, one semantic edit",
    )
    target = out_dir / "colorization.png"
    save_image(panel, target, {"semvis": "demo colorize"})
    return [target]
