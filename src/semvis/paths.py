"""Where semvis keeps its cache and finds the real datasets.

Environment variables:

- ``SEMVIS_HOME``: cache root for weights (default ``~/.cache/semvis``).
- ``SEMVIS_DATA``: the shared datasets. Unset, :func:`data_root` looks for ``shared/data`` beside
  the source checkout semvis runs from (``<repo>/../shared/data``, whatever the working
  directory), then for ``../shared/data`` from the working directory (an installed package).
- ``SEMVIS_OFFLINE=1``: never touch the network (tests set it).
"""

from __future__ import annotations

import os
from pathlib import Path


def semvis_home() -> Path:
    """The cache root; created lazily by whoever writes into it."""
    return Path(os.environ.get("SEMVIS_HOME", Path.home() / ".cache" / "semvis")).expanduser()


def weights_cache() -> Path:
    """Folder that holds downloaded or imported weight files."""
    return semvis_home() / "weights"


def _source_checkout() -> Path | None:
    """The repository root when semvis runs from a source checkout (``<repo>/src/semvis``)."""
    repo = Path(__file__).resolve().parents[2]
    return repo if (repo / "pyproject.toml").is_file() else None


def data_root() -> Path:
    """Root of the shared datasets (may not exist): ``$SEMVIS_DATA``, else the first existing default.

    The defaults, in order: ``<repo>/../shared/data`` for a source checkout, then
    ``../shared/data`` from the working directory; when neither exists, the first of them.
    """
    if "SEMVIS_DATA" in os.environ:
        return Path(os.environ["SEMVIS_DATA"]).expanduser()
    repo = _source_checkout()
    candidates = [repo.parent / "shared" / "data"] if repo else []
    candidates.append((Path.cwd() / ".." / "shared" / "data").resolve())
    return next((path for path in candidates if path.is_dir()), candidates[0])


def offline() -> bool:
    """True when network access is forbidden (``SEMVIS_OFFLINE`` set to 1/true/yes)."""
    return os.environ.get("SEMVIS_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
