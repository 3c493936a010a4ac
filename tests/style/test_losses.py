"""Gatys et al. 2015 eq. 1-7 against hand computation, and autograd against eq. 2 and eq. 6."""

import pytest
import torch

from semvis.style.losses import (
    blend_grams,
    content_loss,
    gram_matrix,
    layer_style_loss,
    style_loss,
    total_loss,
    total_variation,
    weights_from_ratio,
)

# one image, N = 2 feature maps of 2×2 (M = 4)
F = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]], [[2.0, 0.0], [1.0, 1.0]]]])
P = torch.tensor([[[[0.0, 2.0], [1.0, 1.0]], [[2.0, 2.0], [0.0, 1.0]]]])


def test_eq1_content_loss_by_hand() -> None:
    # differences: 1, 0, -1, 2 | 0, -2, 1, 0 → squares sum 6 + 5 = 11
    assert content_loss(F, P).item() == pytest.approx(5.5)


def test_eq3_gram_matrix_by_hand() -> None:
    # rows f1 = (1, 2, 0, 3), f2 = (2, 0, 1, 1)
    expected = torch.tensor([[[14.0, 5.0], [5.0, 6.0]]])
    torch.testing.assert_close(gram_matrix(F), expected)


def test_eq4_layer_style_loss_by_hand() -> None:
    A = torch.tensor([[[10.0, 5.0], [4.0, 6.0]]])
    # (G - A)² = 16 + 0 + 1 + 0 = 17; 4 N² M² = 4 · 4 · 16 = 256
    assert layer_style_loss(F, A).item() == pytest.approx(17 / 256)
    # a region of area 2 instead of M = 4
    assert layer_style_loss(F, A, size=2).item() == pytest.approx(17 / 64)


def test_eq5_style_loss_default_weights_are_one_over_layer_count() -> None:
    A = torch.tensor([[[10.0, 5.0], [4.0, 6.0]]])
    feats, grams = {"a": F, "b": F}, {"a": A, "b": gram_matrix(F)}
    assert style_loss(feats, grams).item() == pytest.approx(0.5 * 17 / 256)
    assert style_loss(feats, grams, {"a": 2.0, "b": 7.0}).item() == pytest.approx(2 * 17 / 256)


def test_eq7_total_and_ratio() -> None:
    alpha, beta = weights_from_ratio(1e-3)
    assert (alpha, beta) == (1.0, 1000.0)
    assert total_loss(torch.tensor(2.0), torch.tensor(3.0), alpha, beta).item() == pytest.approx(3002.0)
    with pytest.raises(ValueError, match="ratio"):
        weights_from_ratio(0)


def test_eq2_gradient_of_content_loss_through_relu() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 4, 5, requires_grad=True)
    target = torch.rand(1, 3, 4, 5)
    features = torch.relu(x)
    content_loss(features, target).backward()
    expected = torch.where(x > 0, features - target, torch.zeros_like(x))
    torch.testing.assert_close(x.grad, expected)


def test_eq6_gradient_of_style_loss_through_relu() -> None:
    torch.manual_seed(0)
    n, h, w = 3, 4, 5
    m = h * w
    x = torch.randn(1, n, h, w, requires_grad=True)
    target = gram_matrix(torch.rand(1, n, h, w))
    features = torch.relu(x)
    layer_style_loss(features, target).backward()
    f = features.detach().reshape(n, m)
    g = f @ f.T
    # eq. 6: ∂E/∂F_ij = 1/(N² M²) ((Fᵀ (G − A))ᵀ)_ij where F_ij > 0, else 0
    grad_f = (f.T @ (g - target[0])).T / (n**2 * m**2)
    expected = torch.where(x > 0, grad_f.reshape(1, n, h, w), torch.zeros_like(x))
    torch.testing.assert_close(x.grad, expected)


def test_total_variation_by_hand() -> None:
    img = torch.tensor([[[[0.0, 1.0], [3.0, 1.0]]]])
    # vertical: (3-0)² + (1-1)² = 9; horizontal: (1-0)² + (1-3)² = 5
    assert total_variation(img).item() == pytest.approx(14.0)


def test_total_variation_gradient_matches_finite_differences() -> None:
    img = torch.rand((1, 3, 5, 6), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grad = torch.autograd.grad(total_variation(img.requires_grad_()), img)[0]
    eps, numeric = 1e-6, torch.empty_like(grad)
    flat = img.detach().flatten()
    for i in range(flat.numel()):
        plus, minus = flat.clone(), flat.clone()
        plus[i] += eps
        minus[i] -= eps
        numeric.view(-1)[i] = (total_variation(plus.view_as(img)) - total_variation(minus.view_as(img))) / (2 * eps)
    torch.testing.assert_close(grad, numeric, rtol=1e-6, atol=1e-8)
    # interior pixel of a constant image with one bump h: 4 neighbours → d/dh Σ(h)² · 4 = 8h
    bump = torch.zeros((1, 1, 3, 3), dtype=torch.float64)
    bump[0, 0, 1, 1] = 0.5
    assert torch.autograd.grad(total_variation(bump.requires_grad_()), bump)[0][0, 0, 1, 1].item() == pytest.approx(4.0)


def test_blend_of_grams_is_a_normalised_weighted_mean() -> None:
    a, b = {"l": torch.ones(1, 2, 2)}, {"l": 3 * torch.ones(1, 2, 2)}
    torch.testing.assert_close(blend_grams([a, b], [1, 3])["l"], 2.5 * torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="2 styles but 1 blend"):
        blend_grams([a, b], [1])
    with pytest.raises(ValueError, match="non-negative"):
        blend_grams([a, b], [0, 0])


def test_feature_maps_must_be_4d() -> None:
    with pytest.raises(ValueError, match="B×N×H×W"):
        gram_matrix(torch.zeros(2, 3))
