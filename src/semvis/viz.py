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


#: Line colours of :func:`line_chart`, one per series in order (Okabe–Ito, readable by colour-blind people).
SERIES_COLOURS = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233))


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    x_label: str,
    y_label: str,
    title: str = "",
    size: tuple[int, int] = (640, 420),
) -> Image.Image:
    """A plain line chart of ``{name: [(x, y), …]}`` with axes, ticks at the data's ends and a legend.

    Points are drawn as dots joined in the given order; the axes span the data's range (with 5 % room).
    """
    points = [p for values in series.values() for p in values]
    if not points:
        raise ValueError("nothing to plot")
    if len(series) > len(SERIES_COLOURS):
        raise ValueError(f"at most {len(SERIES_COLOURS)} series, got {len(series)}")
    xs, ys = [p[0] for p in points], [p[1] for p in points]

    def span(lo: float, hi: float) -> tuple[float, float]:
        room = 0.05 * (hi - lo) if hi > lo else 1.0
        return lo - room, hi + room

    (x0, x1), (y0, y1) = span(min(xs), max(xs)), span(min(ys), max(ys))
    width, height = size
    left, right, top, bottom = 70, 20, 56 if title else 30, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    fnt = font(13)

    def at(x: float, y: float) -> tuple[float, float]:
        u = left + (x - x0) / (x1 - x0) * (width - left - right)
        return u, height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    draw.rectangle((left, top, width - right, height - bottom), outline="black")
    for value in (min(xs), max(xs)):
        u, _ = at(value, y0)
        draw.line((u, height - bottom, u, height - bottom + 5), fill="black")
        draw.text((u, height - bottom + 7), f"{value:.3g}", fill="black", font=fnt, anchor="mt")
    for value in (min(ys), max(ys)):
        _, v = at(x0, value)
        draw.line((left - 5, v, left, v), fill="black")
        draw.text((left - 7, v), f"{value:.3g}", fill="black", font=fnt, anchor="rm")
    draw.text(((left + width - right) / 2, height - 8), x_label, fill="black", font=fnt, anchor="mb")
    draw.text((8, top - 6), y_label, fill="black", font=fnt, anchor="lb")
    if title:
        draw.text((left, 8), title, fill="black", font=font(16))
    for k, (name, values) in enumerate(series.items()):
        colour = SERIES_COLOURS[k]
        path = [at(x, y) for x, y in values]
        if len(path) > 1:
            draw.line(path, fill=colour, width=2)
        for u, v in path:
            draw.ellipse((u - 3, v - 3, u + 3, v + 3), fill=colour)
        y = top + 8 + 18 * k
        draw.line((width - right - 150, y, width - right - 130, y), fill=colour, width=3)
        draw.text((width - right - 125, y), name, fill="black", font=fnt, anchor="lm")
    return img
