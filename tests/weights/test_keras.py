"""Keras Xception .h5 ⇄ semvis: export, import, the official file's Keras 1 naming, errors."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from semvis.backbones import KERAS_TF, create_backbone, load_pretrained
from semvis.backbones.xception import convert_keras_xception, export_keras_xception
from semvis.errors import WeightsError
from semvis.weights import default_weights, get_weights

h5py = pytest.importorskip("h5py")


def random_xception(num_classes: int | None) -> torch.nn.Module:
    """A random-init Xception in eval mode whose BN statistics are random too."""
    torch.manual_seed(0)
    model = create_backbone("xception", num_classes=num_classes)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    model = random_xception(1000)
    path = export_keras_xception(model, tmp_path_factory.mktemp("keras") / "xception.h5")
    return model, path


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    theirs = b.state_dict()
    for key, value in a.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, theirs[key]), key


def test_export_uses_the_keras_layout(exported: tuple[torch.nn.Module, Path]) -> None:
    _, path = exported
    with h5py.File(path, "r") as f:
        names = [n.decode() for n in f.attrs["layer_names"]]
        assert len(names) == 6 + 34 + 40 + 1
        start = names.index("block2_sepconv2_bn")  # Keras' topological order
        assert names[start : start + 4] == [
            "block2_sepconv2_bn",
            "conv2d_1",
            "batch_normalization_1",
            "block3_sepconv1",
        ]
        assert [w.decode() for w in f["block2_sepconv1"].attrs["weight_names"]] == [
            "block2_sepconv1/depthwise_kernel:0",
            "block2_sepconv1/pointwise_kernel:0",
        ]
        assert f["block1_conv1/block1_conv1/kernel:0"].shape == (3, 3, 3, 32)
        assert f["block2_sepconv1/block2_sepconv1/depthwise_kernel:0"].shape == (3, 3, 64, 1)
        assert f["block2_sepconv1/block2_sepconv1/pointwise_kernel:0"].shape == (1, 1, 64, 128)
        assert f["conv2d_4/conv2d_4/kernel:0"].shape == (1, 1, 728, 1024)
        assert f["predictions/predictions/kernel:0"].shape == (2048, 1000)
        assert [w.decode() for w in f["block14_sepconv2_bn"].attrs["weight_names"]][2:] == [
            "block14_sepconv2_bn/moving_mean:0",
            "block14_sepconv2_bn/moving_variance:0",
        ]


def test_round_trip_gives_identical_outputs(exported: tuple[torch.nn.Module, Path]) -> None:
    model, path = exported
    loaded = create_backbone("xception", pretrained=path, num_classes=1000).eval()
    assert loaded.input_spec == KERAS_TF
    assert_same_weights(model, loaded)
    x = torch.rand(2, 3, 71, 71)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=1e-5, rtol=0)


def keras1_copy(src: Path, dst: Path) -> None:
    """Rewrite an export with the official file's Keras 1 names (``convolution2d_1``…).

    Keras 1 numbered layers per class in creation order — each residual conv and BN
    before the sepconvs of its block — while ``layer_names`` stays in topological
    order, so the BN numbers do not follow the file order.
    """
    kinds = {1: "convolution2d", 2: "separableconvolution2d", 4: "batchnormalization"}
    suffixes = {"kernel": "W", "bias": "b", "moving_mean": "running_mean", "moving_variance": "running_std"}
    with h5py.File(src, "r") as f:
        order = [n.decode() for n in f.attrs["layer_names"]]
        layers = {
            n: [(w.decode().split("/")[1][:-2], f[n][w.decode()][()]) for w in f[n].attrs["weight_names"]]
            for n in order
        }
    created = list(order)
    for k, block in enumerate((2, 3, 4, 13), 1):  # creation order: residual pair before its block
        pair = [f"conv2d_{k}", f"batch_normalization_{k}"]
        created = [n for n in created if n not in pair]
        at = created.index(f"block{block}_sepconv1")
        created[at:at] = pair
    counters: dict[str, int] = {}
    renamed = {}
    for name in created:
        kind = "dense" if name == "predictions" else kinds[len(layers[name])]
        counters[kind] = counters.get(kind, 1 if kind == "dense" else 0) + 1  # the file has dense_2
        renamed[name] = f"{kind}_{counters[kind]}"
    with h5py.File(dst, "w") as f:
        f.attrs["layer_names"] = np.array([renamed[n].encode() for n in order])
        for name in order:
            new = renamed[name]
            group = f.create_group(new)
            names = [f"{new}_{suffixes.get(w, w)}:0" for w, _ in layers[name]]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, (_, value) in zip(names, layers[name]):
                group.create_dataset(n, data=value)
    # the numbering of the official file
    assert renamed["batch_normalization_1"] == "batchnormalization_3"
    assert renamed["batch_normalization_4"] == "batchnormalization_36"
    assert renamed["conv2d_4"] == "convolution2d_6"
    assert renamed["predictions"] == "dense_2"


def test_official_keras1_naming_loads(exported: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    model, path = exported
    keras1 = tmp_path / "xception_weights_tf_dim_ordering_tf_kernels.h5"
    keras1_copy(path, keras1)
    with h5py.File(keras1, "r") as f:
        names = [n.decode() for n in f.attrs["layer_names"]]
    bns = [int(re.search(r"\d+$", n)[0]) for n in names if n.startswith("batchnormalization")]
    assert bns != sorted(bns)  # the file order alone would mismatch BNs
    loaded = create_backbone("xception", pretrained=keras1, num_classes=1000)
    assert_same_weights(model, loaded)


def test_notop_file(tmp_path: Path) -> None:
    body = random_xception(None)
    path = export_keras_xception(body, tmp_path / "xception_notop.h5")
    with h5py.File(path, "r") as f:
        assert "predictions" not in [n.decode() for n in f.attrs["layer_names"]]
    assert_same_weights(body, create_backbone("xception", pretrained=path))

    torch.manual_seed(1)
    full = create_backbone("xception", num_classes=1000)
    classifier = full.head.classifier.weight.clone()
    load_pretrained(full, "xception", path)
    assert torch.equal(full.head.classifier.weight, classifier)
    assert torch.equal(full.stages["exit_conv"][1].bn.running_var, body.stages["exit_conv"][1].bn.running_var)


def test_garbage_and_truncated_files(exported: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(WeightsError, match="garbage.h5"):
        create_backbone("xception", pretrained=garbage)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(exported[1].read_bytes()[:10_000_000])
    with pytest.raises(WeightsError, match="truncated.h5"):
        convert_keras_xception(truncated)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1.0]
    with pytest.raises(WeightsError, match="plain.h5.*layer_names"):
        convert_keras_xception(plain)


def test_wrong_shape_is_refused(exported: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    shutil.copy(exported[1], bad)
    with h5py.File(bad, "a") as f:
        group = f["block3_sepconv1"]
        del group["block3_sepconv1/pointwise_kernel:0"]
        group["block3_sepconv1/pointwise_kernel:0"] = torch.zeros(1, 1, 128, 200).numpy()
    with pytest.raises(WeightsError, match=r"bad.h5.*shape mismatch.*entry2\.units\.0"):
        create_backbone("xception", pretrained=bad, num_classes=1000)


def test_foreign_layers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"conv2d_1"]
        f.create_group("conv2d_1").attrs["weight_names"] = [b"conv2d_1/kernel:0"]
        f["conv2d_1/conv2d_1/kernel:0"] = torch.zeros(3, 3, 3, 8).numpy()
    with pytest.raises(WeightsError, match="other.h5.*1 conv layer"):
        convert_keras_xception(path)


def test_export_refuses_other_architectures(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="shortcut"):
        export_keras_xception(create_backbone("xception", residual=False), tmp_path / "x.h5")
    with pytest.raises(WeightsError, match="head.fc1"):
        export_keras_xception(create_backbone("xception", num_classes=5, fc_layers=(8,)), tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_missing_h5py_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(WeightsError, match="pip install"):
        convert_keras_xception(tmp_path / "x.h5")


def test_registered_official_weights() -> None:
    entry = get_weights("xception.keras")
    assert default_weights("xception") == entry
    assert entry.url == (
        "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
        "xception_weights_tf_dim_ordering_tf_kernels.h5"
    )
    assert entry.md5 == "0a58e3b7378bc2990ea3b43d5981f1f6"
    assert entry.format == "keras-h5" and entry.input_spec == KERAS_TF and entry.num_classes == 1000
