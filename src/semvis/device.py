"""Where tensors live: one way to name a device, and mixed precision on it.

:func:`resolve_device` turns ``"auto"`` into CUDA, else Apple's MPS, else the CPU, and checks
explicit names (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``) against this machine, so a typo or
a missing GPU is one clear :class:`~semvis.errors.DeviceError` instead of a traceback later.

Library entry points take ``device: DeviceSpec | None = None``: ``None`` leaves the model where it
is (loaders put models on the CPU); anything else goes through :func:`resolve_device` and the model
is moved there (:func:`place`). Inputs follow the model, and results come back on the CPU.
"""

from __future__ import annotations

import contextlib
import re

import torch
from torch import nn

from semvis.errors import DeviceError

DeviceSpec = str | torch.device
#: Training precisions: fp32, or autocast to bfloat16 (CPU, CUDA, MPS) or float16 (CUDA, with loss scaling).
PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_NAME = re.compile(r"(auto|cpu|mps|cuda)(?::(\d+))?")
_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    return torch.backends.mps.is_available()


def resolve_device(spec: DeviceSpec | None = "auto") -> torch.device:
    """The device ``spec`` names on this machine; ``None`` and ``"auto"``: CUDA, else MPS, else CPU.

    CUDA devices come back with their index (``"cuda"`` is the current one). Unknown names and
    hardware this machine lacks raise :class:`~semvis.errors.DeviceError`.
    """
    if isinstance(spec, torch.device):
        kind, index = spec.type, spec.index
    else:
        match = _NAME.fullmatch("auto" if spec is None else str(spec).strip().lower())
        if match is None or (match[2] is not None and match[1] != "cuda"):
            raise DeviceError(f"unknown device {spec!r}; use {_CHOICES}")
        kind, index = match[1], None if match[2] is None else int(match[2])
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise DeviceError("mps requested but torch.backends.mps.is_available() is False on this machine")
        return torch.device("mps", 0)
    if kind != "cuda":
        raise DeviceError(f"unsupported device {spec!r}; use {_CHOICES}")
    name = "cuda" if index is None else f"cuda:{index}"
    if not torch.cuda.is_available():
        raise DeviceError(f"{name} requested but torch.cuda.is_available() is False on this machine")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if index is None else index
    if index >= count:
        raise DeviceError(f"{name} requested but this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (the CPU for a module without either)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def place(model: nn.Module, device: DeviceSpec | None) -> torch.device:
    """Move ``model`` to ``resolve_device(device)`` (``None``: leave it); return where it now is."""
    if device is not None:
        model.to(resolve_device(device))
    return model_device(model)


def check_precision(device: DeviceSpec, precision: str) -> None:
    """Refuse a precision outside :data:`PRECISIONS`, or fp16 off CUDA (CPU and MPS train in bf16)."""
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    kind = torch.device(device).type
    if precision == "fp16" and kind != "cuda":
        raise DeviceError(f"fp16 needs a CUDA device, not {kind}; use bf16 or fp32 there")


def autocast(device: DeviceSpec, precision: str = "fp32") -> contextlib.AbstractContextManager[object]:
    """Autocast to ``precision`` on ``device`` (fp32: no autocast); checked by :func:`check_precision`."""
    check_precision(device, precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_AUTOCAST_DTYPES[precision])
