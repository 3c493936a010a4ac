"""``semvis search INDEX IMAGE``: the nearest indexed images by Hamming distance."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw
from rich.table import Table

from semvis.cli import console
from semvis.cli.index import add_weights_argument
from semvis.data import load_image, save_image
from semvis.errors import ImageError
from semvis.hashing import HashIndex, SearchHit, encoder_for, square_crop
from semvis.viz import font, labelled_grid

THUMB = 160
SHEET_COLUMNS = 6


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="images of an index nearest to a query image (Hamming distance)")
    parser.add_argument("index", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    add_weights_argument(parser)
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet of the query and results (PNG)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index:
        encoder = encoder_for(index, args.weights)
        encoder.progress = False
        hits = index.search(encoder.encode([args.image]), k=args.k)[0]
    table = Table("rank", "distance", "path", title=f"{args.image} — {len(hits)} nearest of {args.index}")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), str(hit.distance), hit.path)
    console().print(table)
    if args.sheet:
        save_image(contact_sheet(args.image, hits), args.sheet, {"semvis": f"search {args.image}"})
        console().print(f"contact sheet: {args.sheet}")
    return 0


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


def contact_sheet(query: Path, hits: list[SearchHit]) -> Image.Image:
    """The query then the results in rank order, captioned with rank and Hamming distance."""
    tiles = [captioned(query, "query")]
    tiles += [captioned(hit.path, f"#{rank}  d={hit.distance}") for rank, hit in enumerate(hits, start=1)]
    rows = [tiles[i : i + SHEET_COLUMNS] for i in range(0, len(tiles), SHEET_COLUMNS)]
    return labelled_grid(rows, (THUMB, THUMB), title=f"search: {query.name}")
