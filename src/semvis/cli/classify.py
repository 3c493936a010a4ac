"""``semvis classify IMAGE…``: top-k predictions of a backbone with weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from semvis.backbones import list_backbones
from semvis.classify import classify, load_classifier
from semvis.cli import console


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("classify", help="top-k classes of images (ImageNet names for 1000 classes)")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--arch", default="xception", choices=list_backbones())
    parser.add_argument(
        "--weights",
        required=True,
        help="weight file or registered weight name; a `semvis train classify` model file brings its own "
        "architecture and class count",
    )
    parser.add_argument("--classes", type=int, default=1000, help="classifier size (default 1000)")
    parser.add_argument("--labels", type=Path, help="text file with one class name per line")
    parser.add_argument("--size", type=int, help="input size (default: the architecture's, e.g. 299 for Xception)")
    parser.add_argument("--top", type=int, default=5)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_classifier(args.arch, args.weights, args.classes)
    labels = args.labels.read_text().splitlines() if args.labels else None
    size = args.size or model.default_input_size
    out = console()
    for path in args.images:
        table = Table("rank", "class", "probability", title=str(path))
        for rank, pred in enumerate(classify(model, path, size, args.top, labels, args.device), start=1):
            table.add_row(str(rank), f"{pred.label} ({pred.index})", f"{pred.probability:.3f}")
        out.print(table)
    return 0
