"""The training cache: held-out split, chunked build that resumes, cached samples."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.colorize.cache import CHUNK, HOLDOUT_EVERY, CachedPhotos, build_cache, split_holdout
from semvis.errors import DataError


def photos(folder: Path, count: int, size: tuple[int, int] = (40, 30)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"p{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_every_tenth_sorted_photo_is_held_out_and_the_rest_train() -> None:
    files = [Path(f"{name}.jpg") for name in "qwertyuiopasdfghjklz"]
    train, held = split_holdout(files)
    assert held == sorted(files)[::HOLDOUT_EVERY] and len(held) == 2
    assert sorted(train + held) == sorted(files) and not set(train) & set(held)


def test_build_shrinks_labels_with_the_segmenter_and_resumes(tmp_path: Path) -> None:
    files = photos(tmp_path / "in", 3)
    calls = []

    def bands(rgb: torch.Tensor) -> torch.Tensor:
        return (rgb.mean(0) * 3).long().clamp(0, 2)

    def segmenter(rgb: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(rgb.shape))
        return bands(rgb)

    chunks = build_cache(files, tmp_path / "cache", "photos", segmenter, short=15)
    assert [c.name for c in chunks] == ["photos-000.pt"] and calls == [(3, 15, 20)] * 3
    data = CachedPhotos(tmp_path / "cache")
    assert len(data) == 3
    rgb, labels = data[1]
    assert rgb.shape == (3, 15, 20) and labels.shape == (15, 20) and rgb.dtype == torch.float32
    assert (labels == bands(rgb)).float().mean() > 0.95  # the map is the shrunk photo's (8-bit rounding aside)
    build_cache(files, tmp_path / "cache", "photos", segmenter, short=15)
    assert len(calls) == 3  # the chunk exists: nothing is segmented again
    assert CHUNK >= 3


def test_ground_truth_labels_are_shrunk_with_nearest_neighbours(tmp_path: Path) -> None:
    files = photos(tmp_path / "in", 1, (40, 40))
    label = np.zeros((40, 40), np.uint8)
    label[:, 20:] = 7
    Image.fromarray(label).save(tmp_path / "l.png")
    build_cache(files, tmp_path / "cache", "gt", None, short=20, label_files=[tmp_path / "l.png"])
    _, labels = CachedPhotos(tmp_path / "cache")[0]
    assert set(labels.unique().tolist()) == {0, 7} and labels[:, :10].eq(0).all() and labels[:, 10:].eq(7).all()


def test_epoch_size_draws_that_many_samples(tmp_path: Path) -> None:
    build_cache(photos(tmp_path / "in", 2), tmp_path / "c", "p", lambda rgb: torch.zeros(rgb.shape[1:]), short=10)
    data = CachedPhotos(tmp_path / "c", epoch_size=5)
    assert len(data) == 5 and data[4][0].shape[0] == 3


def test_an_empty_cache_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no cache chunks"):
        CachedPhotos(tmp_path)
