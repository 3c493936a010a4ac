"""The seed's training loss (eq. 1): Huber with δ = 1 between predicted and true chroma."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

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
