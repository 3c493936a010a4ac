"""Overlay frames for a segmentation video: the frame blended with the class colours, a small legend inside.

Unlike :func:`semvis.segment.render.overlay`, which adds a legend column whose width depends on
the classes present, an overlay frame keeps the frame's size, as every frame of a video must.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from semvis.segment.render import Color, label_image
from semvis.viz import font

#: Legend text size, swatch side and line height, in pixels.
LEGEND_FONT = 11
SWATCH = 10
LEGEND_LINE = 14


def overlay_frame(
    frame: np.ndarray, labels: torch.Tensor, palette: Sequence[Color], classes: Sequence[str], alpha: float = 0.5
) -> np.ndarray:
    """An RGB uint8 ``H × W × 3`` frame blended with the colours of its ``H × W`` labels, with the
    classes present listed in the top-left corner (swatch and name, outlined to read on any colour)."""
    colours = label_image(labels, palette).convert("RGB")
    picture = Image.blend(Image.fromarray(frame).convert("RGB"), colours, alpha)
    draw = ImageDraw.Draw(picture)
    fnt = font(LEGEND_FONT)
    for row, k in enumerate(torch.unique(labels).tolist()):
        x, y = 3, 3 + row * LEGEND_LINE
        draw.rectangle((x, y, x + SWATCH, y + SWATCH), fill=tuple(palette[k]), outline="black")
        draw.text((x + SWATCH + 4, y - 1), classes[k], fill="white", font=fnt, stroke_width=1, stroke_fill="black")
    return np.asarray(picture)
