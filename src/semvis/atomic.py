"""Atomic file writes: write beside the target, then ``os.replace``.

A failed or interrupted write leaves the previous file untouched and no temporary
file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_sibling(target: Path) -> Path:
    """A fresh hidden temporary path beside ``target`` with the same suffix.

    The suffix is kept so that writers which pick a format from it (Pillow, PyAV)
    still work; the same folder keeps ``os.replace`` atomic.
    """
    return target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    try:
        yield tmp
        with open(tmp, "rb") as handle:  # flush to disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
