"""Keras weight files ⇄ semvis state dicts (needs ``h5py``, the ``keras`` extra).

Two layouts are read. A Keras 2 ``.h5`` lists its layers in the root attribute
``layer_names``; each layer group lists its datasets in ``weight_names``. A Keras 3
``.keras`` file is a zip of ``config.json`` (the model: its layers, in ``model.layers``
order, with their names) and ``model.weights.h5``, where a layer's weights sit under
``layers/<snake_case class name>[_N]/vars/0, 1…``: N counts the layers of that class in
``model.layers`` order within their model, and a nested model's layers sit under its own
group (``layers/functional/layers/…``). Weights come in Keras' order in both (kernel, bias;
depthwise, pointwise; gamma, beta, moving mean, moving variance).

This module knows Keras' file layouts and layer kinds, not any network: a family passes
its table of :class:`KerasLayer` (Keras name or ``None`` for an unnamed layer, kind,
semvis module), in the order the Keras code created the layers. Named layers are matched
by name; unnamed ones are told apart by their weights (conv, sepconv, BN, dense) and
matched, per kind, by the number Keras appended to their name — the creation order.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from semvis.atomic import atomic_path
from semvis.errors import WeightsError

StateDict = dict[str, torch.Tensor]
Convert = Callable[[torch.Tensor], torch.Tensor]

#: Per layer kind: (Keras weight name, semvis parameter, Keras → torch, torch → Keras).
_KINDS: dict[str, tuple[tuple[str, str, Convert, Convert], ...]] = {
    "conv": (("kernel", "weight", lambda w: w.permute(3, 2, 0, 1), lambda w: w.permute(2, 3, 1, 0)),),
    "sepconv": (
        # (kh, kw, in, multiplier) ⇄ (in·multiplier, 1, kh, kw); semvis uses multiplier 1.
        (
            "depthwise_kernel",
            "depthwise.weight",
            lambda w: w.permute(2, 3, 0, 1).reshape(-1, 1, *w.shape[:2]),
            lambda w: w.permute(2, 3, 0, 1),
        ),
        ("pointwise_kernel", "pointwise.weight", lambda w: w.permute(3, 2, 0, 1), lambda w: w.permute(2, 3, 1, 0)),
    ),
    "bn": tuple(
        (keras, ours, lambda w: w, lambda w: w)
        for keras, ours in (
            ("gamma", "weight"),
            ("beta", "bias"),
            ("moving_mean", "running_mean"),
            ("moving_variance", "running_var"),
        )
    ),
    "dense": (("kernel", "weight", lambda w: w.t(), lambda w: w.t()), ("bias", "bias", lambda w: w, lambda w: w)),
}
#: A layer's kind from the ranks of its weights.
_RANKS = {(4,): "conv", (4, 4): "sepconv", (1, 1, 1, 1): "bn", (2, 1): "dense"}
#: Anonymous Keras 2 names of the residual layers (``conv2d_1``…), by kind.
_ANONYMOUS = {"conv": "conv2d", "bn": "batch_normalization"}


@dataclass(frozen=True)
class KerasLayer:
    """A weighted Keras layer and the semvis module it maps to (``keras_name`` ``None``: unnamed in Keras)."""

    keras_name: str | None
    kind: str
    module: str


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise WeightsError(
            "reading Keras .h5 weights needs h5py: pip install h5py (or pip install 'semvis[keras]')"
        ) from exc
    return h5py


def _attr_list(group, name: str) -> list[str] | None:
    """A string-list attribute, also when Keras split it into ``name0``, ``name1``…"""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
        if not chunks:
            return None
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for chunk in chunks for n in chunk]


def _read_layers(path: Path) -> list[tuple[str, list[np.ndarray]]]:
    """(layer name, weights in Keras order) for every layer with weights, in file order."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            root = handle["model_weights"] if "model_weights" in handle else handle
            names = _attr_list(root, "layer_names")
            if names is None:
                raise WeightsError(
                    f"{path}: no 'layer_names' attribute; not a Keras 2 HDF5 weight file "
                    "(Keras 3 '.weights.h5' files are not supported)"
                )
            layers = [(name, _attr_list(root[name], "weight_names") or []) for name in names]
            return [
                (name, [np.asarray(root[name][w], dtype=np.float32) for w in weight_names])
                for name, weight_names in layers
                if weight_names
            ]
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(f"{path}: not a readable Keras HDF5 weight file ({exc})") from exc


def _creation_number(name: str) -> int:
    """The counter Keras appended to an automatic layer name (``conv2d`` is 0)."""
    match = re.search(r"_(\d+)$", name)
    return int(match[1]) if match else 0


def convert_keras_h5(path: Path, layers: list[KerasLayer], network: str) -> StateDict:
    """Read a Keras 2 ``.h5`` of ``network`` into a semvis state dict.

    ``layers``: the network's weighted layers in Keras creation order; a file may lack the
    trailing dense classifier (a ``notop`` file).
    """
    return _state_dict(path, _read_layers(path), layers, network)


def _snake_case(class_name: str) -> str:
    """Keras 3's group name for a class: ``SeparableConv2D`` → ``separable_conv2d``, ``ReLU`` → ``re_lu``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_models(config: dict, group: str, found: dict[str, tuple[str, list[dict]]]) -> None:
    """Every model in a ``config.json`` (itself and nested ones): name → (its h5 group, its layer configs)."""
    layers = config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        return
    found[str(config["config"].get("name", config.get("name", "")))] = (group, layers)
    counts: dict[str, int] = {}
    for layer in layers:
        key = _snake_case(str(layer["class_name"]))
        counts[key] = counts.get(key, -1) + 1
        _keras3_models(layer, f"{group}/layers/{key}{f'_{counts[key]}' if counts[key] else ''}", found)


def _read_keras3_layers(path: Path, model: str) -> list[tuple[str, list[np.ndarray]]]:
    """(layer name, weights in Keras order) for every layer with weights of the (sub)model named ``model``."""
    h5py = _h5py()
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights = io.BytesIO(archive.read("model.weights.h5"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise WeightsError(
            f"{path}: not a Keras 3 .keras file (a zip of config.json and model.weights.h5): {exc}"
        ) from None
    models: dict[str, tuple[str, list[dict]]] = {}
    _keras3_models(config, "", models)
    if model not in models:
        raise WeightsError(f"{path}: holds no Keras model named {model!r} (models: {', '.join(models) or 'none'})")
    group, configs = models[model]
    counts: dict[str, int] = {}
    read = []
    try:
        with h5py.File(weights, "r") as handle:
            for layer in configs:
                key = _snake_case(str(layer["class_name"]))
                counts[key] = counts.get(key, -1) + 1
                name = f"{group}/layers/{key}{f'_{counts[key]}' if counts[key] else ''}/vars".lstrip("/")
                if name in handle and len(handle[name]):
                    variables = handle[name]
                    read.append(
                        (
                            str(layer["config"]["name"]),
                            [np.asarray(variables[str(i)], dtype=np.float32) for i in range(len(variables))],
                        )
                    )
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(f"{path}: model.weights.h5 is not readable as Keras 3 weights ({exc})") from exc
    return read


def convert_keras3(path: Path, layers: list[KerasLayer], network: str, model: str) -> StateDict:
    """Read the model named ``model`` inside a Keras 3 ``.keras`` file into a semvis state dict.

    ``model`` may be the file's top model or one nested in it — e.g. a Keras Applications
    base under a transfer-learning head, whose own layers are then not read. ``layers`` as
    for :func:`convert_keras_h5`; the layer names come from ``config.json``.
    """
    return _state_dict(path, _read_keras3_layers(path, model), layers, network)


def _state_dict(
    path: Path, read: list[tuple[str, list[np.ndarray]]], layers: list[KerasLayer], network: str
) -> StateDict:
    """Match the (Keras layer name, weights) read from ``path`` to ``layers``; a semvis state dict."""
    by_name = {layer.keras_name: layer for layer in layers if layer.keras_name}
    matched: list[tuple[KerasLayer, str, list[np.ndarray]]] = []
    unnamed: dict[str, list[tuple[int, int, str, list[np.ndarray]]]] = {kind: [] for kind in _KINDS}
    for index, (name, weights) in enumerate(read):
        kind = _RANKS.get(tuple(w.ndim for w in weights))
        if kind is None:
            shapes = ", ".join(str(w.shape) for w in weights)
            raise WeightsError(f"{path}: layer {name!r} has weights {shapes}, which no {network} layer has")
        if name in by_name:
            layer = by_name.pop(name)
            if layer.kind != kind:
                raise WeightsError(f"{path}: layer {name!r} holds {kind} weights, expected {layer.kind}")
            matched.append((layer, name, weights))
        else:
            unnamed[kind].append((_creation_number(name), index, name, weights))

    named = {name for _, name, _ in matched}
    for kind, found in unnamed.items():
        if not found:
            continue
        free = [layer for layer in layers if layer.kind == kind and layer.keras_name not in named]
        if len(found) != len(free):
            names = ", ".join(entry[2] for entry in found[:4])
            raise WeightsError(
                f"{path}: {len(found)} {kind} layer(s) not named like Keras {network}'s ({names}…) "
                f"for {len(free)} open {kind} slot(s); not an {network} weight file"
            )
        matched += [(layer, entry[2], entry[3]) for layer, entry in zip(free, sorted(found))]

    state: StateDict = {}
    for layer, _, weights in matched:
        for weight, (_, ours, to_torch, _) in zip(weights, _KINDS[layer.kind]):
            state[f"{layer.module}.{ours}"] = to_torch(torch.from_numpy(weight)).contiguous()
    return state


def export_keras_h5(model: nn.Module, path: str | Path, layers: list[KerasLayer], network: str) -> Path:
    """Write ``model``'s weights as a Keras 2 ``.h5`` of ``network``, atomically.

    ``layers`` in Keras' topological order, so ``model.load_weights(path)`` works in Keras
    with or without ``by_name``. A model without a dense classifier gives a ``notop`` file.
    """
    h5py = _h5py()
    state = {
        k: v.detach().cpu().float() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    if not any(key.startswith(layer.module + ".") for layer in layers if layer.kind == "dense" for key in state):
        layers = [layer for layer in layers if layer.kind != "dense"]
    unnamed = {kind: 0 for kind in _ANONYMOUS}
    written: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    for layer in layers:
        name = layer.keras_name
        if name is None:
            unnamed[layer.kind] += 1
            name = f"{_ANONYMOUS[layer.kind]}_{unnamed[layer.kind]}"
        weights = []
        for keras, ours, _, to_keras in _KINDS[layer.kind]:
            key = f"{layer.module}.{ours}"
            if key not in state:
                raise WeightsError(f"cannot export {type(model).__name__} as Keras {network}: it has no {key}")
            weights.append((f"{name}/{keras}:0", to_keras(state.pop(key)).numpy()))
        written.append((name, weights))
    if state:
        raise WeightsError(
            f"cannot export {type(model).__name__} as Keras {network}: "
            f"Keras' {network} has no {', '.join(sorted(state)[:3])}"
        )
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["layer_names"] = np.array([name.encode() for name, _ in written])
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.4.0"  # anything but "1": Keras 2 kernel layouts
        for name, weights in written:
            group = handle.create_group(name)
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for weight_name, value in weights:
                group.create_dataset(weight_name, data=np.ascontiguousarray(value))
    return Path(path)
