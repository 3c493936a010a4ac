"""Atomic file and folder writes: write beside the target, then ``os.replace``.

A failed or interrupted write leaves the previous file untouched and no temporary
file behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from semvis.errors import DataError


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


@contextmanager
def atomic_dir(target: str | Path | None) -> Iterator[Path | None]:
    """Yield a hidden folder beside ``target`` whose files move into ``target`` on success.

    ``target`` may exist already (its other files stay); on failure the staged files vanish
    and ``target`` is left as it was. ``None`` yields ``None``: nothing is staged.
    """
    if target is None:
        yield None
        return
    target = Path(target)
    tmp = temp_sibling(target)
    tmp.mkdir()
    try:
        yield tmp
        target.mkdir(exist_ok=True)
        for file in sorted(tmp.iterdir()):
            os.replace(file, target / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_writable(path: str | Path) -> None:
    """Fail before any work when nothing could be written at ``path`` (DataError naming the obstacle)."""
    path = Path(path)
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not existing.is_dir():
        raise DataError(f"{path}: cannot write there, {existing} is a file")
    if not os.access(existing, os.W_OK):
        raise DataError(f"{path}: cannot write there, {existing} is not writable")
