"""Quantised ab space of Zhang, Isola & Efros (2016), "Colorful Image Colorization", §2.1–2.3.

* bins: the ab plane cut into a grid of size :data:`GRID` (Lab units), keeping the bins whose
  centre is a displayable sRGB colour for at least one L (:func:`gamut_bins`; the paper keeps
  Q = 313 bins; our count is in docs/colorize.md);
* soft encoding Z = H⁻¹(Y) of a true colour: its :data:`SOFT_NEIGHBOURS` nearest bins weighted by
  a Gaussian of σ = :data:`SOFT_SIGMA` around it (eq. 2's target);
* class rebalancing (eq. 3–4): w ∝ ((1 − λ)·p̃ + λ/Q)⁻¹ with λ = ½, p̃ the empirical bin
  distribution smoothed by a Gaussian of σ = 5, normalised so that E_p̃[w] = 1;
* the annealed mean H(Z) (eq. 5): softmax(log Z / T) averaged over the bin centres, T = 0.38.

All ab values here are in the scaled units of :mod:`semvis.colorize.lab` (Lab / 110) unless a name
says ``lab``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import torch

from semvis.colorize.lab import AB_SCALE, lab_to_rgb, rgb_to_lab

GRID = 10.0
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
REBALANCE_LAMBDA = 0.5
PRIOR_SIGMA = 5.0
TEMPERATURE = 0.38
#: Share of the uniform distribution mixed into the per-class priors of :func:`class_log_ratio`.
PRIOR_FLOOR = 0.01
#: Centres tried per axis: −110 … 110 in steps of :data:`GRID` (the paper's grid).
AB_LIMIT = 110.0
#: L values scanned for a displayable colour (0 … 100 in steps of 0.5).
L_STEPS = 201


@cache
def gamut_bins() -> torch.Tensor:
    """Q×2 centres (scaled ab) of the grid bins whose centre is inside the sRGB gamut for some L."""
    axis = torch.arange(-AB_LIMIT, AB_LIMIT + GRID / 2, GRID)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    centres = torch.stack([a.flatten(), b.flatten()])  # 2×N in Lab units
    lightness = torch.linspace(-1.0, 1.0, L_STEPS)  # scaled L
    n, m = centres.shape[1], lightness.numel()
    lab = torch.cat([lightness[:, None].expand(m, n)[None], (centres / AB_SCALE)[:, None, :].expand(2, m, n)])
    rgb = lab_to_rgb(lab.double(), clip=False)  # 3×L×N
    displayable = ((rgb >= 0) & (rgb <= 1)).all(dim=0).any(dim=0)
    return (centres[:, displayable].T / AB_SCALE).float().contiguous()


def _distances(ab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Squared Lab distances (N×Q) between N scaled ab points and the bin centres."""
    return torch.cdist(ab * AB_SCALE, centres * AB_SCALE).pow(2)


def soft_encode(ab: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Z = H⁻¹(Y): B×2×H×W scaled ab → B×Q×H×W targets, each pixel's 5 nearest bins Gaussian-weighted (σ = 5)."""
    centres = gamut_bins() if centres is None else centres
    b, _, h, w = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2, index = _distances(points, centres).topk(SOFT_NEIGHBOURS, dim=1, largest=False)
    weights = torch.softmax(-d2 / (2 * SOFT_SIGMA**2), dim=1)  # Gaussian, normalised to sum 1
    z = torch.zeros(points.shape[0], centres.shape[0], dtype=ab.dtype, device=ab.device)
    z.scatter_(1, index, weights.to(ab.dtype))
    return z.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def nearest_bin(ab: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest bin of each pixel: B×2×H×W scaled ab → B×H×W (the paper's q* for v(Z))."""
    centres = gamut_bins() if centres is None else centres
    b, _, h, w = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    return _distances(points, centres).argmin(dim=1).reshape(b, h, w)


def smoothed_prior(counts: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """p̃: bin counts (Q) normalised and smoothed by a Gaussian of σ = 5 over the ab plane, summing to 1."""
    centres = gamut_bins() if centres is None else centres
    p = counts.double() / counts.sum()
    kernel = torch.exp(-_distances(centres.double(), centres.double()) / (2 * PRIOR_SIGMA**2))
    smooth = kernel @ p
    return (smooth / smooth.sum()).float()


def rebalance_weights(prior: torch.Tensor, lam: float = REBALANCE_LAMBDA) -> torch.Tensor:
    """Eq. 4: w ∝ ((1 − λ)·p̃ + λ/Q)⁻¹, scaled so that Σ_q p̃_q·w_q = 1."""
    w = 1.0 / ((1 - lam) * prior + lam / prior.numel())
    return w / (prior * w).sum()


def annealed_mean(
    logits: torch.Tensor, temperature: float = TEMPERATURE, centres: torch.Tensor | None = None
) -> torch.Tensor:
    """Eq. 5: B×Q×H×W logits → B×2×H×W scaled ab, the mean of softmax(logits / T) over the bin centres.

    softmax(logits / T) is f_T(Z) = exp(log Z / T) / Σ exp(log Z / T) for Z = softmax(logits).
    """
    centres = gamut_bins() if centres is None else centres
    probs = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", probs, centres.to(probs.device))


def touched_bins() -> int:
    """How many grid cells hold at least one 8-bit sRGB colour (the paper's way to count its 313)."""
    levels = torch.arange(0, 256, 5, dtype=torch.float64) / 255
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    lab = rgb_to_lab(torch.stack([r.flatten(), g.flatten(), b.flatten()])[:, None, :])
    cells = torch.round(lab[1:, 0] * AB_SCALE / GRID).long()
    return int(torch.unique(cells[0] * 1000 + cells[1]).numel())


def class_bin_counts(
    pairs: Iterable[tuple[torch.Tensor, torch.Tensor]], num_classes: int, stride: int = 4
) -> torch.Tensor:
    """(C + 1)×Q counts of the nearest bin per class over (RGB, labels) pairs; row C is void (any other label)."""
    centres = gamut_bins()
    q = centres.shape[0]
    counts = torch.zeros(num_classes + 1, q, dtype=torch.float64)
    for rgb, labels in pairs:
        ab = rgb_to_lab(rgb[:, ::stride, ::stride].float())[1:][None]
        label = labels[::stride, ::stride].long().flatten()
        label = torch.where((label >= 0) & (label < num_classes), label, num_classes)
        index = label * q + nearest_bin(ab, centres).flatten()
        counts += torch.bincount(index, minlength=(num_classes + 1) * q).view(num_classes + 1, q)
    return counts


def class_log_ratio(counts: torch.Tensor, floor: float = PRIOR_FLOOR) -> torch.Tensor:
    """log p̃(q | c) − log p̃(q) per class row of :func:`class_bin_counts` (a class's colours against all).

    Both distributions are smoothed like p̃ (:func:`smoothed_prior`) and mixed with ``floor`` of the
    uniform one so that no bin is impossible; a class never seen gets a zero row.
    """
    q = counts.shape[1]

    def mixed(row: torch.Tensor) -> torch.Tensor:
        return (1 - floor) * smoothed_prior(row) + floor / q

    overall = mixed(counts.sum(0))
    rows = [torch.log(mixed(row) / overall) if row.sum() > 0 else torch.zeros(q) for row in counts]
    return torch.stack(rows).float()


def class_mean_offset(counts: torch.Tensor) -> torch.Tensor:
    """atanh of each class's mean ab minus atanh of the overall mean, per row of :func:`class_bin_counts`
    (C + 1 × 2): the regression head's per-class prior, a class's mean colour against all (unseen: 0)."""
    centres = gamut_bins().double()

    def pre_tanh(row: torch.Tensor) -> torch.Tensor:
        return torch.atanh((row @ centres / row.sum()).clamp(-0.99, 0.99))

    overall = pre_tanh(counts.sum(0).double())
    rows = [pre_tanh(row.double()) - overall if row.sum() > 0 else torch.zeros(2) for row in counts]
    return torch.stack(rows).float()
