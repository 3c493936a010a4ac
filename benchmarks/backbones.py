"""Backbones side by side: size, cost, CPU speed, and how well their pooled features retrieve Caltech-101.

Rows: every registered weight entry (``semvis.weights.list_weights``) whose file is available
offline (the cache or an installed package), plus a randomly initialised network for each
architecture named by ``--random`` that has no such file (a floor to read the others against).
For each row it prints:

- parameters and GFLOPs per image (``torch.utils.flop_counter``: one multiply-add = 2 FLOPs) of the
  feature network (no classifier), at the native input size of its weights (the entry's
  ``EvalTransform.size``; the architecture's ``default_input_size`` without weights);
- CPU images/s at that size, batch 1, eager, best of ``--repeats``;
- **Caltech-101 mAP@10** of the global average of the last stage (float features, cosine
  similarity): the 1,010 queries of ``query.txt`` against the 7,667 images of ``database.txt``,
  each image fed whole at its stored size (long side ≤ 192), relevant = same class, ties by
  database index (:func:`semvis.hashing.metrics.mean_average_precision`). The features come from
  the inference-fused network (BN folded, channels-last; the same outputs to float rounding) on
  ``--retrieval-threads`` threads (default 1: on a busy machine a second thread mostly waits).

A second table times each architecture's variants (eager, channels-last, inference-fused BN +
channels-last) at batch 1 and 8 against a large fp32 matmul measured in the same run (the
practical peak of this machine). Writes both to ``benchmarks/results/backbones.md``; nothing
is cached.

Usage: ``python benchmarks/backbones.py [--repeats 5] [--threads N] [--retrieval-threads 1]
[--random xception] [--only NAME …] [--no-variants] [--data DIR]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from timing import best_seconds, count_flops, matmul_flops_per_s

from semvis.atomic import atomic_path
from semvis.backbones import Backbone, create_backbone
from semvis.data import ImageFolderDataset
from semvis.hashing.metrics import mean_average_precision
from semvis.nn.fuse import fuse_conv_bn
from semvis.paths import data_root
from semvis.weights import WeightEntry, available_offline, list_weights

OUTPUT = Path(__file__).parent / "results" / "backbones.md"
MAP_K = 10


@dataclass(frozen=True)
class Row:
    """One backbone to measure: an architecture with a weight entry, or with random weights (``entry=None``)."""

    arch: str
    entry: WeightEntry | None

    @property
    def label(self) -> str:
        return self.entry.name if self.entry else f"{self.arch} (random init)"

    def build(self) -> Backbone:
        model = create_backbone(self.arch, pretrained=self.entry.name if self.entry else False)
        return model.eval()

    def input_size(self, model: Backbone) -> int:
        return self.entry.transform.size if self.entry else model.default_input_size


def rows_to_measure(random_archs: list[str], only: list[str] | None) -> list[Row]:
    rows = [Row(entry.arch, entry) for entry in list_weights() if available_offline(entry)]
    with_weights = {row.arch for row in rows}
    rows += [Row(arch, None) for arch in random_archs if arch not in with_weights]
    if only:
        rows = [row for row in rows if row.label in only or row.arch in only]
    return rows


def retrieval_split(root: Path) -> tuple[ImageFolderDataset, ImageFolderDataset]:
    """Caltech-101's ``(database, query)`` lists; images as stored, RGB in [0, 1]."""
    if not (root / "database.txt").is_file():
        raise SystemExit(f"{root}: not the Caltech-101 layout (images/, database.txt, query.txt); pass --data")
    images = root / "images"
    return (
        ImageFolderDataset(images, list_file=root / "database.txt"),
        ImageFolderDataset(images, list_file=root / "query.txt"),
    )


def pooled_features(net: torch.nn.Module, dataset: ImageFolderDataset, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length global averages of a headless network's output (its last stage), one image at a time
    (sizes differ), and the labels."""
    features, labels = [], []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(len(dataset)):
            image, label = dataset[i]
            feature = net(image[None].contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
            features.append(torch.nn.functional.normalize(feature, dim=1)[0].numpy())
            labels.append(label)
            if (i + 1) % 1000 == 0 or i + 1 == len(dataset):
                rate = (i + 1) / (time.perf_counter() - start)
                print(f"  {what}: {i + 1}/{len(dataset)} images, {rate:.1f} img/s", file=sys.stderr, flush=True)
    return np.stack(features), np.asarray(labels)


def retrieval_map(model: Backbone, database: ImageFolderDataset, query: ImageFolderDataset, label: str) -> float:
    """mAP@K of the pooled last stage of ``model`` (built without classifier, so ``forward`` ends there)."""
    net = fuse_conv_bn(model).to(memory_format=torch.channels_last)
    db_features, db_labels = pooled_features(net, database, f"{label} database")
    q_features, q_labels = pooled_features(net, query, f"{label} queries")
    distances = -(q_features @ db_features.T)  # cosine similarity of unit vectors, nearest first
    return mean_average_precision(q_labels, db_labels, distances, k=MAP_K)


def variants(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {
        "eager": model,
        "channels-last": model.to(memory_format=torch.channels_last),
        "fused BN + channels-last": fuse_conv_bn(model).to(memory_format=torch.channels_last),
    }


def variant_rows(arch: str, size: int, repeats: int, peak: float) -> list[str]:
    model = create_backbone(arch).eval()
    flops = count_flops(partial(model, torch.rand(1, 3, size, size)))
    lines = []
    for label, variant in variants(model).items():
        fmt = torch.channels_last if "channels" in label else torch.contiguous_format
        for batch in (1, 8):
            x = torch.rand(batch, 3, size, size).contiguous(memory_format=fmt)
            with torch.inference_mode():
                rate = batch / best_seconds(partial(variant, x), repeats)
            lines.append(f"| {arch} | {size} | {label} | {batch} | {flops / 1e9:.2f} | {rate:.2f} | "
                         f"{100 * flops * rate / peak:.0f}% |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--retrieval-threads", type=int, default=1)
    parser.add_argument("--random", nargs="*", default=["xception"], metavar="ARCH",
                        help="architectures measured with random weights when none are available offline")  # fmt: skip
    parser.add_argument("--only", nargs="+", metavar="NAME", help="entry names or architectures to measure")
    parser.add_argument("--no-variants", action="store_true", help="skip the eager/channels-last/fused timing table")
    parser.add_argument("--no-retrieval", action="store_true", help="skip the Caltech-101 mAP (a quick timing run)")
    parser.add_argument("--data", type=Path, default=data_root() / "caltech101")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = rows_to_measure(args.random, args.only)
    if not rows:
        raise SystemExit("nothing to measure: no weights available offline and no --random architecture")
    database, query = retrieval_split(args.data)
    load_before = os.getloadavg()[0]
    peak = matmul_flops_per_s(args.repeats)

    table = [
        "| backbone | weights | input | params | GFLOPs/img | img/s | Caltech-101 mAP@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    sizes: dict[str, int] = {}
    for row in rows:
        print(f"{row.label} …", file=sys.stderr, flush=True)
        model = row.build()
        size = row.input_size(model)
        sizes.setdefault(row.arch, size)
        x = torch.rand(1, 3, size, size)
        params = sum(p.numel() for p in model.parameters())
        flops = count_flops(partial(model, x))
        score = None
        if not args.no_retrieval:
            torch.set_num_threads(args.retrieval_threads)
            score = retrieval_map(model, database, query, row.label)
            torch.set_num_threads(args.threads)
        with torch.inference_mode():  # timed after the retrieval pass, so one-time initialisation is done
            rate = 1 / best_seconds(partial(model, x), args.repeats)
        weights = row.entry.name if row.entry else "random init"
        shown = "—" if score is None else f"{score:.3f}"
        table.append(f"| {row.arch} | {weights} | {size} | {params:,} | {flops / 1e9:.2f} | {rate:.1f} | {shown} |")
        print(table[-1], file=sys.stderr, flush=True)

    lines = [
        f"CPU: {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}; "
        f"best square fp32 matmul: {peak / 1e9:.1f} GFLOP/s (best of {args.repeats} runs, n = 1024/2048/3072); "
        f"1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other jobs "
        "on the machine slow the timings down)",
        "",
        "## Which backbone",
        "",
        "Feature networks without classifier. params, GFLOPs and img/s (batch 1, eager, best of "
        f"{args.repeats}) at the native input size of the weights. mAP@{MAP_K}: Caltech-101, "
        f"{len(query)} queries (query.txt) against {len(database)} database images (database.txt), "
        "whole images at their stored size (long side ≤ 192), global average of the last stage, cosine "
        "similarity, relevant = same class (features from the BN-fused channels-last network).",
        "",
        *table,
    ]
    if not args.no_variants:
        lines += [
            "",
            "## Throughput variants",
            "",
            "| backbone | input | variant | batch | GFLOPs/img | img/s | % of matmul FLOP/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for arch, size in sizes.items():
            lines += variant_rows(arch, size, args.repeats, peak)
    text = "\n".join(lines) + "\n"
    print(text)
    with atomic_path(args.output) as tmp:
        tmp.write_text(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
