"""Entry point of the ``semvis`` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from semvis import __version__
from semvis.errors import SemvisError

#: Subcommand modules in the order ``semvis --help`` lists them. Each defines
#: ``register(subparsers)`` and sets ``func`` on its parser.
COMMANDS = (
    "demo",
    "info",
    "weights",
    "classify",
    "segment",
    "colorize",
    "serve",
    "train",
    "index",
    "search",
    "stylize",
    "style",
    "video",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semvis",
        description="Semantic vision toolkit: Xception, semantic colorization, neural style "
        "transfer, semantic deep hashing and Deep Feature Flow.",
    )
    parser.add_argument("--version", action="version", version=f"semvis {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"semvis.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, show_time=False)],
    )
    try:
        return args.func(args) or 0
    except SemvisError as exc:
        print(f"semvis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
