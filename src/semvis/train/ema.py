"""Exponential moving average of a model's weights ("Polyak averaging", Xception §4.3)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from semvis.train.distributed import unwrap_model


class ModelEMA:
    """Keeps ``ema = d_t * ema + (1 - d_t) * current`` for every parameter and buffer.

    The decay warms up as TensorFlow's ``ExponentialMovingAverage(num_updates=…)`` does:
    ``d_t = min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so a short run's average
    follows the trained weights instead of staying near the random initialisation (with a
    fixed 0.9999, 1,000 steps keep 90 % of the initial weights). Floating-point tensors are
    averaged; integer buffers (e.g. BatchNorm's ``num_batches_tracked``) are copied.
    :attr:`module` is a frozen copy in eval mode to evaluate or export; it starts equal to the
    model passed in. ``updates`` counts the updates (the trainer restores it on resume).
    """

    def __init__(self, model: nn.Module, decay: float, updates: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates = updates
        self.module = copy.deepcopy(unwrap_model(model)).eval().requires_grad_(False)

    @property
    def current_decay(self) -> float:
        """The decay the next update uses."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step towards ``model``'s current weights."""
        decay = self.current_decay
        self.updates += 1
        current = unwrap_model(model).state_dict()
        for name, averaged in self.module.state_dict().items():
            if averaged.is_floating_point():
                averaged.lerp_(current[name].to(averaged.dtype), 1.0 - decay)
            else:
                averaged.copy_(current[name])

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (loadable straight into the model for evaluation)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.module.load_state_dict(state)
