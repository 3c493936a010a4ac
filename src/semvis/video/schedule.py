"""Key-frame policies: when :func:`~semvis.video.inference.run_video` runs N_feat afresh.

A policy answers two questions for frame ``i`` whose key frame was ``since_key`` frames ago:

- ``due(since_key)`` — a key frame regardless of content (asked first, before any flow);
- ``changed(current, key, estimate)`` — after the flow from ``current`` to ``key`` is
  computed, whether the content has moved on too far to propagate features.

:class:`FixedInterval` is Algorithm 1 of Zhu et al. 2017: frame i is a key frame when
``i mod l = 0`` (l = 10 by default). :class:`AdaptiveSchedule` goes beyond the paper: it makes
a key frame when a change measure exceeds a threshold (and, optionally, at least every
``max_interval`` frames). Its measures, all on the current/key frame pair and the flow estimate:

- ``"residual"``: mean ``|current − warp(key, flow)|`` over pixels and channels, with the flow
  resized to the frame (samples leaving the frame read zero, so uncovered content counts);
  frames in [0, 1]. A scene cut gives a large residual whatever the flow.
- ``"flow"``: mean flow magnitude in frame pixels — large motion.
- ``"scale"``: mean ``|S − 1|`` of the scale field — how much the flow network distrusts the
  propagation (0 for flow functions without a scale field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from semvis.nn.warp import warp
from semvis.video.flownet import FlowEstimate, resize_flow

#: Algorithm 1's default key-frame interval l.
DEFAULT_INTERVAL = 10

Measure = Callable[[torch.Tensor, torch.Tensor, FlowEstimate], float]


class KeyFramePolicy(Protocol):
    def due(self, since_key: int) -> bool: ...

    def changed(self, current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> bool: ...


def warp_residual(current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> float:
    """Mean ``|current − warp(key, flow)|`` with the flow resized to the frames."""
    flow = resize_flow(estimate.flow, current.shape[-2:])
    return (current - warp(key, flow)).abs().mean().item()


def flow_magnitude(current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> float:
    """Mean length of the flow vectors, in pixels of the frame."""
    return resize_flow(estimate.flow, current.shape[-2:]).norm(dim=1).mean().item()


def scale_deviation(current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> float:
    """Mean ``|S − 1|`` of the scale field; 0 without one."""
    return 0.0 if estimate.scale is None else (estimate.scale - 1).abs().mean().item()


MEASURES: dict[str, Measure] = {"residual": warp_residual, "flow": flow_magnitude, "scale": scale_deviation}


class FixedInterval:
    """A key frame every ``interval`` frames (Algorithm 1: frames 0, l, 2l, …)."""

    def __init__(self, interval: int = DEFAULT_INTERVAL) -> None:
        if interval < 1:
            raise ValueError(f"the key-frame interval must be at least 1, got {interval}")
        self.interval = interval

    def due(self, since_key: int) -> bool:
        return since_key >= self.interval

    def changed(self, current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> bool:
        return False


class AdaptiveSchedule:
    """A key frame when ``MEASURES[measure](current, key, estimate) > threshold``, or when
    ``max_interval`` frames have passed since the last one (``None``: never forced)."""

    def __init__(self, threshold: float, measure: str = "residual", max_interval: int | None = None) -> None:
        if measure not in MEASURES:
            raise ValueError(f"unknown change measure {measure!r}; choose one of {sorted(MEASURES)}")
        if max_interval is not None and max_interval < 1:
            raise ValueError(f"max_interval must be at least 1, got {max_interval}")
        self.threshold = threshold
        self.measure = measure
        self.max_interval = max_interval

    def due(self, since_key: int) -> bool:
        return self.max_interval is not None and since_key >= self.max_interval

    def changed(self, current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> bool:
        return MEASURES[self.measure](current, key, estimate) > self.threshold


class KeyFrameTracker:
    """Algorithm 1's key-frame bookkeeping for a stream of frames, shared by every loop that propagates.

    :meth:`step` takes the next frame and returns ``None`` when it becomes the key frame (the
    policy's ``due``, or ``changed`` once the flow is known), else ``flow(frame, key)`` for
    propagating the key frame's result onto it. The caller keeps what it computed on the key frame.
    """

    def __init__(self, schedule: KeyFramePolicy, flow: Callable[[torch.Tensor, torch.Tensor], FlowEstimate]) -> None:
        self.schedule, self.flow = schedule, flow
        self.key: torch.Tensor | None = None
        self.since_key = 0

    def step(self, frame: torch.Tensor) -> FlowEstimate | None:
        estimate = None
        if self.key is not None and not self.schedule.due(self.since_key):
            estimate = self.flow(frame, self.key)
            if self.schedule.changed(frame, self.key, estimate):
                estimate = None
        if estimate is None:
            self.key, self.since_key = frame, 0
        self.since_key += 1
        return estimate
