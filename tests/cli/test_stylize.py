"""``semvis stylize`` and ``semvis style``: end to end on tiny images."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import needs_weights, run_cli
from PIL import Image

from semvis.assets import sample_path
from semvis.cli.main import build_parser
from semvis.cli.stylize import config_from_args
from semvis.style import StyleConfig


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.open(sample_path("chelsea")).resize((48, 32)).save(path)
    return path


def test_every_option_maps_to_its_config_field(tmp_path: Path) -> None:
    argv = ["stylize", "c.png", "s1.png", "s2.png", "-o", "o.png", "--ratio", "1e-4", "--tv-weight", "0.5"]
    argv += ["--style-layers", "relu1_1:0.2,relu2_1", "--style-blend", "0.7,0.3", "--scales", "32,64", "--steps", "9"]
    argv += ["--optimizer", "adam", "--lr", "0.1", "--preserve-color", "luminance", "--pooling", "max", "--project"]
    argv += ["--init", "content", "--style-scale", "0.5", "--seed", "7", "--line-search", "none"]
    config = config_from_args(build_parser().parse_args(argv))
    assert config.ratio == 1e-4 and config.beta == 1e4 and config.tv_weight == 0.5
    assert config.style_layers == {"relu1_1": 0.2, "relu2_1": 0.5} and config.style_blend == (0.7, 0.3)
    assert config.scales == (32, 64) and config.output_size((100, 200)) == (32, 64) and config.steps == 9
    assert (config.optimizer, config.lr, config.preserve_color, config.pooling, config.project) == (
        "adam",
        0.1,
        "luminance",
        "max",
        True,
    )
    assert (config.init, config.style_scale, config.seed, config.line_search) == ("content", 0.5, 7, "none")
    # options left out keep the dataclass defaults: the paper's settings
    assert config_from_args(build_parser().parse_args(["stylize", "c.png", "s.png", "-o", "o.png"])) == StyleConfig()


@needs_weights
def test_stylize_writes_a_png_with_its_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path
) -> None:
    out = tmp_path / "out.png"
    style = str(sample_path("starry_night"))
    code, stdout, err = run_cli(
        capsys,
        "stylize",
        str(photo),
        style,
        "-o",
        str(out),
        "--size",
        "32",
        "--steps",
        "3",
        "--style-layers",
        "relu1_1:0.5,relu2_1",
    )
    assert code == 0, err
    assert f"wrote {out}" in stdout.replace("\n", "")
    png = Image.open(out)
    assert png.size == (32, 21)
    settings = json.loads(png.text["semvis"])
    assert settings["command"] == "stylize" and settings["styles"] == [style] and settings["steps"] == 3
    assert settings["config"]["style_layers"] == {"relu1_1": 0.5, "relu2_1": 0.5}
    assert settings["config"]["ratio"] == 1e-3 and settings["config"]["beta"] == 1000.0
    assert set(settings["final_loss"]) == {"total", "content", "style", "tv"}
    assert len(np.unique(np.asarray(png).reshape(-1, 3), axis=0)) > 50  # not blank


def test_a_bad_image_is_one_line_naming_it_and_the_output_survives(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path
) -> None:
    out = tmp_path / "out.png"
    Image.new("RGB", (8, 8), "red").save(out)
    before = out.read_bytes()
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    code, _, err = run_cli(capsys, "stylize", str(photo), str(bad), "-o", str(out), "--size", "32", "--steps", "2")
    assert code == 2 and "broken.jpg" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "stylize", str(tmp_path / "nope.png"), str(photo), "-o", str(out))
    assert code == 2 and "nope.png: file not found" in err and err.count("\n") == 1
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--style-layers", "relu9_9"], "unknown VGG-19 layer(s) relu9_9; valid: conv1_1, relu1_1"),
        (["--size", "8"], "size must be at least 16 px, got 8"),
        (["--style-blend", "1,2,3"], "1 style images but 3 blend weights"),
    ],
)
def test_bad_settings_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path, option: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "stylize", str(photo), str(photo), "-o", str(tmp_path / "o.png"), *option)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_a_bad_mask_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path) -> None:
    mask = tmp_path / "mask.png"
    Image.new("L", (48, 32), 5).save(mask)
    code, _, err = run_cli(
        capsys, "stylize", str(photo), str(photo), str(photo), "-o", str(tmp_path / "o.png"), "--mask", str(mask)
    )
    assert code == 2 and "mask.png" in err and "2 regions" in err and err.count("\n") == 1


@needs_weights
def test_style_reconstruct_and_grid(capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path) -> None:
    out = tmp_path / "rec.png"
    code, _, err = run_cli(
        capsys,
        "style",
        "reconstruct",
        str(photo),
        "--content-layer",
        "relu2_1",
        "-o",
        str(out),
        "--size",
        "32",
        "--steps",
        "2",
    )
    assert code == 0, err
    settings = json.loads(Image.open(out).text["semvis"])
    assert settings["config"]["content_layers"] == {"relu2_1": 1.0} and settings["config"]["style_layers"] == {}
    sheet = tmp_path / "grid.png"
    code, _, err = run_cli(
        capsys,
        "style",
        "grid",
        str(photo),
        str(sample_path("starry_night")),
        "-o",
        str(sheet),
        "--size",
        "32",
        "--steps",
        "1",
    )
    assert code == 0, err
    settings = json.loads(Image.open(sheet).text["semvis"])
    assert settings["ratios"] == [1e-5, 1e-4, 1e-3, 1e-2] and len(settings["layer_sets"]) == 5
    assert Image.open(sheet).width > 4 * 32
