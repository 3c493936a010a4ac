"""One file format for every model semvis trains, and one registry that rebuilds them.

A model file is safetensors (fp16 by default) whose header holds, under the key ``semvis``,
one JSON object (:class:`ModelHeader`): the model's ``kind`` and the ``config`` its builder
takes, the format ``version``, the ``labels`` it predicts, the pixel convention of every
:class:`~semvis.weights.spec.InputSpec`-carrying module (``inputs``), tensors it leaves out on
purpose because they come from the weights registry (``shared``), and ``provenance`` (data,
command, metrics). :func:`save_model` writes it; :func:`load_model` rebuilds the model through
the builder registered for its kind (:func:`register_model`) and loads the tensors strictly.

This module imports no model: each capability registers its kinds where it defines them.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semvis.atomic import atomic_path
from semvis.errors import WeightsError
from semvis.weights.formats import convert_safetensors, safetensors_metadata
from semvis.weights.load import load_state
from semvis.weights.spec import InputSpec

HEADER_KEY = "semvis"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SharedWeights:
    """Tensors under ``prefix`` are not in the file: the registry entry ``weights`` supplies them.

    ``stored``: prefixes under ``prefix`` whose tensors *are* in the file (backbone stages that
    were fine-tuned); on loading they replace the registry's values.
    """

    prefix: str
    weights: str
    stored: tuple[str, ...] = ()

    def leaves_out(self, key: str) -> bool:
        """Whether the file leaves tensor ``key`` to the registry entry."""
        return key.startswith(self.prefix) and not key.startswith(self.stored)


@dataclass(frozen=True)
class ModelHeader:
    """What a model file says about its model (everything but the tensors)."""

    kind: str
    config: dict[str, Any]
    version: int = FORMAT_VERSION
    labels: dict[str, Any] | None = None
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    shared: SharedWeights | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self) | {"inputs": {k: v.to_dict() for k, v in self.inputs.items()}}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ModelHeader:
        data = json.loads(text)
        shared = data.get("shared")
        return cls(
            kind=str(data["kind"]),
            config=dict(data["config"]),
            version=int(data["version"]),
            labels=data.get("labels"),
            inputs={k: InputSpec.from_dict(v) for k, v in (data.get("inputs") or {}).items()},
            shared=None
            if shared is None
            else SharedWeights(str(shared["prefix"]), str(shared["weights"]), tuple(shared.get("stored") or ())),
            provenance=dict(data.get("provenance") or {}),
        )


Builder = Callable[..., nn.Module]
#: Reads the safetensors metadata of a file written before the v1 header into a :class:`ModelHeader`.
Upgrade = Callable[[dict[str, str]], ModelHeader]
_KINDS: dict[str, Builder] = {}
_LEGACY: dict[str, Upgrade] = {}


def register_model(kind: str, build: Builder) -> None:
    """Register ``build(**config)`` as the builder of ``kind``; a kind registered twice raises."""
    if kind in _KINDS:
        raise ValueError(f"model kind {kind!r} is already registered")
    _KINDS[kind] = build


def register_legacy_header(key: str, upgrade: Upgrade) -> None:
    """Read files whose metadata has ``key`` (a pre-v1 header) through ``upgrade``."""
    if key in _LEGACY:
        raise ValueError(f"legacy header {key!r} is already registered")
    _LEGACY[key] = upgrade


def model_kinds() -> list[str]:
    return sorted(_KINDS)


def input_specs(model: nn.Module) -> dict[str, InputSpec]:
    """The pixel convention of every submodule that carries one (``spec`` of an input normaliser)."""
    return {
        name: module.spec
        for name, module in model.named_modules()
        if isinstance(getattr(module, "spec", None), InputSpec)
    }


def run_facts() -> dict[str, str]:
    """What every saved model records of the run that wrote it: command, time, software and machine."""
    machine = f"{os.cpu_count()} CPU threads ({platform.machine()})"
    if torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name()}"
    return {
        "command": shlex.join(sys.argv),
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "semvis": importlib.metadata.version("semvis"),
        "torch": torch.__version__,
        "machine": machine,
    }


def save_model(
    model: nn.Module,
    path: str | Path,
    kind: str,
    config: dict[str, Any],
    labels: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    shared: SharedWeights | None = None,
    half: bool = True,
) -> Path:
    """Write ``model``'s tensors (fp16 by default) and its :class:`ModelHeader`, atomically.

    ``provenance`` (data, metrics, notes) is recorded with :func:`run_facts`.
    """
    from safetensors.torch import save_file

    if kind not in _KINDS:
        raise ValueError(f"unknown model kind {kind!r}; registered: {', '.join(model_kinds())}")
    tensors = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if shared is None or not shared.leaves_out(k)
    }
    header = ModelHeader(
        kind,
        config,
        labels=labels,
        inputs=input_specs(model),
        shared=shared,
        provenance=run_facts() | (provenance or {}),
    )
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={HEADER_KEY: header.to_json()})
    return Path(path)


def read_header(path: str | Path, what: str = "semvis model") -> ModelHeader:
    """The :class:`ModelHeader` of a model file (a pre-v1 file through its registered upgrade).

    ``what`` names the expected model in the error for a file without a semvis header.
    """
    path = Path(path)
    meta = safetensors_metadata(path)
    try:
        if HEADER_KEY in meta:
            return ModelHeader.from_json(meta[HEADER_KEY])
        for key, upgrade in _LEGACY.items():
            if key in meta:
                return upgrade(meta)
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: malformed model header ({type(exc).__name__}: {exc})") from None
    raise WeightsError(f"{path}: not a {what} weight file (no semvis model header; metadata keys: {sorted(meta)})")


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module
    header: ModelHeader
    path: Path


def load_model(
    path: str | Path, kinds: tuple[str, ...] = (), device: torch.device | str | None = None, what: str = ""
) -> LoadedModel:
    """Rebuild the model in ``path`` in eval mode (on ``device``, default CPU).

    ``kinds``: the kinds the caller can use; another kind is refused with a message naming both
    and ``what`` the caller expected (default: the kinds).
    """
    path = Path(path)
    what = what or " or ".join(kinds) or "semvis model"
    header = read_header(path, what)
    if kinds and header.kind not in kinds:
        raise WeightsError(f"{path}: not a {what} weight file: it holds a {header.kind} model")
    if header.kind not in _KINDS:
        raise WeightsError(f"{path}: model kind {header.kind!r} is unknown; known: {', '.join(model_kinds())}")
    try:
        model = _KINDS[header.kind](**header.config)
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: malformed {header.kind} config ({type(exc).__name__}: {exc})") from None
    kept = None if header.shared is None else header.shared.prefix
    load_state(model, convert_safetensors(path), str(path), kept_prefix=kept)
    modules = dict(model.named_modules())
    for name, spec in header.inputs.items():
        if name not in modules or not hasattr(modules[name], "set_spec"):
            raise WeightsError(f"{path}: the header gives an input convention for {name!r}, which the model lacks")
        modules[name].set_spec(spec)
    return LoadedModel(model.eval().to(device or "cpu"), header, path)
