"""The index at scale: approximate search (recall@k vs exact, ms/query, memory), segmented builds, encoding.

Three parts, each a Markdown table, written together to ``benchmarks/results/index_scale.md``:

1. **Search.** For each size (``--sizes``, default 1M and 10M) and two code distributions —
   *random* (uniform 48-bit codes, the hardest case: distances concentrate around 24) and
   *clustered* (``--clusters`` centres with each bit flipped with probability ``--flip``, like a
   trained hash model's codes, which gather by class) — one segment of each kind
   (:func:`~semvis.hashing.segments.build_faiss`, searched through
   :class:`~semvis.hashing.segments.Segment` as :class:`~semvis.hashing.HashIndex` does) is built and
   searched one query per call, for several ``nprobe`` (IVF) and ``ef_search`` (HNSW) values.
   Recall@k is tie-aware: the share of the k returned items whose distance is at most the exact
   k-th distance (with 48-bit codes many items tie, so id overlap would be meaningless). Memory is
   the serialised faiss index (what a segment file holds and a reader loads) per code.
   HNSW above ``--max-hnsw`` codes and IVF above ``--max-ivf`` are skipped (build time on a shared CPU).
2. **Segmented build.** ``HashIndex.add`` of ``--build-items`` codes in commits of ``--commit``:
   seconds, segments at the end, bytes of segment files written in all (merges included) against the
   bytes a single-file design rewrites (the whole index at every commit), bytes per item on disk.
3. **Encoding** (with ``--images DIR``): images per second of ``semvis index build`` (bundled
   model, 224 px, one torch thread per process) in one process, one process with a decoding worker,
   and two processes under torchrun; wall time of the whole command, start-up included.

Everything runs on one thread (faiss OpenMP and torch) unless stated.

Usage: ``python benchmarks/index_scale.py [--sizes 1000000 10000000] [--images DIR --encode 96]``
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import torch

from semvis.hashing import FileInfo, HashCodes, HashIndex
from semvis.hashing.segments import Segment, build_faiss, faiss_code_size, pad_codes

BITS = 48
BYTES = BITS // 8
OUT = Path(__file__).resolve().parent / "results" / "index_scale.md"
PARTS = ("build", "encode", "search")


class Report:
    """Markdown lines, printed and rewritten to ``path`` as they come (a long run keeps what it measured)."""

    def __init__(self, path: Path) -> None:
        self.path, self.lines = path, []

    def add(self, *lines: str) -> None:
        self.lines += lines
        print("\n".join(lines), flush=True)
        self.path.write_text("\n".join(self.lines) + "\n")


def random_codes(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (n, BYTES), dtype=np.uint8)


def clustered_codes(n: int, centres: np.ndarray, flip: float, rng: np.random.Generator) -> np.ndarray:
    """Codes near ``centres`` (chosen uniformly), each bit flipped with probability ``flip``."""
    out = np.empty((n, BYTES), np.uint8)
    for start in range(0, n, 1_000_000):  # bounded temporary memory
        m = min(1_000_000, n - start)
        noise = np.packbits(rng.random((m, BITS)) < flip, axis=1)
        out[start : start + m] = centres[rng.integers(0, len(centres), m)] ^ noise
    return out


def per_query(segment: Segment, queries: np.ndarray, k: int, nprobe: int, ef: int) -> tuple[np.ndarray, float]:
    """Distances of the k nearest of each query, searched one query per call; ms per query (best of 2)."""
    best, distances = float("inf"), []
    for _ in range(2):
        start = time.perf_counter()
        distances = [segment.search(queries[i : i + 1], k, nprobe, ef)[0][0] for i in range(len(queries))]
        best = min(best, time.perf_counter() - start)
    return np.stack(distances), 1000 * best / len(queries)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Tie-aware recall@k: returned items no farther than the exact k-th, over k."""
    return float((found <= exact[:, -1:]).mean())


def segment_of(kind: str, codes: np.ndarray) -> tuple[Segment, float, int]:
    """A segment of ``kind`` over ``codes``, its build seconds and its serialised bytes."""
    ids = np.arange(1, len(codes) + 1, dtype=np.int64)
    start = time.perf_counter()
    index = build_faiss(kind, 8 * faiss_code_size(BITS), pad_codes(codes, BITS), ids)
    seconds = time.perf_counter() - start
    return Segment("bench", 1, len(codes), len(codes), index), seconds, faiss.serialize_index_binary(index).nbytes


def search_rows(
    report: Report, n: int, name: str, codes: np.ndarray, queries: np.ndarray, args: argparse.Namespace
) -> None:
    flat, seconds, size = segment_of("flat", codes)
    exact, ms = per_query(flat, queries, args.k, 1, 1)
    report.add(f"| {n:,} | {name} | flat (exact) | — | {seconds:.1f} | {ms:.2f} | 1.000 | {size / n:.1f} |")
    del flat
    kinds: list[tuple[str, list[int], Callable[[int], tuple[int, int]]]] = []
    if n <= args.max_ivf:
        kinds.append(("ivf", args.nprobe, lambda v: (v, 1)))
    if n <= args.max_hnsw:
        kinds.append(("hnsw", args.ef, lambda v: (1, v)))
    for kind, values, knobs in kinds:
        segment, seconds, size = segment_of(kind, codes)
        for value in values:
            found, ms = per_query(segment, queries, args.k, *knobs(value))
            knob = f"nprobe {value}" if kind == "ivf" else f"ef_search {value}"
            report.add(
                f"| {n:,} | {name} | {kind} | {knob} | {seconds:.1f} | {ms:.2f} | "
                f"{recall(found, exact):.3f} | {size / n:.1f} |"
            )
        del segment


def search_table(report: Report, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    centres = random_codes(args.clusters, rng)
    skipped = f"HNSW above {args.max_hnsw:,} codes and IVF above {args.max_ivf:,} (build time on this CPU)"
    report.add(
        f"### Search: top-{args.k}, {args.queries} queries one per call, 1 thread",
        "",
        "| codes | distribution | kind | setting | build s | ms/query | recall@50 | bytes/code in memory |",
        "|---|---|---|---|---|---|---|---|",
    )
    makers = {
        "random": ("random", lambda m: random_codes(m, rng)),
        "clustered": (
            f"clustered ({args.clusters:,} centres, {args.flip:g} flips)",
            lambda m: clustered_codes(m, centres, args.flip, rng),
        ),
    }
    for n in args.sizes:
        for name, make in (makers[d] for d in args.distributions):
            codes, queries = make(n), make(args.queries)
            search_rows(report, n, name, codes, pad_codes(queries, BITS), args)
            del codes
    report.add("", f"Skipped: {skipped}.", "")


def build_table(args: argparse.Namespace) -> list[str]:
    """HashIndex.add in commits: segment bytes written against a whole-file rewrite per commit."""
    rng = np.random.default_rng(1)
    codes = random_codes(args.build_items, rng)
    info = [FileInfo(1.7e9, 123_456)] * args.commit
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        index = HashIndex.create(Path(tmp) / "idx", BITS, "benchmark")
        seen: set[str] = set()
        written = rewritten = 0
        start = time.perf_counter()
        for b in range(0, args.build_items, args.commit):
            paths = [f"/data/images/{i // 10_000:04d}/{i:07d}.jpg" for i in range(b, b + args.commit)]
            index.add(paths, HashCodes(codes[b : b + args.commit], BITS, "benchmark"), info)
            for file in index.root.glob("seg.*.faiss"):
                if file.name not in seen:
                    seen.add(file.name)
                    written += file.stat().st_size
            rewritten += 16 * (b + args.commit)  # one flat file of every code so far (8-byte code + id)
        seconds = time.perf_counter() - start
        stats = index.stats()
        index.close()
    return [
        f"### Segmented build: {args.build_items:,} random codes through `HashIndex.add`, {args.commit:,} per commit",
        "",
        "| commits | seconds | items/s | segments at the end | segment bytes written "
        "| a whole-file rewrite per commit | bytes/item on disk |",
        "|---|---|---|---|---|---|---|",
        f"| {args.build_items // args.commit} | {seconds:.1f} | {args.build_items / seconds:,.0f} | {stats.segments} "
        f"| {written:,} | {rewritten:,} | {stats.bytes_per_item:.1f} |",
        "",
        "Bytes per item on disk: segment files plus the catalogue (path like `/data/images/0042/0042123.jpg`, "
        "code, mtime, size, no sha1, time added) and its path index.",
        "",
    ]


def encode_table(args: argparse.Namespace) -> list[str]:
    """Wall-clock img/s of `semvis index build` at 1 process, 1 + a decoding worker, and 2 processes."""
    images = sorted(p for p in args.images.rglob("*.jpg"))[: args.encode]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = ["-m", "semvis.cli.main", "index", "build"]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for i, image in enumerate(images):
            shutil.copy(image, folder / f"{i:05d}.jpg")
        runs = [
            ("1 process", [sys.executable, *cli], []),
            ("1 process + 1 decoding worker", [sys.executable, *cli], ["--workers", "1"]),
            (
                "2 processes (torchrun, gloo)",
                [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *cli],
                [],
            ),
        ]
        for i, (name, prefix, extra) in enumerate(runs):
            start = time.perf_counter()
            done = subprocess.run(
                [*prefix, str(folder), "--out", str(Path(tmp) / f"idx{i}"), *extra],
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - start
            assert done.returncode == 0, done.stderr[-2000:]
            rows.append(f"| {name} | {len(images)} | {seconds:.1f} | {len(images) / seconds:.2f} |")
            print(rows[-1], flush=True)
    return [
        f"### Encoding: `semvis index build` of {len(images)} JPEGs from `{args.images}`, bundled 48-bit model, 224 px",
        "",
        "| processes | images | wall s (start-up included) | img/s |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("-k", type=int, default=50)
    parser.add_argument("--distributions", nargs="+", choices=("random", "clustered"), default=["random", "clustered"])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--flip", type=float, default=0.08)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--max-hnsw", type=int, default=1_000_000)
    parser.add_argument("--max-ivf", type=int, default=1_000_000)
    parser.add_argument("--build-items", type=int, default=1_000_000)
    parser.add_argument("--commit", type=int, default=10_000)
    parser.add_argument("--images", type=Path, help="a folder of JPEGs for the encoding table")
    parser.add_argument("--encode", type=int, default=96)
    parser.add_argument("--tmp", type=Path, help="where temporary indexes go")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS, help="tables to measure (default: all)")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    load = os.getloadavg()
    report = Report(args.out)
    report.add(
        "# The index at scale",
        "",
        f"`python benchmarks/index_scale.py {' '.join(sys.argv[1:])}` — CPU {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other jobs (load average {load[0]:.1f} at the start), "
        f"faiss {faiss.__version__}, torch {torch.__version__}, 1 thread unless stated.",
        "",
    )
    if "build" in args.parts:
        report.add(*build_table(args))
    if "encode" in args.parts and args.images:
        report.add(*encode_table(args))
    if "search" in args.parts:
        search_table(report, args)


if __name__ == "__main__":
    main()
