"""The ``semvis`` command: one module per subcommand; each only parses and calls the library."""

from __future__ import annotations

import sys

from rich.console import Console


def console() -> Console:
    """Console for command output; wide when piped, so tables are not folded at 80 columns."""
    return Console(width=None if sys.stdout.isatty() else 200)
