from pathlib import Path

import pytest
import torch
from PIL import Image

from semvis.colorize import ColorizationDataset, SegmentedPhotos, camvid_colorization, rgb_to_lab
from semvis.data import ResizeCropFlip
from semvis.errors import DataError


def ramp(h: int = 36, w: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.linspace(0, 1, w).expand(3, h, w).clone()
    label = torch.arange(w).expand(h, w).clone()
    return image, label


def test_resize_short_side_then_crop_and_flip_together() -> None:
    image, label = ramp()
    g = torch.Generator().manual_seed(0)
    flips = 0
    for _ in range(20):
        out_image, out_label = ResizeCropFlip(resize=18, crop=16, generator=g)(image, label)
        assert out_image.shape == (3, 16, 16) and out_label.shape == (16, 16)
        assert out_label.dtype == label.dtype
        # the 48-wide ramp became 24 wide: image and labels stay aligned, flipped or not
        decreasing = bool(out_label[0, 0] > out_label[0, -1])
        flips += decreasing
        assert bool(out_image[0, 0, 0] > out_image[0, 0, -1]) == decreasing
    assert 0 < flips < 20


def test_evaluation_takes_the_centre_unflipped() -> None:
    image, label = ramp()
    first = ResizeCropFlip(resize=36, crop=32, train=False)(image, label)
    second = ResizeCropFlip(resize=36, crop=32, train=False)(image, label)
    assert torch.equal(first[1], second[1]) and first[1][0, 0] == 8  # (48 − 32) / 2


def test_crop_larger_than_resize_is_refused() -> None:
    with pytest.raises(ValueError, match="crop <= resize"):
        ResizeCropFlip(resize=32, crop=64)


def test_samples_are_scaled_lab() -> None:
    image, label = ramp()
    luma, labels, ab = ColorizationDataset([(image, label)])[0]
    lab = rgb_to_lab(image)
    assert torch.equal(luma, lab[:1]) and torch.equal(ab, lab[1:]) and torch.equal(labels, label)


def test_segmented_photos_use_the_segmenter(tmp_path: Path) -> None:
    Image.new("RGB", (20, 10), (200, 30, 30)).save(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (12, 14), (30, 30, 200)).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")

    def red_is_one(rgb: torch.Tensor) -> torch.Tensor:
        return (rgb[0] > rgb[2]).long()

    photos = SegmentedPhotos(tmp_path, red_is_one)
    assert len(photos) == 2
    image, label = photos[0]
    assert image.shape == (3, 10, 20) and bool((label == 1).all())
    assert bool((photos[1][1] == 0).all())
    bad = SegmentedPhotos(tmp_path, lambda rgb: torch.zeros(3, 3))
    with pytest.raises(DataError, match="segmenter gave"):
        bad[0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        SegmentedPhotos(tmp_path / "empty", red_is_one)
    with pytest.raises(DataError, match="not found"):
        SegmentedPhotos(tmp_path / "missing", red_is_one)


@pytest.mark.data
def test_camvid_samples(camvid: Path) -> None:
    data, classes = camvid_colorization(camvid, "val", train=False)
    assert classes == 11 and len(data) == 101
    luma, labels, ab = data[0]
    assert luma.shape == (1, 352, 352) and labels.shape == (352, 352) and ab.shape == (2, 352, 352)
    assert luma.min() >= -1 and luma.max() <= 1 and ab.abs().max() < 1
    assert labels.max() <= 11
