"""Video style transfer with temporal consistency: Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos".

Frame 0 is stylised like a still image (``config.steps`` evaluations from ``config.init``). Every later
frame starts from the previous stylised frame warped onto it by the optical flow of the *content*
frames (§3.1, "prevWarped"; where the flow is unreliable, from the content frame's own pixels) and
minimises ``L_shortterm = α L_content + β L_style + γ L_temporal`` (§3.2) for ``steps_later``
evaluations. Flow is OpenCV's DIS rather than the paper's DeepFlow/EpicFlow (see ``docs/style.md``).

Frames stream through: only the previous content frame and its stylisation are kept. The style
Gram matrices depend only on the frame size, which a video keeps, so they are computed once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice

import torch

from semvis.backbones import Backbone
from semvis.data.video import FrameSource
from semvis.device import DeviceSpec
from semvis.flow import dis_flow, flow_to_tensor, occlusion_mask
from semvis.flow.dis import PRESETS
from semvis.nn.warp import warp
from semvis.progress import ProgressCallback, report
from semvis.style.memory import check_memory, estimate_memory
from semvis.style.synthesis import (
    ImageInput,
    LossRecord,
    LossTerms,
    StyleConfig,
    StyleConfigError,
    _check_inputs,
    as_image,
    compute_targets,
    initial_image,
    load_vgg,
    optimise,
    prepare_colors,
    resize,
    style_sizes,
    synthesis_device,
)

#: γ of L_shortterm for images in [0, 1] with eq. 7 at its defaults (α = 1, β = 1e3); measured in docs/style.md.
DEFAULT_TEMPORAL_WEIGHT = 1e13
#: Later frames start close to their optimum: they get this share of ``config.steps`` by default.
LATER_STEPS_SHARE = 1 / 3


@dataclass(frozen=True)
class FrameResult:
    """One stylised frame, as :func:`stylize_video` hands it to ``on_frame``."""

    index: int
    content: torch.Tensor  #: 1×3×H×W, the content frame at the output size
    image: torch.Tensor  #: 1×3×H×W, stylised, clamped to [0, 1]
    steps: int
    seconds: float
    loss: LossRecord  #: the evaluation of ``image`` before clamping (the lowest total, γ L_temporal included)
    temporal: float  #: γ L_temporal of ``image`` (0 for frame 0 and in independent mode)


@dataclass(frozen=True)
class VideoResult:
    frames: int
    size: tuple[int, int]  #: (H, W) of every output frame
    seconds: float
    steps: int  #: evaluations over all frames


def video_size(frame_size: Sequence[int], config: StyleConfig) -> tuple[int, int]:
    """``(H, W)`` of the output for frames of ``frame_size = (H, W)``: the config's size, each side
    rounded down to an even number (H.264 with 4:2:0 chroma needs even sides; ≤ 1 px of aspect)."""
    h, w = config.stage_sizes(frame_size)[-1]
    return h - h % 2, w - w % 2


def frame_flow(
    previous: torch.Tensor, current: torch.Tensor, preset: str = "medium"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The flow from ``current`` back to ``previous`` (``1 × 2 × H × W``; ``warp(previous, flow)``
    aligns ``previous`` onto ``current``) and its reliability ``c`` (``1 × 1 × H × W``): the
    forward–backward check of Ruder et al. §3.2, 0 at disocclusions and motion boundaries."""
    backward = flow_to_tensor(dis_flow(current, previous, preset))
    forward = flow_to_tensor(dis_flow(previous, current, preset))
    return backward, occlusion_mask(forward, backward)


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, reliable: torch.Tensor) -> torch.Tensor:
    """Ruder et al. §3.2: ``L_temporal = 1/D Σ_k c_k (x_k − ω_k)²``, ``D`` = pixels × channels."""
    return (reliable * (image - warped).pow(2)).sum() / image.numel()


def _weighted_temporal(
    weight: float, warped: torch.Tensor, reliable: torch.Tensor, image: torch.Tensor
) -> torch.Tensor:
    return weight * temporal_loss(image, warped, reliable)


class _Recorder:
    """Counts a frame's evaluations, keeps the last one's terms and reports them as the video's progress."""

    def __init__(self, progress: ProgressCallback | None, done: int, total: int | None, label: str, steps: int) -> None:
        self.progress, self.done, self.total, self.label, self.steps = progress, done, total, label, steps
        self.start = time.perf_counter()
        self.history: list[LossRecord] = []
        self.status = ""

    def __call__(self, image: torch.Tensor, terms: LossTerms) -> None:
        values = [t.item() for t in (terms.total, terms.content, terms.style, terms.tv)]
        seconds = time.perf_counter() - self.start
        self.history.append(LossRecord(len(self.history) + 1, 0, seconds, *values))
        self.status = f"{self.label} step {len(self.history)}/{self.steps} loss {values[0]:.3e}"
        report(self.progress, "stylize video", self.done, self.total, self.status)


def _check_video(
    config: StyleConfig, temporal_weight: float, steps_later: int, flow_preset: str, max_frames: int | None
) -> None:
    checks = [
        (not config.scales, "coarse-to-fine scales are not supported for video"),
        (config.preserve_color != "luminance", "preserve_color='luminance' is not supported for video"),
        (not config.snapshot_every, "snapshots are not supported for video"),
        (temporal_weight >= 0, f"the temporal weight must be ≥ 0, got {temporal_weight}"),
        (steps_later >= 1, f"steps for later frames must be at least 1, got {steps_later}"),
        (flow_preset in PRESETS, f"flow preset must be one of {PRESETS}, got {flow_preset!r}"),
        (max_frames is None or max_frames >= 1, f"max_frames must be at least 1, got {max_frames}"),
    ]
    for ok, message in checks:
        if not ok:
            raise StyleConfigError(message)


def stylize_video(
    frames: FrameSource,
    styles: Sequence[ImageInput],
    config: StyleConfig | None = None,
    *,
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
    steps_later: int | None = None,
    independent: bool = False,
    flow_preset: str = "medium",
    max_frames: int | None = None,
    progress: ProgressCallback | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
    vgg: Backbone | None = None,
    device: DeviceSpec | None = None,
) -> VideoResult:
    """Stylise ``frames`` (at most ``max_frames``) with Ruder et al.'s short-term consistency.

    ``steps_later`` (default ``config.steps / 3``) evaluations for each frame after the first;
    ``temporal_weight`` is γ. ``independent=True`` is the baseline: every frame from ``config.init``
    for ``config.steps`` evaluations, without flow or temporal loss. ``on_frame`` gets each
    :class:`FrameResult` as soon as it is done. Supports single-scale synthesis (no ``scales``,
    snapshots or luminance-only colour); ``preserve_color="histogram"`` recolours the styles to frame 0.
    The optimisation runs on :func:`~semvis.style.synthesis.synthesis_device` (flow on the CPU, in
    OpenCV); frames reach ``on_frame`` on the CPU. ``progress`` gets frames done and each step's loss.
    """
    config = config or StyleConfig()
    steps_later = max(1, round(config.steps * LATER_STEPS_SHARE)) if steps_later is None else steps_later
    _check_video(config, temporal_weight, steps_later, flow_preset, max_frames)
    styles = [as_image(s) for s in styles]
    _check_inputs(styles, config, None)
    size = video_size((frames.size[1], frames.size[0]), config)
    fitted = style_sizes(styles, config, size)  # a style too thin for this size is refused before any work
    device = synthesis_device(vgg, device)
    estimate = estimate_memory(size, config.layers, config.optimizer, config.lbfgs_history, fitted)
    check_memory(estimate, size, device)
    vgg = (vgg or load_vgg(config)).to(device)
    start = time.perf_counter()
    total = min((n for n in (frames.frame_count, max_frames) if n), default=None)
    grams: list[dict[str, torch.Tensor]] = []
    previous: FrameResult | None = None
    count = steps = 0
    for index, frame in enumerate(islice(frames.tensors(), max_frames)):
        content = resize(frame, size)  # stays on the CPU for the flow, which OpenCV computes
        on_device = content.to(device)
        # the style Grams depend only on the frame size, which a video keeps: frame 0's serve every frame
        work_styles = [] if grams else prepare_colors(content, styles, config.preserve_color)[1]
        targets = compute_targets(vgg, on_device, [s.to(device) for s in work_styles], config)
        grams = targets.grams = grams or targets.grams
        if previous is None or independent:
            init, n, extra = initial_image(config, on_device, size), config.steps, None
        else:
            flow, reliable = (t.to(device) for t in frame_flow(previous.content, content, flow_preset))
            warped = warp(previous.image.to(device), flow)  # ω, §3.1 "prevWarped"
            # where c = 0 (disoccluded, motion boundary, outside the frame): the content frame's pixels
            init, n = torch.lerp(on_device, warped, reliable), steps_later
            extra = partial(_weighted_temporal, temporal_weight, warped, reliable)
        pace = f"{(time.perf_counter() - start) / count:.1f} s/frame, " if count else ""
        record = _Recorder(progress, count, total, f"{pace}frame {index}", n)
        image = optimise(vgg, init, targets, config, n, record, extra_loss=extra).clamp(0, 1)
        temporal = 0.0 if extra is None else extra(image).item()
        seconds = time.perf_counter() - record.start
        best = min(record.history, key=lambda r: r.total)  # optimise returns the lowest-loss image
        previous = FrameResult(index, content, image.cpu(), n, seconds, best, temporal)
        count, steps = count + 1, steps + len(record.history)
        report(progress, "stylize video", count, total, record.status)
        if on_frame is not None:
            on_frame(previous)
    return VideoResult(count, size, time.perf_counter() - start, steps)
