"""Entry point of the ``semvis`` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from semvis import __version__
from semvis.cli.progress import DownloadBar
from semvis.device import resolve_device
from semvis.errors import SemvisError
from semvis.weights import download_progress

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
    "export",
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
    add_device_option(parser)
    return parser


DEVICE_HELP = "where the models run: auto (CUDA, else MPS, else the CPU; default), cpu, cuda, cuda:N or mps"


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device`` on every leaf command under ``parser`` that does not declare one itself."""
    commands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for action in commands:
        for child in set(action.choices.values()):  # an alias shares its command's parser
            add_device_option(child)
    if not commands and "--device" not in parser._option_string_actions:
        parser.add_argument("--device", help=DEVICE_HELP)  # None until main resolves it: auto


def int_in_range(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``minimum…maximum``; anything else is a usage error naming the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


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
        args.device = resolve_device(args.device)  # every command: an absent device is one clear error
        download_progress.set(DownloadBar())
        return args.func(args) or 0
    except SemvisError as exc:
        print(f"semvis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
