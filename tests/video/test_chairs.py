"""Flying-Chairs-style pairs: the flow is exact where the pixel stays visible."""

import math

import pytest
import torch

from semvis.nn.warp import warp
from semvis.video.chairs import SyntheticPairs, affine, affine_flow, synthetic_pair


def test_affine_flow_of_a_shift_and_of_a_rotation() -> None:
    shift = affine_flow(affine(0, 1, (3.0, -2.0), (0, 0)), (4, 5))
    assert torch.allclose(shift[0], torch.full((4, 5), 3.0)) and torch.allclose(shift[1], torch.full((4, 5), -2.0))
    quarter = affine_flow(affine(90, 1, (0, 0), (2.0, 2.0)), (5, 5))  # a quarter turn about (2, 2)
    # (x, y) = (4, 2) goes to (2, 4): flow (−2, 2); the centre does not move
    assert torch.allclose(quarter[:, 2, 4], torch.tensor([-2.0, 2.0]), atol=1e-5)
    assert torch.allclose(quarter[:, 2, 2], torch.zeros(2), atol=1e-5)


def textured_photos() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.interpolate(torch.rand(3, 3, 12, 16, generator=g), (96, 128), mode="bicubic")
    return list(smooth.clamp(0, 1))


def check_warp(objects: tuple[int, int], seed: int) -> tuple[float, float, float]:
    """Frame 2 warped back by the flow: (share of checkable pixels within 0.02 of frame 1, median error, unwarped)."""
    pair = synthetic_pair(textured_photos(), (64, 80), torch.Generator().manual_seed(seed), objects)
    assert pair.frame1.shape == (3, 64, 80) and pair.flow.shape == (2, 64, 80)
    error = (warp(pair.frame2[None], pair.flow[None])[0] - pair.frame1).abs().mean(0)
    # only pixels whose target p + flow(p) lies inside frame 2 can be checked
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(80.0), indexing="ij")
    tx, ty = xs + pair.flow[0], ys + pair.flow[1]
    inside = (tx >= 0) & (tx <= 79) & (ty >= 0) & (ty <= 63)
    assert inside.float().mean() > 0.6
    unwarped = (pair.frame2 - pair.frame1).abs().mean(0)[inside].median()
    return float((error[inside] < 0.02).float().mean()), float(error[inside].median()), float(unwarped)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_warping_frame2_by_the_flow_gives_frame1_where_visible(seed: int) -> None:
    # background only: nothing is occluded, so all but resampling noise matches (measured 97 %)
    share, median, unwarped = check_warp((0, 0), seed)
    assert share > 0.95 and median < 0.01 < unwarped
    # with three objects the pixels they cover or uncover in frame 2 cannot match (measured 72–82 %)
    share, median, unwarped = check_warp((3, 3), seed)
    assert share > 0.65 and median < 0.01 < unwarped


def test_pairs_are_reproducible_and_need_photos(tmp_path) -> None:
    from PIL import Image

    for i, photo in enumerate(textured_photos()):
        Image.fromarray((photo.permute(1, 2, 0) * 255).byte().numpy()).save(tmp_path / f"{i}.png")
    pairs = SyntheticPairs(tmp_path, (48, 64), length=3, seed=7)
    first, again = pairs[1], pairs[1]
    assert len(pairs) == 3 and all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(pairs[0][2], pairs[1][2])
    assert len(list(pairs)) == 3  # iteration ends: an index past the end is an IndexError
    with pytest.raises(IndexError, match="pair 3 of 3"):
        pairs[3]
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="no photos"):
        SyntheticPairs(tmp_path / "empty", (48, 64), 1)
    with pytest.raises(ValueError, match="at least one photo"):
        synthetic_pair([], (8, 8), torch.Generator())
    assert math.isfinite(float(first[2].abs().max()))
