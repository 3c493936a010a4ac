import kornia
import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from semvis.colorize import AB_SCALE, L_SCALE, lab_to_rgb, luma, rgb_to_lab


def random_rgb(n: int = 4096, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 64, n // 64, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).float()


def test_round_trip_rgb_lab_rgb() -> None:
    rgb = random_rgb()
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-4


def test_agrees_with_skimage_after_unscaling() -> None:
    rgb = random_rgb(seed=1)
    ours = rgb_to_lab(rgb)
    unscaled = torch.stack([(ours[0] + 1) * 50, ours[1] * 110, ours[2] * 110]).permute(1, 2, 0).double().numpy()
    reference = rgb2lab(rgb.permute(1, 2, 0).double().numpy())
    np.testing.assert_allclose(unscaled, reference, atol=2e-3)


def test_scaling_constants_are_exact() -> None:
    assert (L_SCALE, AB_SCALE) == (50.0, 110.0)
    white, black = torch.ones(3, 1, 1), torch.zeros(3, 1, 1)
    assert torch.allclose(rgb_to_lab(white)[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-4)
    assert torch.allclose(rgb_to_lab(black)[:, 0, 0], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6)
    # scaled = raw / constants exactly, for any colour
    rgb = random_rgb(seed=2)
    raw = kornia.color.rgb_to_lab(rgb)
    expected = torch.stack([raw[0] / 50 - 1, raw[1] / 110, raw[2] / 110])
    assert torch.equal(rgb_to_lab(rgb), expected)


def test_whole_srgb_gamut_fits_in_plus_minus_110() -> None:
    # every fifth 8-bit level (0, 5, …, 255); a full 256³ grid gives the same extremes, at the
    # corners green (a min), magenta (a max), blue (b min) and yellow (b max)
    levels = torch.arange(0, 256, 5) / 255
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    lab = rgb_to_lab(torch.stack([r, g, b]).reshape(3, len(levels), -1))
    a, b_ = lab[1] * 110, lab[2] * 110
    assert a.min() == pytest.approx(-86.18, abs=0.01) and a.max() == pytest.approx(98.23, abs=0.01)
    assert b_.min() == pytest.approx(-107.86, abs=0.01) and b_.max() == pytest.approx(94.48, abs=0.01)
    assert lab[1:].abs().max() < 0.99
    assert lab[0].min() >= -1 - 1e-6 and lab[0].max() <= 1 + 1e-4


def test_luma_of_gray_equals_luma_of_the_same_gray_as_rgb() -> None:
    gray = torch.rand(2, 1, 8, 8)
    assert torch.equal(luma(gray), luma(gray.expand(2, 3, 8, 8)))
    assert luma(gray).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        luma(torch.rand(2, 8, 8))
