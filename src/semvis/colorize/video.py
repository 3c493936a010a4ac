"""Colorize a video with temporally consistent chroma: the photo pipeline on key frames only, its chroma
carried along optical flow to the frames between.

Not in the seed paper, which colours photos: this is Deep Feature Flow's propagation (Zhu et al. 2017,
Algorithm 1) with the key frame's predicted chroma in place of its features. A key frame goes through
exactly what ``semvis colorize PHOTO`` does (segmenter, then the colorizer at the working size). For
any other frame i with key frame k, OpenCV's DIS flow from frame i to frame k (on both frames at the
working size) backward-warps k's working-size ab onto frame i (:func:`semvis.nn.warp.warp`); the result
is upsampled bilinearly and joined to frame i's own full-resolution L, so every output frame keeps
its input's L. Only the key frame and its chroma are held, so memory stays bounded for any length.

When to start a new key frame is a :class:`~semvis.video.schedule.KeyFramePolicy`: every l frames
(:class:`~semvis.video.schedule.FixedInterval`), or also when the key frame warped onto the current
one misses it by more than a threshold (:class:`~semvis.video.schedule.AdaptiveSchedule` with the
``residual`` measure: a scene cut).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semvis.colorize.data import Segmenter
from semvis.colorize.infer import WORK_SIZE, predict_ab, with_chroma
from semvis.data.images import image_to_tensor
from semvis.data.transforms import resize_pair, short_side_size
from semvis.device import DeviceSpec
from semvis.nn.warp import sample_positions, warp
from semvis.video.inference import DISFlow
from semvis.video.schedule import FixedInterval, KeyFramePolicy, KeyFrameTracker

#: Default key-frame interval l: the colorizer and segmenter run on every 8th frame.
DEFAULT_KEY_INTERVAL = 8


@dataclass(frozen=True)
class ColorizedFrame:
    """One output frame: RGB ``3 × H × W`` in [0, 1] on the CPU, whether it was a key frame, and the
    wall-clock seconds it took (flow, segmenter and colorizer, warp, gamut fit)."""

    index: int
    image: torch.Tensor
    key: bool
    seconds: float


def clamp_flow(flow: torch.Tensor) -> torch.Tensor:
    """``flow`` (``B × 2 × H × W``) with every target ``p + flow(p)`` clamped into the frame, so that a
    warp reads the nearest border pixel where the motion leaves the frame instead of zero (gray)."""
    h, w = flow.shape[-2:]
    target = sample_positions(flow)
    limits = flow.new_tensor([w - 1, h - 1]).view(1, 2, 1, 1)
    return target.clamp(min=0).minimum(limits) - (target - flow)


def propagate_ab(key_ab: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The key frame's chroma (``B × 2 × h × w``) on the current frame, by the flow from the current
    frame to the key frame at the same size (backward warping; targets clamped by :func:`clamp_flow`)."""
    return warp(key_ab, clamp_flow(flow.to(key_ab)))


def _work_frame(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` (``C × H × W``) at the working ``size`` as a batch of one, for the flow."""
    if tuple(image.shape[-2:]) == size:
        return image[None]
    return F.interpolate(image[None], size, mode="bilinear", align_corners=False, antialias=True)


def colorize_video(
    frames: Iterable[np.ndarray | torch.Tensor],
    segmenter: Segmenter,
    model: nn.Module,
    schedule: KeyFramePolicy | None = None,
    work_size: int = WORK_SIZE,
    flow_preset: str = "medium",
    device: DeviceSpec | None = None,
) -> Iterator[ColorizedFrame]:
    """Colorize ``frames`` (RGB uint8 ``H × W × 3`` arrays, e.g. a :class:`~semvis.data.video.FrameSource`,
    or ``3 × H × W`` tensors in [0, 1]; colour frames are reduced to their L as photos are).

    Key frames (``schedule``, default every :data:`DEFAULT_KEY_INTERVAL` frames) are segmented by
    ``segmenter`` and coloured by ``model`` at ``work_size`` on ``device``, as :func:`semvis.colorize.colorize`
    does; the frames between get their key frame's chroma warped along DIS flow (``flow_preset``).
    Yields one :class:`ColorizedFrame` per frame as soon as it is done.
    """
    schedule = FixedInterval(DEFAULT_KEY_INTERVAL) if schedule is None else schedule
    tracker = KeyFrameTracker(schedule, DISFlow(flow_preset))
    key_ab = None  # the key frame's chroma, at the working size
    for index, raw in enumerate(frames):
        start = time.perf_counter()
        image = image_to_tensor(raw) if isinstance(raw, np.ndarray) else raw.float()
        full = tuple(image.shape[-2:])
        size = short_side_size(*full, work_size)
        estimate = tracker.step(_work_frame(image, size))
        if estimate is None:
            small_image, small_labels = resize_pair(image, segmenter(image), size)
            ab = key_ab = predict_ab(model, small_image, small_labels, work_size, device)[None]
        else:
            ab = propagate_ab(key_ab, estimate.flow)
        if size != full:
            ab = F.interpolate(ab, full, mode="bilinear", align_corners=False)
        yield ColorizedFrame(index, with_chroma(image, ab[0]), estimate is None, time.perf_counter() - start)
