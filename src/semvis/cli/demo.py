"""``semvis demo``: run every capability's showcase on bundled inputs and write pictures."""

from __future__ import annotations

import argparse
from pathlib import Path

from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.demo import SHOWCASES, run_demo


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the showcases on bundled photos and write pictures")
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    parser.add_argument("--only", nargs="+", choices=SHOWCASES, help="run only these showcases")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with progress_bars() as progress:
        written = run_demo(args.out, args.only, progress, args.device)
    out = console()
    for path in written:
        out.print(f"wrote {path}")
    return 0
