"""``semvis classify IMAGE…``: top-k predictions of a backbone with weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from semvis.backbones import list_backbones
from semvis.classify import classify, load_classifier
from semvis.cli import console
from semvis.cli.export import add_runtime_option
from semvis.cli.main import int_in_range
from semvis.errors import DataError
from semvis.nn.runtime import accelerate

#: The smallest input every backbone takes (VGG pools five times, then its classifier reads 1×1).
MIN_INPUT = 32


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
    parser.add_argument("--classes", type=int_in_range(1), default=1000, help="classifier size (default 1000)")
    parser.add_argument("--labels", type=Path, help="text file with one class name per line")
    parser.add_argument(
        "--size",
        type=int_in_range(MIN_INPUT),
        help=f"input size, at least {MIN_INPUT} (default: the architecture's, e.g. 299 for Xception)",
    )
    parser.add_argument("--top", type=int_in_range(1), default=5, help="classes shown per image (default 5)")
    add_runtime_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_classifier(args.arch, args.weights, args.classes)
    labels = None if args.labels is None else read_labels(args.labels, model.num_classes)
    size = args.size or model.default_input_size
    model = accelerate(model, runtime=args.runtime, device=args.device)
    out = console()
    for path in args.images:
        table = Table("rank", "class", "probability", title=str(path))
        for rank, pred in enumerate(classify(model, path, size, args.top, labels, args.device), start=1):
            table.add_row(str(rank), f"{pred.label} ({pred.index})", f"{pred.probability:.3f}")
        out.print(table)
    return 0


def read_labels(path: Path, count: int) -> list[str]:
    """The class names in ``path``, one a line: exactly ``count`` of them."""
    try:
        names = path.read_text(encoding="utf-8").rstrip("\r\n").splitlines()  # blank lines at the end: none
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read class names ({getattr(exc, 'strerror', None) or exc})") from None
    if len(names) != count:
        raise DataError(f"{path}: {len(names)} class names, but the classifier has {count} classes (one name a line)")
    return names
