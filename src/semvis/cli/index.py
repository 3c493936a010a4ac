"""``semvis index build|add|remove|compact|stats``: a persistent Hamming index of image files.

Adds are resumable: files whose path, size and mtime (or content hash, ``--hash``) match the
catalogue are skipped, and codes are committed every :data:`COMMIT_SECONDS` seconds or
``--commit-every`` images, so a killed run loses seconds of work. Under ``torchrun`` (more than
one process) ``build`` is a distributed job: each rank encodes its share of the files into
segments of the same index (commits take turns), and rank 0 compacts them at the end.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from semvis.bundled import HASHNET, bundled_model
from semvis.cli import console
from semvis.cli.main import int_in_range
from semvis.cli.progress import progress_bars
from semvis.data import list_images
from semvis.errors import DataError, SemvisError
from semvis.hashing import FileInfo, HashCodes, HashIndex, ImageEncoder, encoder_for
from semvis.hashing.encode import INPUT_SIZE
from semvis.hashing.index import DB_NAME
from semvis.hashing.segments import KINDS
from semvis.train.distributed import barrier, init_distributed, join_process_group, rank, world_size

#: Images encoded before a commit at the latest (``--commit-every``).
COMMIT_IMAGES = 1024
#: Seconds of encoding before a commit at the latest.
COMMIT_SECONDS = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="build and maintain a semantic-hashing search index")
    commands = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    build = commands.add_parser("build", help="index every image under a folder (run again to resume)")
    build.add_argument("folder", type=Path)
    build.add_argument("--out", type=Path, required=True, help="index folder to create, or to resume")
    build.add_argument(
        "--weights", type=Path, help="SemanticHashNet weights (default: the bundled 48-bit Caltech-101 model)"
    )
    build.add_argument("--bits", type=int, help="expected code length (checked against the weights)")
    build.add_argument("--kind", choices=KINDS, help="faiss index: exact flat (default), or hnsw/ivf (approximate)")
    build.add_argument("--size", type=int, default=INPUT_SIZE, help=f"network input side (default {INPUT_SIZE})")
    add_encoding_arguments(build)
    build.set_defaults(func=run_build)

    add = commands.add_parser("add", help="add new or changed images, or folders of images")
    add.add_argument("index", type=Path)
    add.add_argument("paths", nargs="+", type=Path)
    add_weights_argument(add)
    add_encoding_arguments(add)
    add.set_defaults(func=run_add)

    remove = commands.add_parser("remove", help="remove images from the index")
    remove.add_argument("index", type=Path)
    remove.add_argument("paths", nargs="+", type=Path)
    remove.set_defaults(func=run_remove)

    compact = commands.add_parser("compact", help="merge the index's segments into one, dropping removed items")
    compact.add_argument("index", type=Path)
    compact.set_defaults(func=run_compact)

    stats = commands.add_parser("stats", help="size, model and settings of an index")
    stats.add_argument("index", type=Path)
    stats.add_argument("--check", action="store_true", help="also verify the segments against the catalogue")
    stats.set_defaults(func=run_stats)


def add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", type=Path, help="SemanticHashNet weights (default: the file the index was built with)"
    )


def add_encoding_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=int_in_range(0), default=0, help="processes decoding images (default 0: this one)"
    )
    parser.add_argument("--batch-size", type=int_in_range(1), default=16, help="images per forward pass (default 16)")
    parser.add_argument(
        "--commit-every",
        type=int_in_range(1),
        default=COMMIT_IMAGES,
        help=f"commit after this many images (default {COMMIT_IMAGES}; also every {COMMIT_SECONDS:g} s)",
    )
    parser.add_argument(
        "--hash", action="store_true", help="recognise unchanged files by content hash, not by size and mtime"
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="exit 0 even when some files cannot be read (they are listed)"
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
    if not found:
        raise DataError(f"no images found in {', '.join(map(str, paths))}")
    return sorted(p.resolve() for p in found)


@dataclass
class AddReport:
    """What an add did: images encoded and committed, unchanged ones skipped, unreadable ones."""

    added: int = 0
    unchanged: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def add_images(index: HashIndex, encoder: ImageEncoder, files: list[Path], args: argparse.Namespace) -> AddReport:
    """Encode the new or changed ``files`` and commit them every ``--commit-every`` images or
    :data:`COMMIT_SECONDS` seconds, so an interrupted run keeps nearly all it finished."""
    report, infos = AddReport(), {}
    for file in files:
        try:
            infos[file] = FileInfo.of(file, args.hash)
        except SemvisError as exc:
            report.failed.append((file, str(exc)))
    known = index.file_infos(list(infos))
    todo = [f for f, info in infos.items() if str(f) not in known or not known[str(f)].unchanged(info)]
    report.unchanged = len(infos) - len(todo)
    pending: list[tuple[list[Path], HashCodes]] = []
    last = time.monotonic()
    for batch in encoder.iter_encode(todo, args.workers):
        report.failed += batch.failed
        pending.append((batch.paths, batch.codes))
        if sum(len(p) for p, _ in pending) >= args.commit_every or time.monotonic() - last >= COMMIT_SECONDS:
            report.added += commit(index, pending, infos)
            pending, last = [], time.monotonic()
    report.added += commit(index, pending, infos)
    return report


def commit(index: HashIndex, pending: list[tuple[list[Path], HashCodes]], infos: dict[Path, FileInfo]) -> int:
    """Add the encoded batches to the index as one commit; returns how many images that was."""
    paths = [p for batch, _ in pending for p in batch]
    if paths:
        index.add(paths, HashCodes.concat([codes for _, codes in pending]), [infos[p] for p in paths])
    return len(paths)


def finish(report: AddReport, index: HashIndex, args: argparse.Namespace) -> None:
    """Print the summary (and each unreadable file); unreadable files fail the run unless ``--skip-bad``."""
    for _, error in report.failed:
        console().print(f"skipped: {error}", markup=False, highlight=False)
    console().print(
        f"added {report.added} images, {report.unchanged} unchanged, {len(report.failed)} unreadable; "
        f"{len(index)} in {index.root} ({index.kind}, {index.bits} bits)"
    )
    if report.failed and not args.skip_bad:
        raise DataError(f"{len(report.failed)} files could not be read (listed above); --skip-bad accepts that")


def open_for_build(args: argparse.Namespace, encoder: ImageEncoder, attrs: dict[str, str]) -> HashIndex:
    """The index being built: created, or reopened to resume when it holds the same model's codes."""
    if not (args.out / DB_NAME).is_file():
        return HashIndex.create(args.out, encoder.bits, encoder.fingerprint, args.kind or "flat", attrs)
    index = HashIndex.open(args.out)
    if index.fingerprint != encoder.fingerprint or (args.kind or index.kind) != index.kind:
        index.close()
        raise DataError(
            f"{args.out}: already exists, with {index.kind} codes of model {index.fingerprint}; "
            f"to resume, build it with the same weights and kind (`semvis index add` extends it)"
        )
    return index


def run_build(args: argparse.Namespace) -> int:
    join_process_group()  # under torchrun: one rank per share of the files, each on its own device
    device = init_distributed(args.device).device if world_size() > 1 else args.device
    files = image_files([args.folder])
    weights = args.weights or bundled_model(HASHNET)
    attrs = {"input_size": str(args.size), "weights": str(weights.resolve())}
    with progress_bars() as progress:
        encoder = ImageEncoder(weights, args.bits, args.size, args.batch_size, progress, device)
        if rank() == 0:  # creates the index before the other ranks open it
            index = open_for_build(args, encoder, attrs)
        barrier()
        if rank() != 0:
            index = open_for_build(args, encoder, attrs)
        with index:
            report = add_images(index, encoder, files[rank() :: world_size()], args)
            barrier()
            if world_size() > 1 and rank() == 0:
                index.compact()  # one merge of every rank's segments
            finish(report, index, args)
    return 0


def run_add(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index, progress_bars() as progress:
        files = image_files(args.paths)
        encoder = encoder_for(index, args.weights, progress, args.device)
        encoder.batch_size = args.batch_size
        finish(add_images(index, encoder, files, args), index, args)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index:
        keys = [str(p.resolve()) for p in args.paths]
        missing = sorted(set(keys) - set(index.file_infos(keys)))
        removed = index.remove(keys)
        console().print(f"removed {removed} of {len(args.paths)} paths; {len(index)} in the index")
    if missing:
        raise DataError(f"not in the index: {', '.join(missing)}")
    return 0


def run_compact(args: argparse.Namespace) -> int:
    with HashIndex.open(args.index) as index:
        before = index.stats()
        index.compact()
        after = index.stats()
    console().print(
        f"compacted {before.segments} segments ({before.tombstones} removed items) into {after.segments}: "
        f"{before.faiss_bytes:,} → {after.faiss_bytes:,} bytes"
    )
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
        ("segments", f"{s.segments} ({s.tombstones:,} removed items awaiting compaction)"),
        ("faiss files", f"{s.faiss_bytes:,} bytes"),
        ("catalogue", f"{s.db_bytes:,} bytes"),
        ("bytes per item", f"{s.bytes_per_item:.1f}" if s.items else "—"),
        *((f"attr {k}", v) for k, v in sorted(s.attrs.items())),
    ]
    if args.check:
        rows.append(("check", "segments and catalogue agree ✓"))
    for row in rows:
        table.add_row(*row)
    console().print(table)
    return 0
