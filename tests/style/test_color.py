"""Colour preservation (Gatys et al. 2016): YIQ, luminance-only transfer, colour histogram matching."""

import pytest
import torch

from semvis.style.color import (
    combine_luminance,
    luminance,
    match_color_histogram,
    match_luminance_stats,
    rgb_to_yiq,
    yiq_to_rgb,
)

MODES = ["cholesky", "pca", "sym"]


def correlated_image(
    seed: int, mean: tuple[float, float, float], mix: list[list[float]], size=(24, 32)
) -> torch.Tensor:
    """A 1×3×H×W image ``mean + mix @ u`` with u uniform in [−1, 1]³: correlated channels, well inside [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(3, size[0] * size[1], generator=g, dtype=torch.float64) * 2 - 1
    x = torch.tensor(mix, dtype=torch.float64) @ u + torch.tensor(mean, dtype=torch.float64)[:, None]
    return x.view(1, 3, *size)


def mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = image.flatten(2)[0].double()
    centred = x - x.mean(1, keepdim=True)
    return x.mean(1), centred @ centred.T / x.shape[1]


STYLE = correlated_image(0, (0.45, 0.5, 0.55), [[0.12, 0.03, 0.0], [0.02, 0.1, 0.04], [0.0, 0.05, 0.1]])
CONTENT = correlated_image(1, (0.6, 0.4, 0.35), [[0.08, 0.0, 0.02], [0.03, 0.06, 0.0], [0.01, 0.02, 0.09]], (20, 16))


def test_yiq_known_values_and_round_trip() -> None:
    white = torch.ones(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6, rtol=0)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(red).flatten(), torch.tensor([0.299, 0.595716, 0.211456]))
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-12, rtol=0)


def test_luminance_of_grey_is_the_grey_level() -> None:
    y = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(luminance(y.expand(1, 3, 4, 4)), y)


def test_match_luminance_stats_gives_exact_mean_and_std() -> None:
    style_y = torch.rand(1, 1, 30, 20, dtype=torch.float64) * 0.3 + 0.6
    content_y = torch.rand(1, 1, 10, 12, dtype=torch.float64) ** 2
    out = match_luminance_stats(style_y, content_y)
    assert out.mean().item() == pytest.approx(content_y.mean().item(), abs=1e-12)
    assert out.std(correction=0).item() == pytest.approx(content_y.std(correction=0).item(), abs=1e-12)
    # an affine map of the style: its correlation with the style is exactly 1
    assert torch.corrcoef(torch.stack([out.flatten(), style_y.flatten()]))[0, 1].item() == pytest.approx(1.0)


def test_match_luminance_stats_flat_style_becomes_content_mean() -> None:
    content_y = torch.rand(1, 1, 6, 6)
    out = match_luminance_stats(torch.full((1, 1, 6, 6), 0.3), content_y)
    torch.testing.assert_close(out, torch.full_like(out, content_y.mean().item()))


def test_combine_luminance_keeps_stylised_y_and_content_chroma() -> None:
    content = CONTENT.float()
    stylized_y = torch.rand(1, 1, *content.shape[-2:]) * 0.2 + 0.4
    out = combine_luminance(stylized_y, content)
    inside = ((out > 0) & (out < 1)).all(1, keepdim=True)
    assert inside.float().mean() > 0.9  # the check below covers almost every pixel
    yiq_out, yiq_content = rgb_to_yiq(out), rgb_to_yiq(content)
    torch.testing.assert_close(yiq_out[:, :1][inside], stylized_y[inside], atol=1e-5, rtol=0)
    chroma_inside = inside.expand(-1, 2, -1, -1)
    torch.testing.assert_close(yiq_out[:, 1:][chroma_inside], yiq_content[:, 1:][chroma_inside])
    assert out.min() >= 0 and out.max() <= 1


def test_combine_luminance_rejects_size_mismatch() -> None:
    with pytest.raises(ValueError, match="stylised luminance"):
        combine_luminance(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="B×1×H×W"):
        combine_luminance(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))


@pytest.mark.parametrize("mode", MODES)
def test_color_transfer_matches_reference_mean_and_covariance(mode: str) -> None:
    out = match_color_histogram(STYLE, CONTENT, mode)
    assert out.shape == STYLE.shape and out.dtype == STYLE.dtype
    assert out.min() > 0 and out.max() < 1  # clamping did not bite, so the statistics are exact
    mean_out, cov_out = mean_cov(out)
    mean_ref, cov_ref = mean_cov(CONTENT)
    torch.testing.assert_close(mean_out, mean_ref, atol=1e-10, rtol=0)
    torch.testing.assert_close(cov_out, cov_ref, atol=1e-7, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_color_transfer_is_identity_on_itself(mode: str) -> None:
    torch.testing.assert_close(match_color_histogram(STYLE, STYLE, mode), STYLE, atol=1e-7, rtol=0)


def test_color_transfer_modes_differ_but_sym_is_symmetric_positive_definite() -> None:
    outputs = {mode: match_color_histogram(STYLE, CONTENT, mode) for mode in MODES}
    assert not torch.allclose(outputs["cholesky"], outputs["pca"], atol=1e-4)
    assert not torch.allclose(outputs["pca"], outputs["sym"], atol=1e-4)
    # recover A from the output by least squares: x' − μ' = A (x − μ)
    x = STYLE.flatten(2)[0]
    y = outputs["sym"].flatten(2)[0]
    xc, yc = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    a = torch.linalg.lstsq(xc.T, yc.T).solution.T
    torch.testing.assert_close(a, a.T, atol=1e-8, rtol=0)
    assert torch.linalg.eigvalsh(a).min() > 0


@pytest.mark.parametrize("mode", MODES)
def test_color_transfer_clamps_and_handles_grey_source(mode: str) -> None:
    grey = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    vivid = torch.rand(1, 3, 8, 8)
    out = match_color_histogram(grey, vivid, mode)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_color_transfer_batch_broadcasts_reference() -> None:
    batch = torch.cat([STYLE, STYLE.flip(-1)])
    out = match_color_histogram(batch, CONTENT)
    torch.testing.assert_close(out[:1], match_color_histogram(STYLE, CONTENT))
    with pytest.raises(ValueError, match="batch"):
        match_color_histogram(batch, torch.cat([CONTENT] * 3))


def test_color_transfer_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown colour transfer mode"):
        match_color_histogram(STYLE, CONTENT, "reinhard")
    with pytest.raises(ValueError, match="B×3×H×W"):
        match_color_histogram(STYLE[:, :1], CONTENT)
