"""Joint image/label transforms: shapes, label values and image/label alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.data.transforms import (
    center_crop_pair,
    crop_pair,
    pad_pair,
    random_crop_pair,
    random_flip_pair,
    resize_image_pair,
    resize_pair,
    scaled_size,
    short_side_size,
)


def coded_pair(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A label whose value encodes its pixel (row·w + col) and a one-channel image equal to it / (h·w)."""
    label = torch.arange(h * w).reshape(h, w)
    return (label.float() / (h * w))[None], label


def test_sizes_round_and_keep_the_aspect() -> None:
    assert scaled_size(360, 480, 0.5) == (180, 240)
    assert scaled_size(3, 3, 0.01) == (1, 1)
    assert short_side_size(360, 480, 180) == (180, 240)
    assert short_side_size(480, 360, 18) == (24, 18)


@pytest.mark.parametrize("size", [(7, 5), (40, 64), (16, 16)])
def test_resize_gives_the_size_and_only_existing_label_values(size: tuple[int, int]) -> None:
    image = torch.rand(3, 16, 16)
    label = torch.randint(0, 4, (16, 16)) * 60  # 0, 60, 120, 180: a blend would invent others
    out_image, out_label = resize_pair(image, label, size)
    assert out_image.shape == (3, *size) and out_label.shape == size
    assert out_label.dtype == label.dtype
    assert set(out_label.unique().tolist()) <= set(label.unique().tolist())
    assert 0 <= out_image.min() and out_image.max() <= 1


def test_resize_by_two_repeats_each_label_and_keeps_the_image_aligned() -> None:
    _, label = coded_pair(4, 6)
    image, box = torch.zeros(1, 8, 8), torch.zeros(8, 8, dtype=torch.long)
    image[:, 2:6, 3:7], box[2:6, 3:7] = 1.0, 1
    doubled = label.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert torch.equal(resize_pair(torch.zeros(1, 4, 6), label, (8, 12))[1], doubled)
    out_image, out_box = resize_pair(image, box, (16, 16))
    assert torch.equal(out_image[0] > 0.5, out_box == 1)


def test_nearest_flavours_differ_only_in_where_they_sample() -> None:
    _, label = coded_pair(1, 8)
    label = label.expand(2, 8)
    exact = resize_pair(torch.zeros(1, 2, 8), label, (2, 4))[1]
    corner = resize_pair(torch.zeros(1, 2, 8), label, (2, 4), label_mode="nearest")[1]
    assert exact[0].tolist() == [1, 3, 5, 7] and corner[0].tolist() == [0, 2, 4, 6]


def test_pad_fills_the_image_with_zero_and_the_label_with_ignore() -> None:
    image, label = torch.ones(3, 4, 5), torch.zeros(4, 5, dtype=torch.long)
    out_image, out_label = pad_pair(image, label, (6, 5), ignore_index=9)
    assert out_image.shape == (3, 6, 5) and out_label.shape == (6, 5)
    assert (out_image[:, 4:] == 0).all() and (out_label[4:] == 9).all() and (out_label[:4] == 0).all()
    assert pad_pair(image, label, (2, 2), 9)[0] is image  # never shrinks


def test_a_known_crop_cuts_the_same_window_from_both() -> None:
    image, label = coded_pair(10, 12)
    out_image, out_label = crop_pair(image, label, 3, 4, (5, 6))
    assert out_label[0, 0] == 3 * 12 + 4 and out_label.shape == (5, 6)
    assert torch.equal(out_image[0], out_label.float() / 120)
    centre = center_crop_pair(image, label, (4, 4))[1]
    assert centre[0, 0] == 3 * 12 + 4


def test_random_crops_and_flips_keep_image_and_label_aligned() -> None:
    image, label = coded_pair(10, 12)
    generator = torch.Generator().manual_seed(0)
    flips = 0
    for _ in range(16):
        out_image, out_label = random_flip_pair(*random_crop_pair(image, label, (4, 5), generator), generator)
        assert out_label.shape == (4, 5) and torch.equal(out_image[0], out_label.float() / 120)
        flips += bool(out_label[0, 0] > out_label[0, -1])
    assert 0 < flips < 16


def test_random_draws_repeat_with_the_seed() -> None:
    image, label = coded_pair(10, 12)

    def crops(seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return [int(random_crop_pair(image, label, (3, 3), generator)[1][0, 0]) for _ in range(6)]

    assert crops(3) == crops(3) and crops(3) != crops(4)


def test_pillow_pair_resizes_the_image_bicubic_and_the_label_nearest() -> None:
    label = np.repeat(np.repeat(np.array([[0, 255], [255, 0]], dtype=np.uint8), 4, 0), 4, 1)
    image = Image.fromarray(np.stack([label] * 3, -1))
    out_image, out_label = resize_image_pair(image, label, (4, 4))
    assert out_image.size == (4, 4) and out_label.shape == (4, 4)
    assert set(np.unique(out_label).tolist()) == {0, 255}
    assert np.array_equal(out_label > 127, np.asarray(out_image)[..., 0] > 127)
