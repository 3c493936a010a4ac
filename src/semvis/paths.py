"""Where semvis keeps its cache and finds the real datasets.

Environment variables:

- ``SEMVIS_HOME``: cache root for weights (default ``~/.cache/semvis``).
- ``SEMVIS_DATA``: the shared datasets (default ``../shared/data`` from the working directory).
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


def data_root() -> Path:
    """Root of the shared datasets (may not exist)."""
    return Path(os.environ.get("SEMVIS_DATA", "../shared/data")).expanduser()


def offline() -> bool:
    """True when network access is forbidden (``SEMVIS_OFFLINE`` set to 1/true/yes)."""
    return os.environ.get("SEMVIS_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
