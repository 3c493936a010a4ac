import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image

from semvis.colorize import SemanticColorizer, luma, save_colorizer
from semvis.data import image_to_tensor


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    weights = save_colorizer(SemanticColorizer(num_classes=11, width=4), tmp_path / "colorizer.safetensors")
    y, x = np.mgrid[0:40, 0:56]
    photo = np.stack([x * 4, y * 6, 255 - x * 4], axis=-1).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    labels = np.where(x < 28, 3, 8).astype(np.uint8)  # road | car
    labels[:5] = 11  # void
    Image.fromarray(labels, "L").save(tmp_path / "labels.png")
    Image.fromarray(labels[:, :50], "L").save(tmp_path / "small_labels.png")
    return {"weights": weights, "photo": tmp_path / "photo.png", "labels": tmp_path / "labels.png"}


def test_colorize_keeps_the_input_l(capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    code, stdout, _ = run_cli(
        capsys, "colorize", str(files["photo"]), "--weights", str(files["weights"]), "--labels", str(files["labels"]),
        "-o", str(out), "--work-size", "32",
    )  # fmt: skip
    assert code == 0 and str(out) in stdout
    result = Image.open(out)
    assert result.size == (56, 40) and result.mode == "RGB"
    source_l = luma(image_to_tensor(Image.open(files["photo"]).convert("RGB")))
    result_l = luma(image_to_tensor(result))
    assert (source_l - result_l).abs().max() * 50 < 0.5  # L units: 8-bit rounding only


def test_colorize_with_a_segmenter(capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path) -> None:
    from semvis.data import LabelSpec
    from semvis.segment import build_segmenter, save_segmenter

    def segmenter(classes: int) -> Path:
        model = build_segmenter("gridnet", classes, in_channels=1)
        path = tmp_path / f"seg{classes}.safetensors"
        return save_segmenter(model, path, LabelSpec(tuple(str(i) for i in range(classes))))

    out = tmp_path / "seg.png"
    common = ("colorize", str(files["photo"]), "--weights", str(files["weights"]), "--work-size", "32")
    code, _, err = run_cli(capsys, *common, "--segment-weights", str(segmenter(11)), "-o", str(out))
    assert code == 0, err
    assert Image.open(out).size == (56, 40)
    code, _, err = run_cli(capsys, *common, "--segment-weights", str(segmenter(3)), "-o", str(out))
    assert code == 2 and "predicts 3 classes but the colorizer" in err and "expects 11" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"photo": "missing.png"}, "missing.png: file not found"),
        ({"labels": "small_labels.png"}, "label map is 50x40 but the image is 56x40"),
        ({"labels": "photo.png"}, "label image must be 8-bit single-channel"),
        ({"weights": "photo.png"}, "not a readable safetensors file"),
        ({"weights": "none.safetensors"}, "no such weight file"),
        ({"work": "8"}, "--work-size must be at least 32"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path, change: dict[str, str], message: str
) -> None:
    paths = {k: str(tmp_path / change[k]) if k in change else str(v) for k, v in files.items()}
    argv = ["colorize", paths["photo"], "--weights", paths["weights"], "--labels", paths["labels"]]
    code, _, err = run_cli(capsys, *argv, "-o", str(tmp_path / "o.png"), "--work-size", change.get("work", "32"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("semvis colorize: error: ") and message in err
    assert not (tmp_path / "o.png").exists()


def test_labels_and_segmenter_exclude_each_other(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    argv = ["colorize", str(files["photo"]), "--labels", str(files["labels"]), "--segment-weights", "s.safetensors"]
    code, _, err = run_cli(capsys, *argv, "-o", "x.png")
    assert code == 2 and "not allowed with argument" in err


def camvid_like(root: Path, files: dict[str, Path]) -> Path:
    """A CamVid-layout test split of two copies of the photo with its map, and 11 class names."""
    for split in ("test",):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir()
        for i in range(2):
            (root / split / "images" / f"{i}.png").write_bytes(files["photo"].read_bytes())
            (root / split / "labels" / f"{i}.png").write_bytes(files["labels"].read_bytes())
    classes = {"classes": [f"c{i}" for i in range(11)], "ignore_index": 11}
    (root / "classes.json").write_text(json.dumps(classes))
    return root


def test_evaluate_on_a_camvid_split_writes_the_scores(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path
) -> None:
    data = camvid_like(tmp_path / "camvid", files)
    out = tmp_path / "scores.json"
    code, stdout, err = run_cli(
        capsys, "colorize", "--evaluate", "--data", str(data), "--weights", str(files["weights"]),
        "--work-size", "32", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    scores = json.loads(out.read_text())
    assert scores["images"] == 2 and scores["maps"] == "ground-truth maps"
    # the photo's chroma is far from 0, so the gray baseline is a finite, known-poor PSNR
    assert 5 < scores["gray_ab_psnr"] < 30 and 0 <= scores["edit_locality"] <= 1
    assert "ab PSNR" in stdout and "edit locality" in stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "--evaluate needs exactly one of --data DIR"),
        (("--photos", "nowhere"), "nowhere: photo folder not found"),
        (("--photos", "."), "--evaluate needs exactly one of --data DIR"),  # with --data too
    ],
)
def test_evaluate_refuses_unclear_sources(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path, argv: tuple[str, ...], message: str
) -> None:
    extra = ("--data", str(tmp_path)) if argv[-1:] == (".",) else ()
    code, _, err = run_cli(capsys, "colorize", "--evaluate", "--weights", str(files["weights"]), *argv, *extra)
    assert code == 2 and message in err


def test_train_colorize_on_photos_with_a_segmenter_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from helpers import save_tiny_segmenter

    segmenter = save_tiny_segmenter(tmp_path / "seg.safetensors")
    (tmp_path / "photos").mkdir()
    for i in range(2):
        Image.fromarray(np.full((24, 32, 3), 60 * i + 50, np.uint8)).save(tmp_path / "photos" / f"{i}.png")
    out = tmp_path / "run"
    argv = ["train", "colorize", "--photos", str(tmp_path / "photos"), "--segment-weights", str(segmenter)]
    code, stdout, err = run_cli(
        capsys, *argv, "--out", str(out), "--epochs", "1", "--batch-size", "2", "--crop", "32", "--resize", "36",
        "--width", "4", "--workers", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "train_loss=" in stdout and (out / "colorizer.safetensors").is_file()
    code, _, err = run_cli(capsys, "train", "colorize", "--out", str(out))
    assert code == 2 and "give --data DIR (CamVid layout) or --photos DIR" in err
