"""Pictures of a label map: a palette PNG of the class indices and a colour overlay with a legend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from semvis.viz import font

Color = tuple[int, int, int]
#: Height of one legend line, in pixels.
LEGEND_LINE = 20


def label_image(labels: torch.Tensor, palette: Sequence[Color]) -> Image.Image:
    """An ``H × W`` class-index map as a mode-"P" image: pixel values are the indices, colours the palette."""
    if labels.dim() != 2:
        raise ValueError(f"expected an H×W label map, got shape {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= min(len(palette), 256)):
        raise ValueError(f"labels range {int(labels.min())}..{int(labels.max())} but the palette has {len(palette)}")
    img = Image.fromarray(labels.to(torch.uint8).numpy())
    img.putpalette([c for colour in palette for c in colour])  # turns the "L" image into "P"
    return img


def overlay(
    image: Image.Image, labels: torch.Tensor, palette: Sequence[Color], classes: Sequence[str], alpha: float = 0.5
) -> Image.Image:
    """``image`` blended with the class colours, and a legend of the classes present on the right."""
    colours = label_image(labels, palette).convert("RGB")
    blended = Image.blend(image.convert("RGB").resize(colours.size), colours, alpha)
    present, counts = np.unique(labels.numpy(), return_counts=True)
    share = dict(zip(present.tolist(), (counts / labels.numel()).tolist()))
    fnt = font(13)
    lines = [f"{classes[k]} {100 * share[k]:.1f}%" for k in share]
    width = max(int(fnt.getlength(line)) for line in lines) + 36
    sheet = Image.new("RGB", (blended.width + width, max(blended.height, LEGEND_LINE * len(lines) + 8)), "white")
    sheet.paste(blended, (0, 0))
    draw = ImageDraw.Draw(sheet)
    for row, (k, line) in enumerate(zip(share, lines)):
        x, y = blended.width + 6, 4 + row * LEGEND_LINE
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=tuple(palette[k]), outline="black")
        draw.text((x + 20, y + 2), line, fill="black", font=fnt)
    return sheet
