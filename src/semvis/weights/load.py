"""Reading weight files into state dicts, and loading state dicts into modules strictly."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from semvis.errors import WeightsError
from semvis.weights.fetch import resolve
from semvis.weights.formats import FORMATS, StateDict, format_for_file, safetensors_metadata
from semvis.weights.registry import WeightEntry, default_weights, get_weights, list_weights
from semvis.weights.spec import InputSpec

log = logging.getLogger("semvis.weights")


def looks_like_entry_name(text: str) -> bool:
    """``vgg19.torchvision`` is a registry name; ``./w.pth`` or ``w.h5`` are files.

    A registered name wins over a weight-file suffix (``xception.keras``) unless a file of that name exists.
    """
    path = Path(text)
    if path.exists() or "/" in text:
        return False
    if any(entry.name == text for entry in list_weights()):
        return True
    return path.suffix.lower() not in {s for f in FORMATS.values() for s in f.suffixes}


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


def _header_input_spec(path: Path) -> InputSpec | None:
    """The input convention a semvis safetensors file records for its top-level ``normalize``."""
    meta = safetensors_metadata(path)
    if "semvis" in meta:
        spec = json.loads(meta["semvis"]).get("inputs", {}).get("normalize")
    else:  # files written before the v1 model header
        spec = json.loads(meta["input_spec"]) if "input_spec" in meta else None
    return None if spec is None else InputSpec.from_dict(spec)


def read_state(path: str | Path, arch: str | None = None, fmt_name: str | None = None) -> tuple[StateDict, InputSpec]:
    """Convert a weight file into a semvis state dict plus its input convention."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    fmt = FORMATS[fmt_name] if fmt_name else format_for_file(path, arch)
    state = fmt.convert(path)
    spec = fmt.input_spec
    if fmt.name == "safetensors":
        spec = _header_input_spec(path) or spec
    return state, spec


@dataclass(frozen=True)
class LoadReport:
    """Keys of the model that the file did not supply (allowed by the caller) or whose file tensors were dropped."""

    left_initialised: tuple[str, ...]
    dropped: tuple[str, ...]


def load_state(
    model: nn.Module,
    state: StateDict,
    source: str,
    kept_prefix: str | None = None,
    optional: Collection[str] = (),
) -> LoadReport:
    """Load ``state`` into ``model`` strictly; one :class:`WeightsError` naming ``source`` otherwise.

    Every model key must be in ``state`` with its shape, and every ``state`` key in the model,
    except the keys named in ``optional`` (e.g. a classifier the caller will train afresh),
    which are left initialised when absent and dropped when their shape differs; both are
    reported by name. ``kept_prefix``: tensors the file leaves out on purpose (a frozen
    backbone already loaded from the registry) keep the model's own values.
    """
    own = model.state_dict()
    if kept_prefix is not None:
        state = {k: v for k, v in own.items() if k.startswith(kept_prefix)} | state
    optional = set(optional)
    dropped = tuple(sorted(k for k in optional if k in state and state[k].shape != own[k].shape))
    state = {k: v for k, v in state.items() if k not in dropped}
    unexpected = sorted(set(state) - set(own))
    mismatched = [k for k in state if k in own and own[k].shape != state[k].shape]
    absent = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    missing = [k for k in absent if k not in optional]
    if unexpected or mismatched or missing:
        details = []
        if missing:
            details.append(f"missing {len(missing)} keys (first: {missing[:3]})")
        if unexpected:
            details.append(f"unexpected {len(unexpected)} keys (first: {unexpected[:3]})")
        if mismatched:
            shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched[:3]]
            details.append(f"shape mismatch in {len(mismatched)} tensors ({'; '.join(shapes)})")
        raise WeightsError(f"{source}: does not fit {type(model).__name__}: " + ", ".join(details))
    model.load_state_dict(state, strict=False)
    report = LoadReport(tuple(k for k in absent if k in optional), dropped)
    if report.dropped:
        log.warning("%s: tensors of another shape not used: %s", source, list(report.dropped))
    if report.left_initialised:
        log.info("%s: no weights for %s (left initialised)", source, list(report.left_initialised))
    return report


def load_entry_state(arch: str, pretrained: bool | str | Path) -> tuple[StateDict, InputSpec, Path, WeightEntry | None]:
    """Find, verify and convert the weights ``pretrained`` names for ``arch``: (state, spec, file, entry)."""
    entry, explicit = pick_entry(arch, pretrained)
    if entry is None:
        assert explicit is not None
        state, spec = read_state(explicit, arch)
        return state, spec, explicit, None
    path = resolve(entry)
    state, spec = read_state(path, arch, entry.format)
    return state, spec, path, entry
