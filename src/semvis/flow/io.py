"""Middlebury ``.flo`` files (Baker et al. 2011), as used by MPI-Sintel, and flow layouts.

The format: float32 tag 202021.25 (the bytes "PIEH"), int32 width, int32 height, then
``height × width`` row-major ``(u, v)`` float32 pairs, all little-endian. In memory a
flow is an ``H × W × 2`` float32 array; :func:`flow_to_tensor` gives the
``1 × 2 × H × W`` layout that :func:`semvis.nn.warp.warp` takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from semvis.atomic import atomic_path
from semvis.errors import DataError

TAG = 202021.25
_HEADER = np.dtype([("tag", "<f4"), ("width", "<i4"), ("height", "<i4")])


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``.flo`` file as an ``H × W × 2`` float32 array; DataError naming the file if malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read flow file ({e.strerror or e})") from None
    if len(data) < _HEADER.itemsize:
        raise DataError(f"{path}: truncated flow file ({len(data)} bytes, shorter than the 12-byte header)")
    header = np.frombuffer(data, _HEADER, count=1)[0]
    if header["tag"] != np.float32(TAG):
        raise DataError(f"{path}: not a Middlebury .flo file (tag {header['tag']!r}, expected {TAG})")
    width, height = int(header["width"]), int(header["height"])
    if width <= 0 or height <= 0:
        raise DataError(f"{path}: invalid flow size {width}x{height}")
    expected = _HEADER.itemsize + 8 * width * height
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "oversized"
        raise DataError(f"{path}: {kind} flow file ({len(data)} bytes, {width}x{height} needs {expected})")
    flow = np.frombuffer(data, "<f4", offset=_HEADER.itemsize).reshape(height, width, 2)
    return flow.astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> Path:
    """Atomically write an ``H × W × 2`` flow as a ``.flo`` file."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] == 0 or flow.shape[1] == 0:
        raise ValueError(f"flow must be a non-empty H×W×2 array, got shape {flow.shape}")
    path = Path(path)
    header = np.array([(TAG, flow.shape[1], flow.shape[0])], dtype=_HEADER)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(header.tobytes() + flow.astype("<f4").tobytes())
    except OSError as e:
        raise DataError(f"{path}: cannot write flow file ({e.strerror or e})") from None
    return path


def flow_to_tensor(flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An ``H × W × 2`` flow array as a float32 ``1 × 2 × H × W`` tensor; tensors pass through."""
    if isinstance(flow, torch.Tensor):
        return flow
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be an H×W×2 array, got shape {flow.shape}")
    return torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)[None]
