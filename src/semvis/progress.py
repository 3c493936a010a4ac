"""Progress of long jobs through callbacks: library code says how far it is, its caller shows it.

A job calls :func:`report` (or iterates with :func:`tracked`); with ``callback=None`` nothing
happens. The ``semvis`` command draws the updates as bars (:mod:`semvis.cli.progress`); a notebook,
a server or a test can log, forward or collect them instead. No terminal library is imported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressUpdate:
    """How far one task is: ``done`` of ``total`` units (``None``: unknown), with a short status."""

    task: str  #: what is running, e.g. "stylize", "epoch 3/10"
    done: int
    total: int | None
    status: str = ""  #: short text, e.g. "loss 1.2e+05"


ProgressCallback = Callable[[ProgressUpdate], None]


def report(callback: ProgressCallback | None, task: str, done: int, total: int | None, status: str = "") -> None:
    """Send one :class:`ProgressUpdate` to ``callback`` (no-op for ``None``)."""
    if callback is not None:
        callback(ProgressUpdate(task, done, total, status))


def tracked(items: Iterable[T], task: str, callback: ProgressCallback | None, total: int | None = None) -> Iterator[T]:
    """Yield ``items``, reporting 0 first and the count after each item; ``total`` defaults to ``len(items)``."""
    if callback is None:
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    report(callback, task, 0, total)
    for done, item in enumerate(items, start=1):
        yield item
        report(callback, task, done, total)
