"""Retrieval quality of trained hashing runs side by side: mAP@K, P@K, per-class tables, PR curves.

Each ``--run NAME=DIR`` names the output folder of one ``semvis train hash`` run (its
``retrieval.json``); the first two runs get the Table II/III-style per-class comparison. Prints
Markdown and writes it to ``--output`` (default ``benchmarks/results/hashing_retrieval.md``), and the
precision–recall curves of the runs to ``--chart`` (default ``docs/images/hashing_pr.png``).

Usage: ``python benchmarks/hashing_retrieval.py --run PSP=runs/hash-psp48 --run baseline=runs/hash-base48``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semvis.atomic import atomic_path
from semvis.hashing.evaluate import RetrievalScores, comparison_table, per_class_tables, pr_chart


def read_run(spec: str) -> tuple[str, RetrievalScores]:
    name, sep, folder = spec.partition("=")
    if not sep:
        raise SystemExit(f"--run {spec!r}: expected NAME=DIR")
    path = Path(folder) / "retrieval.json"
    try:
        return name, RetrievalScores.from_dict(json.loads(path.read_text())["scores"])
    except (OSError, KeyError, ValueError) as e:
        raise SystemExit(f"{path}: not a hashing run's report ({type(e).__name__}: {e})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=DIR of a semvis train hash run")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/hashing_retrieval.md"))
    parser.add_argument("--chart", type=Path, default=Path("docs/images/hashing_pr.png"))
    args = parser.parse_args()
    runs = dict(read_run(spec) for spec in args.run)
    parts = ["## Ranking quality (relevant = same class; ties by database index)", comparison_table(runs)]
    pair = dict(list(runs.items())[:2])
    for k, table in per_class_tables(pair).items():
        parts += [f"## Per-class mAP@{k}", table]
    text = "\n\n".join(parts) + "\n"
    print(text)
    with atomic_path(args.output) as tmp:
        tmp.write_text(text)
    chart = pr_chart(runs, "Caltech-101 query set: precision vs recall over Hamming radius 0 ... bits")
    with atomic_path(args.chart) as tmp:
        chart.save(tmp, format="PNG")


if __name__ == "__main__":
    main()
