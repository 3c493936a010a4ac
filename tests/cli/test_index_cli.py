"""End to end: ``semvis index build/stats/add/remove`` and ``semvis search``.

The network is a randomly initialised SemanticHashNet kept small for speed: FC width 32,
input 32×32 (``--size 32``; the paper's 224 works the same, only slower). He-initialised
weights and a 4×4 pool grid make the codes of the blocky test images differ; PyTorch's
default initialisation fades VGG's activations until every image gets the same code.
"""

from pathlib import Path

import pytest
from helpers import HASH_SIZE, blocky_images, needs_weights, random_net, run_cli
from PIL import Image


@pytest.fixture
def built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, list[Path]]:
    weights = random_net(tmp_path)
    images = blocky_images(tmp_path / "photos" / "sub", 6)
    index = tmp_path / "photos.index"
    code, out, err = run_cli(
        capsys,
        "index",
        "build",
        str(tmp_path / "photos"),
        "--out",
        str(index),
        "--weights",
        str(weights),
        "--size",
        HASH_SIZE,
    )
    assert code == 0, err
    assert "indexed 6 images" in out
    return index, weights, images


def search(
    capsys: pytest.CaptureFixture[str], index: Path, weights: Path | None, image: Path, *extra: str
) -> list[list[str]]:
    weights_args = () if weights is None else ("--weights", str(weights))
    code, out, err = run_cli(capsys, "search", str(index), str(image), *weights_args, *extra)
    assert code == 0, err
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.count("│") == 4]


def test_build_stats_search_remove(
    built: tuple[Path, Path, list[Path]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    index, weights, images = built
    code, out, err = run_cli(capsys, "index", "stats", str(index), "--check")
    assert code == 0, err
    assert "items" in out and "│ 6" in out and "flat" in out and "sha256:" in out and "agree ✓" in out

    for image in images[:3]:
        rows = search(capsys, index, weights, image, "-k", "3")
        assert rows[0] == ["1", "0", str(image.resolve())]  # the query itself, at distance 0
        assert len(rows) == 3

    sheet = tmp_path / "sheet.png"
    search(capsys, index, weights, images[2], "-k", "6", "--sheet", str(sheet))
    assert Image.open(sheet).size[0] > 6 * 160

    code, out, _ = run_cli(capsys, "index", "remove", str(index), str(images[2]), str(tmp_path / "never.png"))
    assert code == 0 and "removed 1 of 2" in out and "5 in the index" in out
    rows = search(capsys, index, weights, images[2], "-k", "10")
    assert len(rows) == 5 and str(images[2].resolve()) not in [r[2] for r in rows]

    extra = blocky_images(tmp_path / "more", 1, seed=5)[0]
    code, out, err = run_cli(capsys, "index", "add", str(index), str(extra), "--weights", str(weights))
    assert code == 0 and "6 in the index" in out, err
    assert search(capsys, index, weights, extra, "-k", "1")[0] == ["1", "0", str(extra.resolve())]


def test_clear_one_line_errors(
    built: tuple[Path, Path, list[Path]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    index, weights, images = built
    missing = tmp_path / "no-such.index"
    code, _, err = run_cli(capsys, "index", "stats", str(missing))
    assert code == 2 and err == f"semvis index: error: {missing}: not a hash index (no catalog.sqlite in it)\n"

    code, _, err = run_cli(capsys, "search", str(missing), str(images[0]), "--weights", str(weights))
    assert code == 2 and err.count("\n") == 1 and str(missing) in err

    other = random_net(tmp_path, seed=1)
    code, _, err = run_cli(capsys, "index", "add", str(index), str(images[0]), "--weights", str(other))
    assert code == 2 and err.count("\n") == 1 and "is not the one" in err

    code, _, err = run_cli(
        capsys, "index", "build", str(tmp_path / "photos"), "--out", str(index), "--weights", str(weights)
    )
    assert code == 2 and "already exists" in err

    code, _, err = run_cli(
        capsys, "index", "build", str(tmp_path), "--out", str(tmp_path / "x"), "--weights", str(weights), "--bits", "64"
    )
    assert code == 2 and "48-bit codes, not 64" in err


@needs_weights
@pytest.mark.slow
def test_build_defaults_to_the_bundled_model_and_search_to_the_indexs_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from semvis.assets import sample_path
    from semvis.bundled import HASHNET, bundled_model
    from semvis.hashing import HashIndex

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "rocket"):
        (photos / f"{name}.jpg").write_bytes(sample_path(name).read_bytes())
    index = tmp_path / "photos.index"
    code, _, err = run_cli(capsys, "index", "build", str(photos), "--out", str(index))
    assert code == 0, err
    with HashIndex.open(index) as opened:
        assert opened.attrs["weights"] == str(bundled_model(HASHNET).resolve()) and opened.bits == 48
    rows = search(capsys, index, None, photos / "coffee.jpg", "-k", "1")
    assert rows == [["1", "0", str((photos / "coffee.jpg").resolve())]]
