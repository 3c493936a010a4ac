"""Exponential moving average of a model's weights ("Polyak averaging", Xception §4.3)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from semvis.train.distributed import unwrap_model


class ModelEMA:
    """Keeps ``ema = decay * ema + (1 - decay) * current`` for every parameter and buffer.

    Floating-point tensors are averaged; integer buffers (e.g. BatchNorm's
    ``num_batches_tracked``) are copied. :attr:`module` is a frozen copy in eval
    mode to evaluate or export; it starts equal to the model passed in.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(unwrap_model(model)).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step towards ``model``'s current weights."""
        current = unwrap_model(model).state_dict()
        for name, averaged in self.module.state_dict().items():
            if averaged.is_floating_point():
                averaged.lerp_(current[name].to(averaged.dtype), 1.0 - self.decay)
            else:
                averaged.copy_(current[name])

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (loadable straight into the model for evaluation)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.module.load_state_dict(state)
