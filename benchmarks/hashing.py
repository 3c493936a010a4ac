"""Hamming top-k search over a million 48-bit codes, single-threaded, three ways.

Measures, in one run and on one thread (faiss OpenMP and torch both set to 1):

- ``HashIndex.search`` (faiss flat index + SQLite path lookup, results in (distance, id) order);
- faiss ``IndexBinaryFlat`` directly, on the 6-byte codes and on codes zero-padded to 8 bytes
  (what ``HashIndex`` stores: faiss has a specialised kernel for 8-byte codes);
- numpy XOR + popcount (``np.bitwise_count`` on uint64 words, numpy >= 2; a byte table
  otherwise) with an exact (distance, index) top-k.

Every method's distances are checked against each other. Also measured: catalogue +
faiss bytes on disk per item and ``HashIndex.add`` throughput (codes given: no CNN).
With ``--weights`` (a trained model) and ``--images`` (a folder), index *build* throughput too:
images per second through ``ImageEncoder`` (decode, crop, network, binarise) on ``--threads``
threads, beside the trunk alone on the same number of random 224×224 inputs (the floor).
Prints a Markdown table and writes it to ``benchmarks/results/hashing.md``.

Usage: ``python benchmarks/hashing.py [--items 1000000] [--queries 200] [-k 50]
[--weights W --images DIR --encode 256 --threads 2]``
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import faiss
import numpy as np
import torch

from semvis.data import list_images
from semvis.hashing import FileInfo, HashCodes, HashIndex, ImageEncoder
from semvis.hashing.codes import popcount
from semvis.hashing.encode import INPUT_SIZE

BITS = 48
FINGERPRINT = "benchmark"


def best_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Best of ``repeats`` runs of ``fn`` (which handles ``n`` queries), in queries per second."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def one_at_a_time(search: Callable[[np.ndarray], object], queries: np.ndarray) -> Callable[[], object]:
    """A call that searches ``queries`` one per call to ``search``."""
    return lambda: [search(queries[i : i + 1]) for i in range(len(queries))]


def numpy_topk(words: np.ndarray, query: np.uint64, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by (distance, index) with XOR + popcount over uint64 words."""
    d = popcount(words ^ query)
    kth = np.partition(d, k - 1)[k - 1]
    candidates = np.flatnonzero(d <= kth)
    order = np.lexsort((candidates, d[candidates]))[:k]
    return d[candidates[order]], candidates[order]


def build_index(root: Path, codes: np.ndarray) -> tuple[HashIndex, float]:
    """A flat HashIndex over ``codes``; returns it and the items/s of the ``add``."""
    index = HashIndex.create(root, BITS, FINGERPRINT)
    paths = [f"/data/images/{i // 1000:04d}/{i:07d}.jpg" for i in range(len(codes))]
    info = [FileInfo(1.7e9, 123_456, "da39a3ee5e6b4b0d3255bfef95601890afd80709")] * len(codes)
    start = time.perf_counter()
    index.add(paths, HashCodes(codes, BITS, FINGERPRINT), info)
    return index, len(codes) / (time.perf_counter() - start)


def build_throughput(args: argparse.Namespace) -> list[str]:
    """Images/s of ``ImageEncoder.encode`` on real files vs the trunk alone on random inputs."""
    torch.set_num_threads(args.threads)
    paths = list_images(args.images)[: args.encode]
    encoder = ImageEncoder(args.weights)
    encoder.encode(paths[: encoder.batch_size])  # warm-up
    start = time.perf_counter()
    encoder.encode(paths)
    encode_rate = len(paths) / (time.perf_counter() - start)
    x = torch.rand(encoder.batch_size, 3, INPUT_SIZE, INPUT_SIZE)
    trunk = encoder.model.trunk.eval()
    with torch.inference_mode():
        trunk(x)
        start = time.perf_counter()
        for _ in range(0, len(paths), encoder.batch_size):
            trunk(x)
        trunk_rate = len(paths) / (time.perf_counter() - start)
    return [
        "",
        f"Index build ({args.threads} torch threads, `{args.weights.name}`, {len(paths)} images of `{args.images}`, "
        f"batch {encoder.batch_size}): **{encode_rate:.1f} images/s** through `ImageEncoder.encode` (decode, "
        f"crop, network, binarise) vs {trunk_rate:.1f} images/s for the trunk alone on random 224×224 inputs "
        f"({100 * encode_rate / trunk_rate:.0f} % of that floor).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=50)
    parser.add_argument("--size-items", type=int, default=100_000, help="index size for bytes per item")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", type=Path, help="trained model, for the build throughput")
    parser.add_argument("--images", type=Path, help="image folder (recursive), for the build throughput")
    parser.add_argument("--encode", type=int, default=256, help="images encoded for the build throughput")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the build throughput")
    args = parser.parse_args()
    build_lines = build_throughput(args) if args.weights and args.images else []
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (args.items, BITS // 8), dtype=np.uint8)
    queries = rng.integers(0, 256, (args.queries, BITS // 8), dtype=np.uint8)
    padded = np.zeros((args.items, 8), np.uint8)
    padded[:, :6] = codes
    padded_q = np.zeros((args.queries, 8), np.uint8)
    padded_q[:, :6] = queries
    words, query_words = padded.view(np.uint64).ravel(), padded_q.view(np.uint64).ravel()

    with tempfile.TemporaryDirectory() as tmp:
        small, add_rate = build_index(Path(tmp) / "small", codes[: args.size_items])
        stats = small.stats()
        small.close()
        index, big_add_rate = build_index(Path(tmp) / "big", codes)
        flat6, flat8 = faiss.IndexBinaryFlat(BITS), faiss.IndexBinaryFlat(64)
        flat6.add(codes)
        flat8.add(padded)

        # all methods agree on the distances of the top k (and HashIndex/numpy on the ids: id = index + 1)
        ours = index.search(queries, args.k)
        d6, _ = flat6.search(queries, args.k)
        for q in range(args.queries):
            nd, ni = numpy_topk(words, query_words[q], args.k)
            assert [h.distance for h in ours[q]] == nd.tolist() == d6[q].tolist()
            assert [h.id - 1 for h in ours[q]] == ni.tolist()

        n, k, r = args.queries, args.k, args.repeats
        methods = {
            "HashIndex.search (flat)": (lambda q: index.search(q, k), queries),
            "faiss IndexBinaryFlat, 6-byte codes": (lambda q: flat6.search(q, k), queries),
            "faiss IndexBinaryFlat, padded to 8 bytes": (lambda q: flat8.search(q, k), padded_q),
        }
        rows = []
        for name, (search, qs) in methods.items():
            rows.append((name, "1", best_rate(one_at_a_time(search, qs), n, r)))
            rows.append((name, str(n), best_rate(partial(search, qs), n, r)))
        m = max(1, n // 4)  # numpy is slower: fewer queries
        numpy_rate = best_rate(lambda: [numpy_topk(words, query_words[i], k) for i in range(m)], m, r)
        popcount_kind = "np.bitwise_count" if hasattr(np, "bitwise_count") else "byte table"
        rows.append((f"numpy XOR + {popcount_kind} (uint64), exact top-k", "1", numpy_rate))
        index.close()

    lines = [
        f"CPU: {platform.processor() or platform.machine()}, 1 thread (faiss OpenMP and torch); "
        f"faiss {faiss.__version__}, numpy {np.__version__}. Top-{args.k} of {args.items:,} random {BITS}-bit codes, "
        f"{n} random queries, best of {r} runs.",
        "",
        "| method | queries per call | queries/s | ms/query |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {batch} | {rate:,.0f} | {1000 / rate:.2f} |" for name, batch, rate in rows]
    lines += [
        "",
        f"Index on disk at {stats.items:,} items: faiss {stats.faiss_bytes:,} B + catalogue {stats.db_bytes:,} B = "
        f"**{stats.bytes_per_item:.0f} bytes per item** (paths like `/data/images/0042/0042123.jpg`).",
        f"`HashIndex.add` throughput (codes given, no CNN; one commit): {add_rate:,.0f} items/s at "
        f"{args.size_items:,} items, {big_add_rate:,.0f} items/s at {args.items:,}.",
    ]
    table = "\n".join(lines + build_lines)
    print(table)
    out = Path(__file__).parent / "results" / "hashing.md"
    out.write_text(table + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
