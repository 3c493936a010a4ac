"""Atomic checkpoint files that load with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors, state dicts and plain Python containers; it is
written to a temporary file next to its destination and moved into place with
:func:`os.replace`, so a crash mid-write never damages the previous checkpoint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from semvis.atomic import atomic_path
from semvis.errors import SemvisError

_NAME = re.compile(r"^checkpoint-epoch(\d+)\.pt$")


class CheckpointError(SemvisError):
    """A checkpoint could not be written, found or read."""


def checkpoint_path(out_dir: str | os.PathLike[str], epoch: int) -> Path:
    """Where the checkpoint taken after ``epoch`` completed epochs lives."""
    return Path(out_dir) / f"checkpoint-epoch{epoch:04d}.pt"


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except Exception as error:
        raise CheckpointError(f"could not write checkpoint {path}: {error}") from error


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    # A damaged file surfaces as RuntimeError, EOFError, KeyError, UnpicklingError, ...
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {error}") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a dict (got {type(state).__name__})")
    return state


def latest_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """The checkpoint with the highest epoch in ``out_dir``, or ``None`` if there is none."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return max(found)[1] if found else None
