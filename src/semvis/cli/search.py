"""``semvis search INDEX IMAGE``: the nearest indexed images by Hamming distance."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from semvis.cli import console
from semvis.cli.index import add_weights_argument
from semvis.cli.main import int_in_range
from semvis.data import save_image
from semvis.data.images import check_image_output
from semvis.hashing import HashIndex, encoder_for
from semvis.hashing.sheet import contact_sheet


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="images of an index nearest to a query image (Hamming distance)")
    parser.add_argument("index", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("-k", type=int_in_range(1), default=10, help="number of results (default 10)")
    add_weights_argument(parser)
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet of the query and results (PNG)")
    parser.add_argument("--nprobe", type=int_in_range(1), help="IVF index: inverted lists visited (default 16)")
    parser.add_argument("--ef-search", type=int_in_range(1), help="HNSW index: candidate list size (default 128)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.sheet:
        check_image_output(args.sheet)
    with HashIndex.open(args.index) as index:
        encoder = encoder_for(index, args.weights, device=args.device)
        codes = encoder.encode([args.image])
        hits = index.search(codes, k=args.k, nprobe=args.nprobe, ef_search=args.ef_search)[0]
    table = Table("rank", "distance", "path", title=f"{args.image} — {len(hits)} nearest of {args.index}")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), str(hit.distance), hit.path)
    console().print(table)
    if args.sheet:
        save_image(contact_sheet(args.image, hits), args.sheet, {"semvis": f"search {args.image}"})
        console().print(f"contact sheet: {args.sheet}")
    return 0
