"""Semantic hashing over code lengths, with and without PSP, per trunk: the table of issue 15.

For every ``--backbone`` × ``--bits`` × {PSP, baseline} it runs the frozen-trunk recipe of
:func:`semvis.hashing.train.train_semantic_hashing` into ``--runs/<backbone>-<features>-<method>-<bits>``
(a run whose ``retrieval.json`` exists is read, not redone, so the sweep resumes after a kill).
Trunk maps and phase 1 are cached once per trunk in ``--cache``. Each row also carries the bar the
codes must clear — the cosine ranking of the same trunk's globally pooled float features, measured on
the same cached maps — and how the codes use their bits.

Writes Markdown to ``--output`` (default ``benchmarks/results/hashing_sweep.md``) and the
precision–recall curves of the ``--chart-bits`` runs to ``--chart``.

Usage: ``python benchmarks/hashing_sweep.py --data ../shared/data/caltech101 --segment-data
../shared/data/camvid --backbone xception --bits 16 32 48 64 128``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from semvis.atomic import atomic_path
from semvis.hashing.codes import CODE_LENGTHS
from semvis.hashing.evaluate import RetrievalScores, pr_chart
from semvis.hashing.train import train_semantic_hashing
from semvis.paths import data_root

METHODS = ("PSP", "baseline")


def run_folder(args: argparse.Namespace, backbone: str, method: str, bits: int) -> Path:
    return args.runs / f"{backbone}-{args.features}-{method}-{bits}{f'-seed{args.seed}' if args.seed else ''}"


def run_once(args: argparse.Namespace, backbone: str, method: str, bits: int) -> dict[str, Any]:
    """The report of one run, training it first unless its folder already holds one."""
    out = run_folder(args, backbone, method, bits)
    report = out / "retrieval.json"
    if not report.is_file():
        start = time.perf_counter()
        train_semantic_hashing(
            args.data,
            out,
            segmentation_root=args.segment_data if method == "PSP" else None,
            cache_dir=args.cache,
            backbone=backbone,
            bits=bits,
            hidden=args.hidden,
            dropout=args.dropout,
            feature_layer=args.features,
            segmentation_overrides={"epochs": args.segment_epochs, "lr": args.segment_lr},
            quantization=args.quantization,
            balance=args.balance,
            epochs=args.epochs,
            lr=args.lr,
            optimizer=args.optimizer,
            scheduler=args.scheduler,
            seed=args.seed,
            log_every=10_000,
        )
        data = json.loads(report.read_text())
        data["seconds"] = time.perf_counter() - start
        report.write_text(json.dumps(data, indent=1))
    return json.loads(report.read_text())


def table(rows: list[tuple[str, str, int, dict[str, Any]]]) -> str:
    head = (
        "| trunk | method | bits | mAP@10 | mAP@50 | P@10 | float mAP@10 | codes − float | train acc | "
        "distinct codes | bit balance | mean abs bit corr |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for backbone, method, bits, r in rows:
        s, f, c = r["summary"], r["float_features"], r["codes"]
        accuracy = r["hash_phase"].get("train_acc", float("nan"))
        lines.append(
            f"| {backbone} | {method} | {bits} | {s['map@10']:.3f} | {s['map@50']:.3f} | {s['p@10']:.3f} | "
            f"{f['map@10']:.3f} | {s['map@10'] - f['map@10']:+.3f} | {accuracy:.3f} | "
            f"{c['distinct']} ({c['distinct_fraction']:.0%}) | {c['bit_balance']:.3f} | {c['bit_correlation']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data_root() / "caltech101")
    parser.add_argument("--segment-data", type=Path, default=data_root() / "camvid")
    parser.add_argument("--backbone", nargs="+", default=["vgg16", "xception", "mobilenet_v2"])
    parser.add_argument("--bits", nargs="+", type=int, default=list(CODE_LENGTHS), choices=CODE_LENGTHS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--features", default="final", choices=("semifinal", "final"))
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--quantization", type=float, default=0.0)
    parser.add_argument("--balance", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--scheduler", default="step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="phase 2's seed (a run folder per seed other than 0)")
    parser.add_argument("--segment-epochs", type=int, default=30)
    parser.add_argument("--segment-lr", type=float, default=1e-3)
    parser.add_argument("--runs", type=Path, default=Path("runs/hash-sweep"))
    parser.add_argument("--cache", type=Path, default=Path("runs/hash-cache"))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/hashing_sweep.md"))
    parser.add_argument("--chart", type=Path, default=Path("benchmarks/results/hashing_sweep_pr.png"))
    parser.add_argument("--chart-bits", type=int, default=48)
    parser.add_argument("--report-only", action="store_true", help="tabulate the runs that exist, train none")
    args = parser.parse_args()
    grid = [(backbone, method, bits) for backbone in args.backbone for bits in args.bits for method in args.methods]
    if args.report_only:
        grid = [cell for cell in grid if (run_folder(args, *cell) / "retrieval.json").is_file()]
    rows = [(backbone, method, bits, run_once(args, backbone, method, bits)) for backbone, method, bits in grid]
    seconds = sum(r.get("seconds", 0.0) for *_, r in rows)
    text = "\n\n".join(
        [
            f"# Semantic hashing sweep ({args.features} trunk features, FC {args.hidden}, dropout {args.dropout:g}, "
            f"{args.optimizer} lr {args.lr:g} {args.scheduler}, {args.epochs} epochs, "
            f"quantization {args.quantization:g}, balance {args.balance:g})",
            f"{args.data.name}: database.txt trains and is searched, query.txt queries. CPU: "
            f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
            f"{seconds / 60:.0f} min of training in the runs made by this invocation or earlier ones.",
            table(rows),
        ]
    )
    print(text)
    with atomic_path(args.output) as tmp:
        tmp.write_text(text + "\n")
    curves = {
        f"{backbone} {method}": RetrievalScores.from_dict(r["scores"])
        for backbone, method, bits, r in rows
        if bits == args.chart_bits
    }
    if curves:
        chart = pr_chart(curves, f"{args.data.name}, {args.chart_bits} bits: precision vs recall over Hamming radius")
        with atomic_path(args.chart) as tmp:
            chart.save(tmp, format="PNG")


if __name__ == "__main__":
    main()
