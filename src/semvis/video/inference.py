"""Algorithm 1 of Zhu et al. 2017: deep feature flow inference over a video.

For each frame: on a key frame run N_feat and keep its features; on any other frame compute
the flow from it to the key frame, propagate the key features (W) and run N_task. Frames are
consumed one at a time and only the key frame and its features are held, so memory stays
bounded for any length. The flow function is pluggable:

- the model's own flow network (default) — DFF;
- :class:`DISFlow`, OpenCV's DIS (Kroeger et al. 2016) — hand-crafted flow without a scale
  field, the paper's "SFF" baseline of propagating features along hand-crafted flow;
- :class:`DenseFlow` around :class:`semvis.flow.RAFTFlow` — RAFT-small (Teed & Deng 2020), a
  pretrained flow network, also without a scale field;
- :func:`zero_flow` — features copied from the key frame unchanged.

A flow function is called as ``flow(current, key)`` with ``1 × 3 × H × W`` frames in [0, 1]
and returns a :class:`~semvis.video.flownet.FlowEstimate` (flow from ``current`` to ``key``,
any resolution, vectors in pixels of its own grid; scale field or ``None``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from semvis.data.images import image_to_tensor
from semvis.flow import dis_flow, flow_to_tensor
from semvis.video.dff import DeepFeatureFlow
from semvis.video.flownet import FlowEstimate
from semvis.video.schedule import FixedInterval, KeyFramePolicy, KeyFrameTracker

FlowFunction = Callable[[torch.Tensor, torch.Tensor], FlowEstimate]


@dataclass(frozen=True)
class FrameResult:
    """One frame's outcome: ``labels`` (``H × W`` int64, on the CPU), whether it was a key
    frame, and the wall-clock seconds spent on it (flow, features, task and argmax)."""

    index: int
    labels: torch.Tensor
    key: bool
    seconds: float


class DISFlow:
    """OpenCV DIS flow from the current frame to the key frame, at full resolution, no scale field."""

    def __init__(self, preset: str = "medium") -> None:
        self.preset = preset

    def __call__(self, current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
        flow = flow_to_tensor(dis_flow(current, key, self.preset))
        return FlowEstimate(flow.to(current.device), None)


class DenseFlow:
    """A flow function without a scale field from a dense flow ``flow(frame1, frame2)`` → ``B × 2 × H × W``
    (e.g. :class:`semvis.flow.RAFTFlow`), from the current frame to the key frame."""

    def __init__(self, flow: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.flow = flow

    def __call__(self, current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
        return FlowEstimate(self.flow(current, key).to(current.device), None)


def zero_flow(current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
    """No motion: features are copied from the key frame as they are."""
    return FlowEstimate(current.new_zeros(current.shape[0], 2, *current.shape[-2:]), None)


def _as_tensor(frame: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """An RGB uint8 ``H × W × 3`` array or a ``[1 ×] 3 × H × W`` tensor in [0, 1] as a ``1 × 3 × H × W`` batch."""
    tensor = image_to_tensor(frame) if isinstance(frame, np.ndarray) else frame
    tensor = tensor if tensor.dim() == 4 else tensor[None]
    if tensor.shape[:2] != (1, 3):
        raise ValueError(f"expected one RGB frame, got shape {tuple(tensor.shape)}")
    return tensor.to(device)


def run_video(
    model: DeepFeatureFlow,
    frames: Iterable[torch.Tensor | np.ndarray],
    schedule: KeyFramePolicy | None = None,
    flow: FlowFunction | None = None,
) -> Iterator[FrameResult]:
    """Algorithm 1 over ``frames`` (RGB uint8 arrays, e.g. a :class:`~semvis.data.video.FrameSource`,
    or tensors in [0, 1]); yields one :class:`FrameResult` per frame, as it is computed.

    Args:
        model: the DFF model (put in eval mode here).
        schedule: the key-frame policy; default :class:`~semvis.video.schedule.FixedInterval` (l = 10).
        flow: the flow function; default the model's flow network.
    """
    schedule = FixedInterval() if schedule is None else schedule
    flow = model.flow if flow is None else flow
    if flow is None:
        raise ValueError("the model has no flow network: pass a flow function (e.g. DISFlow() or zero_flow)")
    model.eval()
    device = next(model.parameters()).device
    tracker = KeyFrameTracker(schedule, flow)
    key_features = None
    for index, raw in enumerate(frames):
        start = time.perf_counter()
        with torch.inference_mode():
            frame = _as_tensor(raw, device)
            estimate = tracker.step(frame)
            if estimate is None:
                features = key_features = model.features(frame)
            else:
                features = model.propagate(key_features, estimate)
            labels = model.classify(features, frame.shape[-2:]).argmax(1)[0].cpu()
        yield FrameResult(index, labels, estimate is None, time.perf_counter() - start)
