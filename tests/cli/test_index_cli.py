"""End to end: ``semvis index build/stats/add/remove`` and ``semvis search``.

The network is a randomly initialised SemanticHashNet kept small for speed: FC width 32,
input 32×32 (``--size 32``; the paper's 224 works the same, only slower). He-initialised
weights and a 4×4 pool grid make the codes of the blocky test images differ; PyTorch's
default initialisation fades VGG's activations until every image gets the same code.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
from helpers import HASH_SIZE, blocky_images, needs_weights, random_net, run_cli
from PIL import Image

from semvis.hashing import HashIndex, ImageEncoder


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
    assert "added 6 images, 0 unchanged, 0 unreadable; 6 in" in out
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
        rows = search(capsys, index, weights, image, "-k", "3", "--nprobe", "2", "--ef-search", "8")
        assert rows[0] == ["1", "0", str(image.resolve())]  # the query itself, at distance 0
        assert len(rows) == 3

    sheet = tmp_path / "sheet.png"
    search(capsys, index, weights, images[2], "-k", "6", "--sheet", str(sheet))
    assert Image.open(sheet).size[0] > 6 * 160

    code, out, err = run_cli(capsys, "index", "remove", str(index), str(images[2]), str(tmp_path / "never.png"))
    assert code == 2 and "removed 1 of 2" in out and "5 in the index" in out
    assert err == f"semvis index: error: not in the index: {tmp_path / 'never.png'}\n"
    rows = search(capsys, index, weights, images[2], "-k", "10")
    assert len(rows) == 5 and str(images[2].resolve()) not in [r[2] for r in rows]

    extra = blocky_images(tmp_path / "more", 1, seed=5)[0]
    code, out, err = run_cli(capsys, "index", "add", str(index), str(extra), "--weights", str(weights))
    assert code == 0 and "added 1 images, 0 unchanged, 0 unreadable; 6 in" in out, err
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
    code, _, err = run_cli(capsys, "search", str(index), str(images[0]), "--nprobe", "0")
    assert code == 2 and "--nprobe: must be at least 1, got 0" in err
    for option, value in (("--workers", "-1"), ("--batch-size", "0"), ("--commit-every", "0")):
        code, _, err = run_cli(capsys, "index", "add", str(index), str(images[0]), option, value)
        assert code == 2 and f"{option}: must be at least" in err

    other = random_net(tmp_path, seed=1)
    code, _, err = run_cli(capsys, "index", "add", str(index), str(images[0]), "--weights", str(other))
    assert code == 2 and err.count("\n") == 1 and "is not the one" in err

    code, _, err = run_cli(
        capsys, "index", "build", str(tmp_path / "photos"), "--out", str(index), "--weights", str(other)
    )
    assert code == 2 and err.count("\n") == 1 and "already exists" in err

    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "index", "add", str(index), str(tmp_path / "empty"))
    assert code == 2 and err == f"semvis index: error: no images found in {tmp_path / 'empty'}\n"

    segment = next(index.glob("seg.*.faiss"))
    segment.write_bytes(segment.read_bytes()[:40])
    code, _, err = run_cli(capsys, "index", "stats", str(index))
    assert code == 2 and err == f"semvis index: error: {segment}: corrupt index segment (faiss cannot read it)\n"

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


def index_args(weights: Path) -> tuple[str, ...]:
    return ("--weights", str(weights), "--size", HASH_SIZE)


def test_adds_skip_unchanged_files_and_list_unreadable_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = random_net(tmp_path)
    images = blocky_images(tmp_path / "photos", 5)
    (tmp_path / "photos" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "photos" / "empty.jpg").write_bytes(b"")
    index = tmp_path / "photos.index"
    encoded: list[int] = []
    encode_tensor = ImageEncoder.encode_tensor
    monkeypatch.setattr(ImageEncoder, "encode_tensor", lambda self, x: encoded.append(len(x)) or encode_tensor(self, x))

    build = ("index", "build", str(tmp_path / "photos"), "--out", str(index), *index_args(weights))
    code, out, err = run_cli(capsys, *build, "--batch-size", "2", "--commit-every", "2")
    assert code == 2 and sum(encoded) == 5
    assert "added 5 images, 0 unchanged, 2 unreadable" in out and "broken.png: not an image" in out
    assert "empty.jpg: file is empty" in out
    assert err == "semvis index: error: 2 files could not be read (listed above); --skip-bad accepts that\n"
    with HashIndex.open(index) as opened:
        assert opened.paths() == [str(p.resolve()) for p in images] and opened.stats().segments > 1

    encoded.clear()
    code, out, _ = run_cli(capsys, *build, "--skip-bad")  # resumes: nothing to encode
    assert code == 0 and encoded == [] and "added 0 images, 5 unchanged, 2 unreadable; 5 in" in out

    os.utime(images[1], (1e9, 1e9))  # a changed mtime: encoded again; the same content by hash: not
    code, out, _ = run_cli(capsys, "index", "add", str(index), str(images[1]), str(images[2]))
    assert code == 0 and encoded == [1] and "added 1 images, 1 unchanged" in out
    os.utime(images[1], (2e9, 2e9))
    code, out, _ = run_cli(capsys, "index", "add", str(index), str(images[1]), "--hash")
    assert code == 0 and encoded == [1, 1] and "added 1 images" in out  # indexed without a hash: once
    os.utime(images[1], (3e9, 3e9))
    code, out, _ = run_cli(capsys, "index", "add", str(index), str(images[1]), "--hash")
    assert code == 0 and encoded == [1, 1] and "added 0 images, 1 unchanged" in out

    code, out, err = run_cli(capsys, "index", "compact", str(index))
    assert code == 0 and "into 1:" in out, err
    code, out, err = run_cli(capsys, "index", "stats", str(index), "--check")
    assert code == 0 and "agree ✓" in out and "1 (0 removed items" in out, err


def committed(index: Path) -> int:
    """Items committed to ``index`` (0 before it exists), read without loading its segments."""
    try:
        with closing(sqlite3.connect(f"{(index / 'catalog.sqlite').as_uri()}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT value FROM meta WHERE key = 'items'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_during_add_keeps_every_commit_and_a_rerun_encodes_only_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = random_net(tmp_path)
    files = sorted(p.resolve() for p in blocky_images(tmp_path / "photos", 600))
    for file in files:  # larger files: decoding takes long enough for kills to land mid-run
        Image.open(file).resize((256, 256)).save(file)
    index = tmp_path / "photos.index"
    command = [sys.executable, "-m", "semvis.cli.main", "index", "build", str(tmp_path / "photos"), "--out"]
    command += [str(index), *index_args(weights), "--batch-size", "4", "--commit-every", "4"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    rng = np.random.default_rng(0)
    kills, before = 0, 0
    while kills < 10:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while committed(index) == before and child.poll() is None:  # wait for this run's first commit
            assert time.monotonic() < deadline, "the build did not commit"
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))
        assert child.poll() is None, "the build finished before it was killed: make it longer"
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
        with HashIndex.open(index) as opened:
            opened.check()
            present = opened.paths()
        # files are encoded and committed in order: every commit is there, nothing else
        assert present == [str(f) for f in files[: len(present)]] and len(present) > before
        before = len(present)
    assert before < len(files)
    encoded: list[int] = []
    encode_tensor = ImageEncoder.encode_tensor
    monkeypatch.setattr(ImageEncoder, "encode_tensor", lambda self, x: encoded.append(len(x)) or encode_tensor(self, x))
    code, out, err = run_cli(capsys, *command[3:])
    assert code == 0, err
    assert sum(encoded) == len(files) - before and f"{before} unchanged" in out
    with HashIndex.open(index) as opened:
        assert opened.paths() == [str(f) for f in files]


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_gloo_available(), reason="torch.distributed gloo backend unavailable")
def test_build_under_torchrun_shares_the_files_between_two_ranks(tmp_path: Path) -> None:
    weights = random_net(tmp_path)
    files = sorted(p.resolve() for p in blocky_images(tmp_path / "photos", 30))
    index = tmp_path / "photos.index"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    command += ["-m", "semvis.cli.main", "index", "build", str(tmp_path / "photos"), "--out", str(index)]
    command += [*index_args(weights), "--workers", "1", "--batch-size", "4", "--commit-every", "4"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("added 15 images, 0 unchanged, 0 unreadable") == 2  # one line per rank
    with HashIndex.open(index) as opened:
        opened.check()
        assert sorted(opened.paths()) == [str(f) for f in files] and opened.stats().segments == 1
        expected = ImageEncoder(weights, input_size=int(HASH_SIZE)).encode(files)
        assert [hits[0].distance for hits in opened.search(expected, k=1)] == [0] * len(files)
