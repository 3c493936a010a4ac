"""Seeded Keras Xception weights and the two HDF5 layouts semvis reads — numpy and h5py only.

Shared by ``make_golden.py`` (which feeds the same weights to Keras itself to record
the golden outputs) and ``test_golden.py`` (which writes the files again, since an
88 MB ``.h5`` cannot be committed). Nothing here imports semvis or Keras: the layer
list is written out from ``keras.applications.xception`` and ``make_golden.py``
checks it against the Keras model, name by name and shape by shape.

Layer order and names
---------------------
``LAYERS`` is Keras' ``model.layers`` order for the weighted layers (topological
order; it is also the order of ``layer_names`` in a Keras weight file). Each block's
residual convolution and its BN come *after* the block's sepconvs there, but the
Keras code *creates* them first, and automatic names count in creation order:

* tf.keras / Keras 3: ``conv2d, conv2d_1..3`` and ``batch_normalization, _1..3``;
* Keras 2.0-2.2 (standalone): ``conv2d_1..4`` and ``batch_normalization_1..4``;
* Keras 1 (the official ``xception_weights_tf_dim_ordering_tf_kernels.h5``): every
  layer is anonymous, numbered per class in creation order — ``convolution2d_1-6``,
  ``separableconvolution2d_1-34``, ``batchnormalization_1-40``, ``dense_2`` — and its
  datasets are ``{layer}_W:0``, ``{layer}_gamma:0``, ``{layer}_running_std:0``…
  (Keras 1.2's ``running_std`` holds the moving *variance*) directly in the layer group.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SEED = 20240611
#: Keras' weight names per layer kind, in ``layer.weights`` order.
WEIGHT_NAMES = {
    "conv": ("kernel",),
    "sepconv": ("depthwise_kernel", "pointwise_kernel"),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
    "dense": ("kernel", "bias"),
}
#: Keras 1 dataset suffixes and layer class names.
KERAS1_WEIGHT = {
    "kernel": "W",
    "bias": "b",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "running_mean",
    "moving_variance": "running_std",
    "depthwise_kernel": "depthwise_kernel",
    "pointwise_kernel": "pointwise_kernel",
}
KERAS1_CLASS = {
    "conv": "convolution2d",
    "sepconv": "separableconvolution2d",
    "bn": "batchnormalization",
    "dense": "dense",
}

Layer = tuple[str, str, tuple[tuple[int, ...], ...]]  # (tf.keras name, kind, weight shapes)


def _conv(name: str, k: int, cin: int, cout: int) -> Layer:
    return (name, "conv", ((k, k, cin, cout),))


def _sep(name: str, cin: int, cout: int) -> Layer:
    return (name, "sepconv", ((3, 3, cin, 1), (1, 1, cin, cout)))


def _bn(name: str, c: int) -> Layer:
    return (name, "bn", ((c,),) * 4)


def xception_layers(top: bool = True) -> list[Layer]:
    """Weighted layers of ``keras.applications.Xception`` in ``model.layers`` order (tf.keras names)."""
    layers = [
        _conv("block1_conv1", 3, 3, 32),
        _bn("block1_conv1_bn", 32),
        _conv("block1_conv2", 3, 32, 64),
        _bn("block1_conv2_bn", 64),
    ]
    residual = 0

    def block(number: int, cin: int, widths: tuple[int, ...], reduce: bool) -> None:
        nonlocal residual
        prev = cin
        for i, width in enumerate(widths, 1):
            layers.extend([_sep(f"block{number}_sepconv{i}", prev, width), _bn(f"block{number}_sepconv{i}_bn", width)])
            prev = width
        if reduce:
            suffix = f"_{residual}" if residual else ""
            layers.extend([_conv(f"conv2d{suffix}", 1, cin, prev), _bn(f"batch_normalization{suffix}", prev)])
            residual += 1

    block(2, 64, (128, 128), True)
    block(3, 128, (256, 256), True)
    block(4, 256, (728, 728), True)
    for number in range(5, 13):
        block(number, 728, (728, 728, 728), False)
    block(13, 728, (728, 1024), True)
    block(14, 1024, (1536, 2048), False)
    if top:
        layers.append(("predictions", "dense", ((2048, 1000), (1000,))))
    return layers


def creation_order(layers: list[Layer]) -> list[Layer]:
    """The same layers in the order the Keras code creates them: residual pair before its block."""
    order = [layer for layer in layers if not layer[0].startswith(("conv2d", "batch_normalization"))]
    pairs = [layer for layer in layers if layer[0].startswith(("conv2d", "batch_normalization"))]
    for k, block in enumerate((2, 3, 4, 13)):
        at = next(i for i, layer in enumerate(order) if layer[0] == f"block{block}_sepconv1")
        order[at:at] = pairs[2 * k : 2 * k + 2]
    return order


def seeded_weights(seed: int = SEED, top: bool = True) -> list[tuple[str, list[np.ndarray]]]:
    """(tf.keras layer name, float32 arrays in Keras' weight order) for every weighted layer.

    Drawn from one ``numpy.random.default_rng(seed)`` in ``model.layers`` order, always for
    the full model (so the no-top weights are the top weights less ``predictions``).
    Kernels are He-scaled normals, BN statistics are spread around identity so that every
    channel differs and the activations stay of order one through the 36 convolutions.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, kind, shapes in xception_layers(top=True):
        if kind == "bn":
            c = shapes[0][0]
            arrays = [
                rng.uniform(0.4, 0.9, c),  # gamma
                rng.normal(0.0, 0.2, c),  # beta
                rng.normal(0.0, 0.2, c),  # moving mean
                rng.uniform(0.6, 1.6, c),  # moving variance
            ]
        else:
            arrays = []
            for shape in shapes:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 0
                if kind == "sepconv" and shape[-1] == 1:
                    fan_in = shape[0] * shape[1]  # depthwise: one input channel per output
                scale = np.sqrt(2.0 / fan_in) if fan_in else 0.1  # bias: small normal
                arrays.append(rng.standard_normal(shape) * scale)
        out.append((name, [np.asarray(a, dtype=np.float32) for a in arrays]))
    return out if top else out[:-1]


def fingerprint(weights: list[tuple[str, list[np.ndarray]]]) -> str:
    """sha256 of every 997th number of every array: tells whether numpy still draws the same weights."""
    digest = hashlib.sha256()
    for _, arrays in weights:
        for array in arrays:
            digest.update(np.ascontiguousarray(array.ravel()[::997]).tobytes())
    return digest.hexdigest()


def keras2_names(first: int) -> dict[str, str]:
    """tf.keras name → the name with residual layers numbered from ``first`` (0: tf.keras, 1: Keras 2.0-2.2)."""
    names = {}
    for name, _, _ in xception_layers(top=True):
        for base in ("conv2d", "batch_normalization"):
            if name == base or name.startswith(base + "_"):
                number = int(name[len(base) + 1 :] or 0) + first
                names[name] = f"{base}_{number}" if number else base
        names.setdefault(name, name)
    return names


def keras1_names(swap: tuple[str, str] | None = None) -> dict[str, str]:
    """tf.keras name → Keras 1 name (per class, creation order; the dense layer is ``dense_2``).

    ``swap`` exchanges the names of two layers: a deliberately wrong file for negative tests.
    """
    counters = {"dense": 1}
    names = {}
    for name, kind, _ in creation_order(xception_layers(top=True)):
        counters[kind] = counters.get(kind, 0) + 1
        names[name] = f"{KERAS1_CLASS[kind]}_{counters[kind]}"
    if swap is not None:
        a, b = swap
        names[a], names[b] = names[b], names[a]
    return names


def _str_attr(values: list[str]) -> np.ndarray:
    return np.array([v.encode("utf8") for v in values])


def write_keras2_h5(path: Path, weights: list[tuple[str, list[np.ndarray]]], first: int = 0) -> Path:
    """A Keras 2 ``model.save_weights('x.h5')`` file: ``layer_names``, per-layer ``weight_names``,
    datasets at ``{layer}/{layer}/{weight}:0``, kernels as Keras holds them (HWIO)."""
    import h5py

    kinds = {name: kind for name, kind, _ in xception_layers(top=True)}
    names = keras2_names(first)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = _str_attr([names[n] for n, _ in weights])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4" if first else b"2.15.0"
        for name, arrays in weights:
            new = names[name]
            group = f.create_group(new)
            wnames = [f"{new}/{w}:0" for w in WEIGHT_NAMES[kinds[name]]]
            group.attrs["weight_names"] = _str_attr(wnames)
            for wname, array in zip(wnames, arrays):
                group.create_dataset(wname, data=array)
    return path


def write_keras1_h5(
    path: Path, weights: list[tuple[str, list[np.ndarray]]], swap: tuple[str, str] | None = None
) -> Path:
    """The official file's Keras 1 layout: anonymous names, flat ``{layer}_{W,b,…}:0`` datasets,
    ``layer_names`` in topological order, no ``keras_version`` attribute (Keras 1 wrote none)."""
    import h5py

    kinds = {name: kind for name, kind, _ in xception_layers(top=True)}
    names = keras1_names(swap)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = _str_attr([names[n] for n, _ in weights])
        for name, arrays in weights:
            new = names[name]
            group = f.create_group(new)
            wnames = [f"{new}_{KERAS1_WEIGHT[w]}:0" for w in WEIGHT_NAMES[kinds[name]]]
            group.attrs["weight_names"] = _str_attr(wnames)
            for wname, array in zip(wnames, arrays):
                group.create_dataset(wname, data=array)
    return path
