"""Loading converted weights into semvis modules, and saving our own."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from torch import nn

from semvis.atomic import atomic_path
from semvis.backbones.base import Backbone, InputSpec
from semvis.errors import WeightsError
from semvis.weights.fetch import resolve
from semvis.weights.formats import FORMATS, StateDict, format_for_file, safetensors_input_spec
from semvis.weights.registry import WeightEntry, default_weights, get_weights

log = logging.getLogger("semvis.weights")


def looks_like_entry_name(text: str) -> bool:
    """``vgg19.torchvision`` is a registry name; ``./w.pth`` or ``w.h5`` are files."""
    path = Path(text)
    is_file_like = (
        path.exists() or "/" in text or path.suffix.lower() in {s for f in FORMATS.values() for s in f.suffixes}
    )
    return not is_file_like


def pick_entry(arch: str, pretrained: bool | str | Path) -> tuple[WeightEntry | None, Path | None]:
    """Turn ``pretrained`` (True, an entry name or a path) into (entry, explicit path)."""
    if pretrained is True:
        return default_weights(arch), None
    if isinstance(pretrained, str) and looks_like_entry_name(pretrained):
        entry = get_weights(pretrained)
        if entry.arch != arch:
            raise WeightsError(f"weights {entry.name} are for {entry.arch}, not {arch}")
        return entry, None
    return None, Path(pretrained).expanduser()


def read_state(path: Path, fmt_name: str | None = None) -> tuple[StateDict, InputSpec]:
    """Convert a weight file into a semvis state dict plus its input convention."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    fmt = FORMATS[fmt_name] if fmt_name else format_for_file(path)
    state = fmt.convert(path)
    spec = fmt.input_spec
    if fmt.name == "safetensors":
        spec = safetensors_input_spec(path) or spec
    return state, spec


def load_state(model: nn.Module, state: StateDict, source: str, kept_prefix: str | None = None) -> None:
    """Load ``state`` into ``model``, dropping a classifier of the wrong size.

    Missing backbone keys, unexpected keys and shape mismatches raise one
    :class:`WeightsError` naming ``source``; a classifier absent from the file
    (``notop`` weights) or of another class count is logged and left initialised.
    ``kept_prefix``: tensors the file leaves out on purpose (``save_safetensors(skip_prefix=…)``,
    e.g. a frozen backbone already loaded from the registry) keep the model's own values.
    """
    own = model.state_dict()
    if kept_prefix is not None:
        state = {k: v for k, v in own.items() if k.startswith(kept_prefix)} | state
    dropped = [k for k, v in state.items() if k.startswith("head.") and (k not in own or own[k].shape != v.shape)]
    for key in dropped:
        del state[key]
    if dropped:
        log.warning("%s: classifier weights not used (different class count): %s", source, dropped)
    unexpected = sorted(set(state) - set(own))
    mismatched = [k for k in state if k in own and own[k].shape != state[k].shape]
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    missing_body = [k for k in missing if not k.startswith("head.")]
    if unexpected or mismatched or missing_body:
        details = []
        if missing_body:
            details.append(f"missing {len(missing_body)} keys (first: {missing_body[:3]})")
        if unexpected:
            details.append(f"unexpected {len(unexpected)} keys (first: {unexpected[:3]})")
        if mismatched:
            shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched[:3]]
            details.append(f"shape mismatch in {len(mismatched)} tensors ({'; '.join(shapes)})")
        raise WeightsError(f"{source}: does not fit {type(model).__name__}: " + ", ".join(details))
    if missing:
        log.info("%s: no weights for %s (left initialised)", source, missing)
    model.load_state_dict(state, strict=False)


def load_pretrained(model: Backbone, arch: str, pretrained: bool | str | Path = True) -> Path:
    """Find, verify, convert and load weights into ``model``; return the file used."""
    entry, explicit = pick_entry(arch, pretrained)
    if entry is None:
        assert explicit is not None
        path = explicit
        state, spec = read_state(path)
    else:
        path = resolve(entry, explicit)
        state, spec = read_state(path, entry.format)
    load_state(model, state, str(path))
    model.set_input_spec(spec)
    return path


def read_config_header(path: str | Path, key: str, what: str) -> dict:
    """The JSON object stored under ``key`` in a semvis safetensors header.

    Raises one :class:`WeightsError` naming ``path`` when the file is missing, unreadable or
    not a ``what`` file (no ``key``).
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if key not in meta:
        raise WeightsError(f"{path}: not a {what} weight file (no {key!r} in the header)")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: corrupt {key!r} entry in the header ({exc})") from None


def save_safetensors(
    model: nn.Module,
    path: str | Path,
    metadata: dict[str, str] | None = None,
    half: bool = True,
    skip_prefix: str | None = None,
) -> Path:
    """Save ``model``'s weights as (fp16 by default) safetensors, atomically.

    A backbone's input convention goes into the header so it loads back identically.
    Tensors whose names start with ``skip_prefix`` are left out (weights found elsewhere).
    """
    from safetensors.torch import save_file

    tensors = {
        k: (v.half() if half and v.is_floating_point() else v).contiguous()
        for k, v in model.state_dict().items()
        if skip_prefix is None or not k.startswith(skip_prefix)
    }
    meta = dict(metadata or {})
    if isinstance(model, Backbone):
        meta["input_spec"] = json.dumps(asdict(model.input_spec))
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)
