import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TOY_CLASSES, needs_mobilenet_weights, needs_weights, run_cli
from PIL import Image
from safetensors.torch import save_model as save_plain_safetensors

from semvis.bundled import PHOTO_SEGMENTERS
from semvis.data import LabelSpec
from semvis.segment import GridNet, load_segmenter, save_segmenter

TOY_LABELS = LabelSpec(
    tuple(TOY_CLASSES["classes"]), tuple(tuple(c) for c in TOY_CLASSES["colors"]), TOY_CLASSES["ignore_index"]
)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A randomly initialised narrow gray GridNet for the toy classes."""
    torch.manual_seed(0)
    return save_segmenter(GridNet(2, depths=(4, 8)), tmp_path / "seg.safetensors", TOY_LABELS, half=False)


def test_segment_writes_a_palette_label_map_and_an_overlay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, weights: Path
) -> None:
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 44, 3), dtype=np.uint8)).save(image)
    prefix = tmp_path / "out" / "photo"
    code, out, err = run_cli(capsys, "segment", str(image), "--weights", str(weights), "-o", str(prefix))
    assert code == 0, err
    labels = Image.open(f"{prefix}_labels.png")
    assert labels.mode == "P" and labels.size == (44, 30)
    assert labels.getpalette()[:6] == [40, 40, 40, 250, 200, 0]
    assert set(np.unique(np.asarray(labels))) <= {0, 1}
    overlay = Image.open(f"{prefix}_overlay.png")
    assert overlay.width > 44 and overlay.height >= 30  # the legend sits on the right
    assert "photo_overlay.png" in out.replace("\n", "")


def test_evaluate_prints_per_class_iou_and_writes_the_confusion_picture(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, weights: Path, toy_root: Path
) -> None:
    prefix = tmp_path / "eval"
    code, out, err = run_cli(
        capsys, "segment", "--evaluate", "--data", str(toy_root), "--weights", str(weights), "-o", str(prefix)
    )
    assert code == 0, err
    assert "ground" in out and "box" in out and "mIoU" in out
    assert Image.open(f"{prefix}_confusion.png").width > 100
    summary = json.loads(Path(f"{prefix}_scores.json").read_text())
    assert summary["split"] == "test" and summary["images"] == 2
    assert sum(map(sum, summary["confusion"])) == 2 * 31 * 40  # every pixel but the void top rows
    assert set(summary["iou"]) == {"ground", "box"}


def test_a_bad_weight_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(image)  # above the 16 px floor, so the weights are what fails
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    code, _, err = run_cli(capsys, "segment", str(image), "--weights", str(junk), "-o", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and "junk.safetensors: not a readable safetensors file" in err
    plain = tmp_path / "plain.safetensors"
    save_plain_safetensors(GridNet(2, depths=(4, 8)), str(plain))
    code, _, err = run_cli(capsys, "segment", str(image), "--weights", str(plain), "-o", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and "not a segmenter weight file" in err
    code, _, err = run_cli(capsys, "segment", str(image), "--weights", str(tmp_path / "none"), "-o", "x")
    assert code == 2 and "no such weight file" in err


def test_a_bad_image_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, weights: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = run_cli(capsys, "segment", str(bad), "--weights", str(weights), "-o", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and "broken.jpg" in err


def test_missing_arguments_are_one_line(capsys: pytest.CaptureFixture[str], weights: Path) -> None:
    code, _, err = run_cli(capsys, "segment", "--weights", str(weights))
    assert code == 2 and "give IMAGE and -o OUT_PREFIX" in err
    code, _, err = run_cli(capsys, "segment", "--evaluate", "--weights", str(weights))
    assert code == 2 and "--evaluate needs --data" in err


def test_train_segment_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_root: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "segment", "--data", str(toy_root), "--out", str(out), "--epochs", "1", "--batch-size", "2"]
    code, stdout, err = run_cli(capsys, *argv, "--crop", "32", "--workers", "0", "--total-dropout", "0.5")
    assert code == 0, err
    assert "val_miou=" in stdout and (out / "metrics.csv").is_file()
    model, labels = load_segmenter(out / "model.safetensors")
    assert isinstance(model, GridNet) and model.in_channels == 1 and model.total_dropout == 0.5
    assert labels == TOY_LABELS


@needs_weights
def test_train_segment_with_a_frozen_backbone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_root: Path
) -> None:
    out = tmp_path / "run"
    argv = ["train", "segment", "--arch", "pspnet-vgg19", "--frozen-backbone", "--data", str(toy_root)]
    code, stdout, err = run_cli(
        capsys, *argv, "--out", str(out), "--epochs", "1", "--batch-size", "2", "--head-channels", "8"
    )
    assert code == 0, err
    assert "val_miou=" in stdout
    model, labels = load_segmenter(out / "model.safetensors")
    assert model.config["channels"] == 8 and labels == TOY_LABELS
    code, _, err = run_cli(capsys, "train", "segment", "--frozen-backbone", "--data", str(toy_root), "--out", str(out))
    assert code == 2 and "--frozen-backbone needs ImageNet weights" in err


@needs_mobilenet_weights
def test_train_segment_deeplab_with_a_frozen_backbone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_root: Path
) -> None:
    out = tmp_path / "run"
    argv = ["train", "segment", "--arch", "deeplab-mobilenet_v2", "--frozen-backbone", "--color", "--context", "psp"]
    code, stdout, err = run_cli(
        capsys, *argv, "--data", str(toy_root), "--out", str(out), "--epochs", "1", "--batch-size", "2"
    )
    assert code == 0, err
    model, labels = load_segmenter(out / "model.safetensors")
    assert model.config | {"num_classes": 0} == {
        "num_classes": 0,
        "backbone": "mobilenet_v2",
        "in_channels": 3,
        "output_stride": 16,
        "context": "psp",
        "width": 256,
        "dropout": 0.1,
    }
    assert labels == TOY_LABELS


def test_segment_picks_the_bundled_model_by_the_photo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def bundled(name: str) -> Path:
        asked.append(name)
        return weights

    monkeypatch.setattr("semvis.cli.segment.bundled_model", bundled)
    rng = np.random.default_rng(0)
    colour, gray = tmp_path / "colour.png", tmp_path / "gray.jpg"
    Image.fromarray(rng.integers(0, 255, (30, 44, 3), dtype=np.uint8)).save(colour)
    Image.fromarray(rng.integers(0, 255, (30, 44), dtype=np.uint8)).convert("RGB").save(gray, quality=80)
    for image in (colour, gray):
        code, _, err = run_cli(capsys, "segment", str(image), "-o", str(tmp_path / image.stem))
        assert code == 0, err
    assert asked == [PHOTO_SEGMENTERS["rgb"], PHOTO_SEGMENTERS["gray"]]
