"""Pictures a person would rather look at than read: colour maps and labelled grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

# Anchor colours of matplotlib's 'viridis' at 0, .25, .5, .75, 1 (interpolated linearly),
# written out so that no plotting library is needed.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32)


def colormap(values: np.ndarray | torch.Tensor) -> Image.Image:
    """Map a 2-D array to an RGB image with a viridis-like colour map (min→dark, max→yellow)."""
    a = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    a = a.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    t = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    pos = t * (len(_VIRIDIS) - 1)
    i = np.clip(pos.astype(int), 0, len(_VIRIDIS) - 2)
    frac = (pos - i)[..., None]
    rgb = _VIRIDIS[i] * (1 - frac) + _VIRIDIS[i + 1] * frac
    return Image.fromarray(rgb.round().astype(np.uint8), "RGB")


def font(size: int = 14) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font (no system fonts needed)."""
    return ImageFont.load_default(size=size)


def labelled_grid(
    cells: Sequence[Sequence[Image.Image | None]],
    cell_size: tuple[int, int],
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    title: str = "",
    pad: int = 4,
) -> Image.Image:
    """Lay images out in a grid with optional row/column labels and a title.

    ``cells[r][c]`` may be ``None`` (left blank). Images are resized to ``cell_size``.
    """
    fnt = font(14)
    rows, cols = len(cells), max(len(r) for r in cells)
    label_w = max((int(fnt.getlength(line)) for t in row_labels for line in t.splitlines()), default=0) + (
        2 * pad if row_labels else 0
    )
    label_h = 22 if col_labels else 0
    title_h = 28 if title else 0
    w, h = cell_size
    title_w = int(font(18).getlength(title)) + 2 * pad if title else 0  # a long title widens the sheet
    width = max(label_w + cols * (w + pad) + pad, title_w)
    sheet = Image.new("RGB", (width, title_h + label_h + rows * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 6), title, fill="black", font=font(18))
    for c, text in enumerate(col_labels):
        draw.text((label_w + pad + c * (w + pad), title_h + 3), text, fill="black", font=fnt)
    for r, row in enumerate(cells):
        y = title_h + label_h + pad + r * (h + pad)
        if r < len(row_labels):
            draw.multiline_text(
                (pad, y + h // 2 - 8 * len(row_labels[r].splitlines())), row_labels[r], fill="black", font=fnt
            )
        for c, img in enumerate(row):
            if img is not None:
                sheet.paste(
                    img.convert("RGB").resize(cell_size, Image.Resampling.BILINEAR), (label_w + pad + c * (w + pad), y)
                )
    return sheet
