"""Zhang et al. (2016) quantised ab space: gamut bins, soft encoding, rebalancing, annealed mean, the loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from semvis.colorize.bins import (
    GRID,
    SOFT_NEIGHBOURS,
    annealed_mean,
    class_bin_counts,
    class_log_ratio,
    class_mean_offset,
    gamut_bins,
    nearest_bin,
    rebalance_weights,
    smoothed_prior,
    soft_encode,
    touched_bins,
)
from semvis.colorize.lab import AB_SCALE, lab_to_rgb, rgb_to_lab
from semvis.colorize.losses import rebalanced_ce_loss
from semvis.colorize.unet import SemanticColorizer


def test_gamut_bins_lie_on_the_grid_and_each_is_displayable_for_some_lightness() -> None:
    centres = gamut_bins() * AB_SCALE
    q = centres.shape[0]
    assert 150 < q < 313  # centres inside the gamut: fewer than the paper's 313 cells touched by it
    assert torch.allclose(centres / GRID, torch.round(centres / GRID), atol=1e-4)
    assert (centres.abs() <= 110 + 1e-4).all()
    assert (centres.abs().sum(1) < 1e-6).any()  # the gray bin
    lightness = torch.linspace(0, 100, 1001)
    for a, b in centres.double():
        lab = torch.stack([lightness.double(), a.expand(1001), b.expand(1001)])[:, None, :]
        rgb = lab_to_rgb(torch.cat([lab[:1] / 50 - 1, lab[1:] / AB_SCALE]), clip=False)
        assert ((rgb >= -1e-6) & (rgb <= 1 + 1e-6)).all(dim=0).any(), (float(a), float(b))


def test_a_grid_point_outside_the_gamut_is_dropped() -> None:
    kept = {(round(float(a)), round(float(b))) for a, b in gamut_bins() * AB_SCALE}
    # a = 100, b = -110 would be a purple that no sRGB colour reaches
    assert (100, -110) not in kept and (0, 0) in kept and (70, 50) in kept


def test_soft_encoding_sums_to_one_over_five_bins_and_peaks_at_the_nearest() -> None:
    g = torch.Generator().manual_seed(0)
    ab = (torch.rand(2, 2, 5, 7, generator=g) - 0.5) * 0.8
    z = soft_encode(ab)
    assert z.shape == (2, gamut_bins().shape[0], 5, 7)
    assert torch.allclose(z.sum(1), torch.ones(2, 5, 7), atol=1e-6)
    assert ((z > 0).sum(1) == SOFT_NEIGHBOURS).all()
    assert torch.equal(z.argmax(1), nearest_bin(ab))
    # brute force for one pixel: Gaussian σ = 5 (Lab units) over the five nearest centres
    point = ab[0, :, 0, 0] * AB_SCALE
    d2 = ((gamut_bins() * AB_SCALE - point) ** 2).sum(1)
    nearest = d2.argsort()[:SOFT_NEIGHBOURS]
    expected = torch.exp(-d2[nearest] / 50)
    assert torch.allclose(z[0, nearest, 0, 0], expected / expected.sum(), atol=1e-5)


def test_a_colour_on_a_bin_centre_puts_most_weight_there() -> None:
    centre = gamut_bins()[40]
    z = soft_encode(centre.view(1, 2, 1, 1))[0, :, 0, 0]
    # the four grid neighbours at distance 10 each get exp(−2) of the centre's weight
    assert z.argmax() == 40 and z[40] == pytest.approx(1 / (1 + 4 * math.exp(-2)), abs=1e-4)


def test_rebalancing_weights_have_expectation_one_under_the_prior() -> None:
    counts = torch.rand(gamut_bins().shape[0], generator=torch.Generator().manual_seed(1)) ** 4 * 1000
    prior = smoothed_prior(counts)
    assert prior.sum() == pytest.approx(1.0, abs=1e-5) and (prior > 0).all()
    w = rebalance_weights(prior)
    assert (prior * w).sum() == pytest.approx(1.0, abs=1e-5)
    assert w[prior.argmax()] == w.min() and w[prior.argmin()] == w.max()  # rare colours weigh more
    uniform = torch.full_like(prior, 1 / prior.numel())
    assert torch.allclose(rebalance_weights(uniform), torch.ones_like(prior))


def test_smoothing_spreads_a_single_bin_to_its_neighbours_only() -> None:
    counts = torch.zeros(gamut_bins().shape[0])
    counts[40] = 1
    prior = smoothed_prior(counts)
    d = (gamut_bins() - gamut_bins()[40]).norm(dim=1) * AB_SCALE
    ratio = prior[(d - GRID).abs() < 1e-3] / prior[40]
    assert torch.allclose(ratio, torch.full_like(ratio, math.exp(-2)), atol=1e-5)  # σ = 5 at distance 10


def test_annealed_mean_is_the_mode_as_t_goes_to_zero_and_the_mean_at_one() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(1, gamut_bins().shape[0], 3, 4, generator=g) * 3
    mode = gamut_bins()[logits.argmax(1)].permute(0, 3, 1, 2)
    assert torch.allclose(annealed_mean(logits, 1e-4), mode, atol=1e-5)
    mean = torch.einsum("bqhw,qc->bchw", torch.softmax(logits, 1), gamut_bins())
    assert torch.allclose(annealed_mean(logits, 1.0), mean, atol=1e-6)


def test_the_loss_is_weighted_cross_entropy_against_the_soft_targets() -> None:
    g = torch.Generator().manual_seed(3)
    q = gamut_bins().shape[0]
    logits = torch.randn(2, q, 4, 4, generator=g)
    ab = (torch.rand(2, 2, 4, 4, generator=g) - 0.5) * 0.6
    weights = torch.rand(q, generator=g) + 0.5
    z = soft_encode(ab)
    per_pixel = -(z * F.log_softmax(logits, 1)).sum(1) * weights[z.argmax(1)]
    assert rebalanced_ce_loss(logits, ab, weights) == pytest.approx(float(per_pixel.mean()), rel=1e-5)
    assert rebalanced_ce_loss(logits, ab, weights, "sum") == pytest.approx(float(per_pixel.sum()), rel=1e-5)
    # the best logits are log Z: the loss is then Z's entropy (uniform weights)
    best = rebalanced_ce_loss(torch.log(z.clamp_min(1e-30)), ab, torch.ones(q))
    assert best == pytest.approx(float(-(z * torch.log(z.clamp_min(1e-30))).sum(1).mean()), rel=1e-4)


def test_class_bin_counts_count_every_strided_pixel_once_under_its_class() -> None:
    rgb = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(4))
    labels = torch.zeros(8, 8, dtype=torch.long)
    labels[:, 4:] = 1
    labels[0] = 9  # outside the 2 classes: void row
    counts = class_bin_counts([(rgb, labels), (rgb, labels)], num_classes=2, stride=2)
    assert counts.shape == (3, gamut_bins().shape[0]) and counts.sum() == 2 * 16
    assert counts.sum(1).tolist() == [2 * 6, 2 * 6, 2 * 4]
    ab = rgb_to_lab(rgb[:, ::2, ::2])[1:][None]
    expected = torch.bincount(nearest_bin(ab).flatten(), minlength=counts.shape[1]).double()
    assert torch.equal(counts.sum(0), 2 * expected)


def test_class_log_ratio_favours_a_class_own_colours_and_is_zero_for_an_unseen_class() -> None:
    q = gamut_bins().shape[0]
    counts = torch.zeros(3, q)
    counts[0, 10], counts[1, 100] = 50, 50
    ratio = class_log_ratio(counts)
    assert ratio[0, 10] > 0 > ratio[0, 100] and ratio[1, 100] > 0 > ratio[1, 10]
    assert torch.equal(ratio[2], torch.zeros(q))


def test_classification_head_gives_q_logits_and_decodes_to_chroma() -> None:
    torch.manual_seed(0)
    model = SemanticColorizer(width=4, head="classification")
    luma, labels = torch.rand(1, 1, 20, 24) * 2 - 1, torch.randint(0, 11, (1, 20, 24))
    assert model.logits(luma, labels).shape == (1, gamut_bins().shape[0], 20, 24)
    assert model.logits(luma, labels, every=2).shape == (1, gamut_bins().shape[0], 10, 12)
    ab = model(luma, labels)
    assert ab.shape == (1, 2, 20, 24) and ab.abs().max() <= 1


def test_class_prior_moves_exactly_the_pixels_of_its_class() -> None:
    torch.manual_seed(0)
    model = SemanticColorizer(width=4, head="classification", class_prior=True)
    target = 17
    with torch.no_grad():
        model.prior.weight[3, target] = 100.0  # class 3: bin 17, whatever the network says
    luma = torch.rand(1, 1, 32, 32) * 2 - 1
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[:, 8:16, 8:16] = 3
    ab = model(luma, labels)
    assert torch.allclose(ab[0, :, 8:16, 8:16], gamut_bins()[target].view(2, 1, 1).expand(2, 8, 8), atol=1e-4)
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[8:16, 8:16] = False
    assert (ab[0, :, outside] - gamut_bins()[target][:, None]).abs().sum(0).min() > 1e-3


def test_the_paper_style_count_of_touched_cells_is_between_ours_and_313() -> None:
    assert gamut_bins().shape[0] < touched_bins() <= 313


def test_class_mean_offset_is_the_pre_tanh_gap_between_a_class_mean_and_the_overall_mean() -> None:
    q = gamut_bins().shape[0]
    counts = torch.zeros(3, q)
    counts[0, 10], counts[1, 100] = 1, 3
    overall = (gamut_bins()[10] + 3 * gamut_bins()[100]) / 4
    offset = class_mean_offset(counts)
    assert torch.allclose(offset[0], torch.atanh(gamut_bins()[10]) - torch.atanh(overall), atol=1e-5)
    assert torch.allclose(torch.tanh(offset[1] + torch.atanh(overall)), gamut_bins()[100], atol=1e-5)
    assert torch.equal(offset[2], torch.zeros(2))
