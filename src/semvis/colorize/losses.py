"""Training losses: the seed's Huber (eq. 1, δ = 1) and Zhang et al.'s class-rebalanced cross-entropy over ab bins."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from semvis.colorize.bins import soft_encode

HUBER_DELTA = 1.0


def huber_ab_loss(
    pred_ab: torch.Tensor, true_ab: torch.Tensor, reduction: Literal["mean", "sum"] = "mean"
) -> torch.Tensor:
    """Eq. 1 on the scaled ab channels (see :mod:`semvis.colorize.lab`), δ = 1.

    Per element ½e² for |e| ≤ 1, else |e| − ½; ``"mean"`` averages over every element (batch,
    both channels, all pixels), ``"sum"`` adds them. In the [−1, 1] scaling δ = 1 is 110 Lab
    units, so the loss is quadratic for all but the largest chroma errors.
    """
    return F.huber_loss(pred_ab, true_ab, reduction=reduction, delta=HUBER_DELTA)


def rebalanced_ce_loss(
    logits: torch.Tensor, true_ab: torch.Tensor, weights: torch.Tensor, reduction: Literal["mean", "sum"] = "mean"
) -> torch.Tensor:
    """Zhang et al. (2016) eq. 2 with eq. 3's rebalancing: −v(Z)·Σ_q Z_q log Ẑ_q per pixel.

    ``logits``: B×Q×H×W over the bins of :mod:`~semvis.colorize.bins`; ``true_ab``: B×2×H×W scaled
    ab; Z its soft encoding (:func:`~semvis.colorize.bins.soft_encode`); v(Z) = w_{q*} with
    q* = argmax_q Z_q and ``weights`` the Q rebalancing weights (eq. 4). ``"mean"`` averages over
    pixels (the paper sums; a mean keeps the step size independent of the crop size).
    """
    with torch.no_grad():
        target = soft_encode(true_ab.float())
        v = weights.to(logits.device)[target.argmax(dim=1)]
    per_pixel = -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1) * v
    return per_pixel.mean() if reduction == "mean" else per_pixel.sum()
