"""``semvis stylize`` options of the saved-image work: --project/--no-project, --max-seconds, --tv-weight."""

from pathlib import Path

import pytest
from helpers import run_cli
from PIL import Image

from semvis.assets import sample_path
from semvis.cli.main import build_parser
from semvis.cli.stylize import config_from_args


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.open(sample_path("chelsea")).resize((48, 32)).save(path)
    return path


def parse(*options: str):  # noqa: ANN201
    return config_from_args(build_parser().parse_args(["stylize", "c.png", "s.png", "-o", "o.png", *options]))


def test_projection_and_time_limit_map_to_their_fields() -> None:
    assert parse().project is True and parse().max_seconds is None
    assert parse("--no-project").project is False and parse("--project").project is True
    assert parse("--max-seconds", "2.5").max_seconds == 2.5
    assert parse("--tv-weight", "0").tv_weight == 0.0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--max-seconds", "0"], "max_seconds must be positive, got 0.0"),
        (["--max-seconds", "-3"], "max_seconds must be positive, got -3.0"),
        (["--tv-weight", "-1"], "tv_weight must be ≥ 0, got -1.0"),
        (["--max-seconds", "soon"], "argument --max-seconds: invalid float value: 'soon'"),
    ],
)
def test_bad_values_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path, option: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "stylize", str(photo), str(photo), "-o", str(tmp_path / "o.png"), *option)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()
