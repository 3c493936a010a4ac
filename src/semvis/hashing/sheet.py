"""Pictures of search results: captioned thumbnails and contact sheets (``semvis search --sheet``, the demo)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from semvis.data import load_image
from semvis.errors import ImageError
from semvis.hashing.encode import square_crop
from semvis.hashing.index import SearchHit
from semvis.viz import font, labelled_grid

#: Side of a thumbnail, pixels.
THUMB = 160
SHEET_COLUMNS = 6


def captioned(path: Path | str, caption: str) -> Image.Image:
    """A square thumbnail with ``caption`` on a white strip; a grey tile when the file is unreadable."""
    try:
        thumb = square_crop(load_image(path), THUMB)
    except ImageError:
        thumb, caption = Image.new("RGB", (THUMB, THUMB), (200, 200, 200)), f"{caption} (unreadable)"
    draw = ImageDraw.Draw(thumb)
    draw.rectangle((0, 0, THUMB, 18), fill="white")
    draw.text((4, 2), caption, fill="black", font=font(13))
    return thumb


def contact_sheet(query: str | Path, hits: list[SearchHit]) -> Image.Image:
    """The query then the results in rank order, captioned with rank and Hamming distance."""
    query = Path(query)
    tiles = [captioned(query, "query")]
    tiles += [captioned(hit.path, f"#{rank}  d={hit.distance}") for rank, hit in enumerate(hits, start=1)]
    rows = [tiles[i : i + SHEET_COLUMNS] for i in range(0, len(tiles), SHEET_COLUMNS)]
    return labelled_grid(rows, (THUMB, THUMB), title=f"search: {query.name}")
