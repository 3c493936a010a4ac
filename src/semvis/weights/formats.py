"""Weight file formats: a registry of converters into semvis state dicts, and file sniffing.

A converter reads a file without unpickling arbitrary objects (``torch.load`` with
``weights_only=True``, safetensors, or HDF5 datasets) and returns a state dict whose keys
are semvis module names (``stages.conv1_1.weight``…). Each format names the input
convention its weights were trained with. Formats of one network family (e.g. Keras
Xception ``.h5``) are registered by that family's own module, beside the model; this module
knows only semvis' own safetensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from semvis.errors import WeightsError
from semvis.weights.spec import TORCHVISION_RGB, InputSpec

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class WeightFormat:
    """A kind of weight file: its suffixes, converter and input convention.

    ``archs``: the architectures whose files come in this format (empty: any semvis model).
    """

    name: str
    suffixes: tuple[str, ...]
    input_spec: InputSpec
    convert: Callable[[Path], StateDict]
    description: str
    archs: tuple[str, ...] = ()


FORMATS: dict[str, WeightFormat] = {}


def register_format(fmt: WeightFormat) -> WeightFormat:
    """Add ``fmt`` to :data:`FORMATS`; a name registered twice raises."""
    if fmt.name in FORMATS:
        raise ValueError(f"weight format {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


def sniff(path: Path) -> str:
    """What a file is, from its first bytes: a name for error messages."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (a PyTorch torch.save checkpoint or a Keras 3 .keras file)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras .h5 weights)"
    if head[:1] == b"\x80" and head[1:2] in {bytes([n]) for n in range(2, 6)}:
        return "a Python pickle (a legacy torch.save checkpoint)"
    if len(head) >= 9 and head[8:9] == b"{":
        return "a safetensors file"
    if head.startswith((b"\x08", b"\n")):
        return "possibly an ONNX/protobuf file"
    return "not a weight file semvis knows (first bytes " + head[:8].hex() + ")"


def torch_load(path: Path) -> dict:
    """``torch.load`` restricted to tensors and plain containers, with a clear error."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise WeightsError(f"{path}: not a readable PyTorch weight file ({exc})") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def convert_safetensors(path: Path) -> StateDict:
    """semvis' own format: safetensors with semvis key names (fp16 allowed)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return {k: v.float() for k, v in load_file(str(path)).items()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file: it is {sniff(path)} ({exc})") from None


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file; one clear error for a missing or foreign file."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        raise WeightsError(f"{path}: not a readable safetensors file: it is {sniff(path)}") from None


SAFETENSORS = register_format(
    WeightFormat(
        "safetensors",
        (".safetensors",),
        TORCHVISION_RGB,
        convert_safetensors,
        "semvis safetensors (semvis key names, input convention in the header)",
    )
)


def format_for_file(path: Path, arch: str | None = None) -> WeightFormat:
    """The format of a local file, from its suffix among the formats of ``arch``."""
    candidates = [f for f in FORMATS.values() if arch is None or not f.archs or arch in f.archs]
    for fmt in candidates:
        if path.suffix.lower() in fmt.suffixes:
            return fmt
    known = ", ".join(f"{s} ({f.name})" for f in candidates for s in f.suffixes)
    what = f" for {arch}" if arch else ""
    raise WeightsError(f"{path}: unknown weight file type {path.suffix!r}{what}; expected one of {known}")
