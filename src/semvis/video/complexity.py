"""Computational cost of Deep Feature Flow: FLOPs of N_feat, F, W and N_task, r and the speedup.

Zhu et al. 2017, §3: a non-key frame costs ``O(F) + O(W) + O(N_task)``, a key frame
``O(N_feat) + O(N_task)``; their ratio is

    r = (O(F) + O(W) + O(N_task)) / (O(N_feat) + O(N_task))          (eq. 5)
      ≈ O(F) / O(N_feat)                                                (eq. 6)

and with a key frame every l frames the theoretical speedup over per-frame N is

    s = l / (1 + (l − 1) r)                                             (eq. 7)

FLOPs are *counted*, not timed: :class:`torch.utils.flop_counter.FlopCounterMode` runs the
modules and counts 2 FLOPs per multiply-accumulate of every convolution (transposed ones
included) and matrix product. It has no formula for interpolation, so bilinear sampling
(``grid_sample`` in W, ``interpolate`` for resizing flow, scale field and logits) is counted
here as 4 multiply-adds = 8 FLOPs per output value. Element-wise work (activations, the
scale-field product, pooling, biases) is not counted. Build the model under
``torch.device("meta")``, or count a :func:`meta_copy` of a trained one, to count without
computing anything.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any, TypeVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from semvis.video.dff import DeepFeatureFlow
from semvis.video.inference import FlowFunction

aten = torch.ops.aten
M = TypeVar("M", bound=nn.Module)

#: FLOPs per output value of bilinear interpolation (4 taps, a multiply and an add each).
BILINEAR_FLOPS = 8


def _bilinear_flops(*args: Any, out_shape: Any, **kwargs: Any) -> int:
    return BILINEAR_FLOPS * prod(out_shape)


INTERPOLATION_FORMULAS = {aten.grid_sampler_2d: _bilinear_flops, aten.upsample_bilinear2d: _bilinear_flops}


def _counted(fn: Callable[..., Any], *args: Any) -> tuple[int, Any]:
    """``(FLOPs, fn(*args))`` without gradients."""
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=INTERPOLATION_FORMULAS) as counter:
        out = fn(*args)
    return counter.get_total_flops(), out


def count_flops(fn: Callable[..., Any], *args: Any) -> int:
    """FLOPs of ``fn(*args)`` (no gradient), convolutions and bilinear interpolation included."""
    return _counted(fn, *args)[0]


def speedup(interval: float, ratio: float) -> float:
    """Eq. 7: ``l / (1 + (l − 1) r)`` for key-frame interval ``l`` (frames per key frame) and cost ratio ``r``."""
    if interval < 1:
        raise ValueError(f"the key-frame interval must be at least 1, got {interval}")
    if ratio < 0:
        raise ValueError(f"the cost ratio must be non-negative, got {ratio}")
    return interval / (1 + (interval - 1) * ratio)


@dataclass(frozen=True)
class Complexity:
    """FLOPs of each part of DFF for one frame."""

    features: int
    flow: int
    warp: int
    task: int

    @property
    def ratio(self) -> float:
        """r of eq. 5: a non-key frame's cost over a key frame's."""
        return (self.flow + self.warp + self.task) / (self.features + self.task)

    @property
    def approximate_ratio(self) -> float:
        """r ≈ O(F) / O(N_feat), eq. 6."""
        return self.flow / self.features

    def speedup(self, interval: int) -> float:
        """Eq. 7 with this model's r."""
        return speedup(interval, self.ratio)


def meta_copy(model: M) -> M:
    """A copy of ``model`` on the meta device: its FLOPs can be counted without computing anything."""
    return copy.deepcopy(model).to("meta")


def dff_complexity(model: DeepFeatureFlow, frame_size: tuple[int, int], flow: FlowFunction | None = None) -> Complexity:
    """Count N_feat, F, W (resizing flow and scale field + warping) and N_task on one frame of
    ``frame_size = (width, height)``, on the device of the model's parameters (``meta`` is fine).

    ``flow`` replaces the model's flow network, as in :func:`~semvis.video.inference.run_video`;
    only torch operations are counted, so ``zero_flow`` costs 0 and gives W for any flow without
    a scale field at frame resolution (e.g. DIS, whose OpenCV work is not counted).
    """
    flow = model.flow if flow is None else flow
    if flow is None:
        raise ValueError("the model has no flow network to count: pass a flow function")
    width, height = frame_size
    device = next(model.parameters()).device
    frame = torch.zeros(1, 3, height, width, device=device)
    feature_flops, features = _counted(model.features, frame)
    flow_flops, estimate = _counted(flow, frame, frame)
    return Complexity(
        features=feature_flops,
        flow=flow_flops,
        warp=count_flops(model.propagate, features, estimate),
        task=count_flops(model.classify, features, (height, width)),
    )
