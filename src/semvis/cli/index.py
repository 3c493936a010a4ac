"""``semvis index build|add|remove|stats``: a persistent Hamming index of image files."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from semvis.bundled import HASHNET, bundled_model
from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.data import list_images
from semvis.errors import DataError
from semvis.hashing import HashIndex, ImageEncoder, encoder_for
from semvis.hashing.encode import INPUT_SIZE
from semvis.hashing.index import KINDS

#: Images encoded and committed to the index together.
CHUNK = 1024


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="build and maintain a semantic-hashing search index")
    commands = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    build = commands.add_parser("build", help="index every image under a folder")
    build.add_argument("folder", type=Path)
    build.add_argument("--out", type=Path, required=True, help="index folder to create")
    build.add_argument(
        "--weights", type=Path, help="SemanticHashNet weights (default: the bundled 48-bit Caltech-101 model)"
    )
    build.add_argument("--bits", type=int, help="expected code length (checked against the weights)")
    build.add_argument(
        "--kind", choices=KINDS, default="flat", help="faiss index: exact flat, or hnsw/ivf (approximate)"
    )
    build.add_argument("--size", type=int, default=INPUT_SIZE, help=f"network input side (default {INPUT_SIZE})")
    build.set_defaults(func=run_build)

    add = commands.add_parser("add", help="add (or re-encode) images or folders of images")
    add.add_argument("index", type=Path)
    add.add_argument("paths", nargs="+", type=Path)
    add_weights_argument(add)
    add.set_defaults(func=run_add)

    remove = commands.add_parser("remove", help="remove images from the index")
    remove.add_argument("index", type=Path)
    remove.add_argument("paths", nargs="+", type=Path)
    remove.set_defaults(func=run_remove)

    stats = commands.add_parser("stats", help="size, model and settings of an index")
    stats.add_argument("index", type=Path)
    stats.add_argument("--check", action="store_true", help="also verify faiss against the catalogue")
    stats.set_defaults(func=run_stats)


def add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", type=Path, help="SemanticHashNet weights (default: the file the index was built with)"
    )


def image_files(paths: Sequence[Path]) -> list[Path]:
    """Absolute paths of the given image files and of the images under the given folders, sorted."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(list_images(path))
        elif path.is_file():
            found.add(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return sorted(p.resolve() for p in found)


def add_images(index: HashIndex, encoder: ImageEncoder, files: list[Path]) -> None:
    """Encode and commit ``files`` in chunks, so an interrupted run keeps what it finished."""
    for paths, codes in encoder.iter_encode(files, CHUNK):
        index.add(paths, codes)


def run_build(args: argparse.Namespace) -> int:
    files = image_files([args.folder])
    if not files:
        raise DataError(f"{args.folder}: no images found")
    weights = args.weights or bundled_model(HASHNET)
    attrs = {"input_size": str(args.size), "weights": str(weights.resolve())}
    with progress_bars() as progress:
        encoder = ImageEncoder(weights, args.bits, args.size, progress=progress, device=args.device)
        with HashIndex.create(args.out, encoder.bits, encoder.fingerprint, args.kind, attrs) as index:
            add_images(index, encoder, files)
            console().print(f"indexed {len(index)} images into {args.out} ({index.kind}, {index.bits} bits)")
    return 0


def run_add(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index, progress_bars() as progress:
        files = image_files(args.paths)
        add_images(index, encoder_for(index, args.weights, progress, args.device), files)
        console().print(f"added {len(files)} images; {len(index)} in the index")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index:
        removed = index.remove([str(p.resolve()) for p in args.paths])
        console().print(f"removed {removed} of {len(args.paths)} paths; {len(index)} in the index")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index:
        if args.check:
            index.check()
        s = index.stats()
    table = Table("property", "value", title=str(s.path))
    rows = [
        ("items", f"{s.items:,}"),
        ("kind", s.kind),
        ("bits", str(s.bits)),
        ("model", s.fingerprint),
        ("version", str(s.version)),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created))),
        ("faiss file", f"{s.faiss_bytes:,} bytes"),
        ("catalogue", f"{s.db_bytes:,} bytes"),
        ("bytes per item", f"{s.bytes_per_item:.1f}" if s.items else "—"),
        *((f"attr {k}", v) for k, v in sorted(s.attrs.items())),
    ]
    if args.check:
        rows.append(("check", "faiss and catalogue agree ✓"))
    for row in rows:
        table.add_row(*row)
    console().print(table)
    return 0
