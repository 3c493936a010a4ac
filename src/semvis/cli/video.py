"""``semvis video IN -o OUT.mp4``: segment a video with Deep Feature Flow (Zhu et al. 2017, Algorithm 1).

A trained segmenter with a ``features`` / ``classify`` split (PSPNet; the bundled gray CamVid one
by default) or a DFF file is N: ``features`` runs on key frames only, and its output is warped
along the flow — the DFF file's own flow network F (DFF), hand-crafted DIS flow (the paper's
SFF) or none (zero flow) — to the other frames, where only ``classify`` runs. Writes an overlay
video, optionally a palette PNG of labels per frame and a JSON timing report with r and the
speedup, measured and predicted by eq. 7.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice, tee
from pathlib import Path

from semvis import __version__
from semvis.atomic import atomic_path, temp_sibling
from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.cli.stylize_video import DEFAULT_FPS, VIDEO_SUFFIXES
from semvis.data.images import save_image
from semvis.data.video import VideoWriter, open_frames
from semvis.errors import DataError, SemvisError
from semvis.flow.dis import PRESETS
from semvis.progress import report
from semvis.segment import label_image
from semvis.video import (
    AdaptiveSchedule,
    Complexity,
    DISFlow,
    FixedInterval,
    RunTiming,
    dff_complexity,
    meta_copy,
    overlay_frame,
    run_video,
    speedup,
    zero_flow,
)
from semvis.video.files import load_video_model
from semvis.video.schedule import DEFAULT_INTERVAL

FLOWS = {
    "net": "the DFF file's own flow network F with its scale field (default when the file has one)",
    "dis": "DIS optical flow (OpenCV), the paper's SFF (default otherwise)",
    "zero": "features copied from the key frame",
}
#: Change measures for --adaptive; "scale" needs a flow with a scale field (--flow net).
ADAPTIVE_MEASURES = ("residual", "flow", "scale")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "video",
        help="segment a video, running the heavy network on key frames only (Deep Feature Flow)",
        description="Label every frame of a video: the segmenter's feature network runs on key frames, "
        "its features are warped along optical flow to the frames between (Zhu et al. 2017, Algorithm 1).",
    )
    parser.add_argument("input", type=Path, help="video file (PyAV) or folder of numbered frames")
    parser.add_argument("-o", "--output", type=Path, required=True, help="overlay video (.mp4, .mov, .mkv…)")
    parser.add_argument(
        "--weights",
        type=Path,
        help="N: a segmenter (semvis train segment) or DFF file (semvis train video/dff); default: the bundled one",
    )
    parser.add_argument("--flow", choices=FLOWS, help="; ".join(f"{k}: {v}" for k, v in FLOWS.items()))
    parser.add_argument("--flow-preset", choices=PRESETS, default="medium", help="DIS preset (default medium)")
    parser.add_argument(
        "--key-interval",
        type=int,
        default=DEFAULT_INTERVAL,
        metavar="L",
        help=f"a key frame every L frames (default {DEFAULT_INTERVAL}); with --adaptive, at least every L",
    )
    parser.add_argument(
        "--adaptive", choices=ADAPTIVE_MEASURES, help="also a key frame when this change measure exceeds --threshold"
    )
    parser.add_argument("--threshold", type=float, help="for --adaptive: mean |frame − warped key|, flow px or |S − 1|")
    parser.add_argument("--labels-dir", type=Path, help="also write each frame's labels here as NNNNN.png (palette)")
    parser.add_argument("--report", type=Path, help="write a JSON timing report here")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--fps", type=float, help=f"output frame rate (default: the input's, else {DEFAULT_FPS:g})")
    parser.set_defaults(func=run)


def _check_options(args: argparse.Namespace) -> None:
    if args.output.suffix.lower() not in VIDEO_SUFFIXES:
        raise SemvisError(f"{args.output}: the output video must end in one of {', '.join(VIDEO_SUFFIXES)}")
    if args.key_interval < 1:
        raise SemvisError(f"--key-interval must be at least 1, got {args.key_interval}")
    if args.max_frames is not None and args.max_frames < 1:
        raise SemvisError(f"--max-frames must be at least 1, got {args.max_frames}")
    if (args.adaptive is None) != (args.threshold is None):
        raise SemvisError("--adaptive and --threshold go together")
    for path in (args.output, args.report):
        if path is not None and path.is_dir():
            raise DataError(f"{path}: is a folder")
    if args.labels_dir is not None and args.labels_dir.exists() and not args.labels_dir.is_dir():
        raise DataError(f"{args.labels_dir}: exists and is not a folder")
    for path in (args.output, args.report, args.labels_dir):
        if path is not None:
            _check_writable(path)


def _check_writable(path: Path) -> None:
    """Fail before any work when nothing could be written at ``path``."""
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not existing.is_dir():
        raise DataError(f"{path}: cannot write there, {existing} is a file")
    if not os.access(existing, os.W_OK):
        raise DataError(f"{path}: cannot write there, {existing} is not writable")


@contextmanager
def staged_dir(target: Path | None) -> Iterator[Path | None]:
    """A hidden folder beside ``target`` whose files move into ``target`` on success and vanish on failure."""
    if target is None:
        yield None
        return
    tmp = temp_sibling(target)
    tmp.mkdir()
    try:
        yield tmp
        target.mkdir(exist_ok=True)
        for file in sorted(tmp.iterdir()):
            os.replace(file, target / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    if args.input.is_file() and args.input.stat().st_size == 0:
        raise DataError(f"{args.input}: empty file")
    frames = open_frames(args.input)
    if args.weights is None:
        from semvis.bundled import SEGMENTER, bundled_model

        args.weights = bundled_model(SEGMENTER)
    model, classes = load_video_model(args.weights)
    if args.adaptive:
        schedule = AdaptiveSchedule(args.threshold, args.adaptive, max_interval=args.key_interval)
    else:
        schedule = FixedInterval(args.key_interval)
    if args.flow is None:
        args.flow = "dis" if model.flow is None else "net"
    if args.flow == "net" and model.flow is None:
        raise SemvisError(f"{args.weights}: has no flow network F (train one with `semvis train dff`); use --flow dis")
    if args.adaptive == "scale" and args.flow != "net":
        raise SemvisError(f"--adaptive scale needs a scale field, which --flow {args.flow} does not give")
    flow = {"net": None, "dis": DISFlow(args.flow_preset), "zero": zero_flow}[args.flow]
    fps = args.fps or frames.fps or DEFAULT_FPS
    width, height = frames.size
    even = (width - width % 2, height - height % 2)  # H.264 in yuv420p wants even sides
    known = [n for n in (frames.frame_count, args.max_frames) if n is not None]
    # FLOPs of a copy on the meta device: counted, not computed
    counted = None if args.flow == "net" else zero_flow  # DIS runs in OpenCV: not counted
    cost = dff_complexity(meta_copy(model), frames.size, counted) if args.report else None

    seconds: list[float] = []
    keys: list[bool] = []
    start = time.perf_counter()
    with staged_dir(args.labels_dir) as label_dir, VideoWriter(args.output, fps, even) as writer:
        with progress_bars() as progress:
            shown, fed = tee(islice(frames, args.max_frames))
            for frame, result in zip(shown, run_video(model, fed, schedule, flow)):
                picture = overlay_frame(frame, result.labels, classes.palette, classes.classes)
                writer.write(picture[: even[1], : even[0]])
                if label_dir is not None:
                    save_image(label_image(result.labels, classes.palette), label_dir / f"{result.index:05d}.png")
                seconds.append(result.seconds)
                keys.append(result.key)
                fps_now = f"{len(seconds) / (time.perf_counter() - start):.2f} fps"
                report(progress, "segmenting", len(seconds), min(known, default=None), fps_now)
    wall = time.perf_counter() - start
    timing = RunTiming.of(seconds, keys)
    if cost is not None:
        write_report(args, frames.size, fps, timing, wall, cost)
    console().print(
        f"wrote {args.output} ({timing.frames} frames, {len(timing.key_frames)} key frames, {even[0]}×{even[1]} px, "
        f"{fps:g} fps; {timing.mean_seconds:.3f} s/frame, speedup {timing.measured_speedup:.2f}× measured, "
        f"{timing.predicted_speedup:.2f}× by eq. 7)"
        + "".join(f"; {path}" for path in (args.labels_dir, args.report) if path is not None)
    )
    return 0


def write_report(
    args: argparse.Namespace, size: tuple[int, int], fps: float, timing: RunTiming, wall: float, cost: Complexity
) -> None:
    """The JSON report: settings, per-frame timing, r and speedups measured and by eq. 7 (see docs/video.md)."""
    schedule: dict[str, object] = {"policy": "fixed", "interval": args.key_interval}
    if args.adaptive:
        schedule = {
            "policy": "adaptive",
            "measure": args.adaptive,
            "threshold": args.threshold,
            "max_interval": args.key_interval,
        }
    report = {
        "semvis": __version__,
        "input": str(args.input),
        "output": str(args.output),
        "weights": str(args.weights),
        "size": list(size),
        "fps": fps,
        "flow": args.flow,
        "flow_preset": args.flow_preset if args.flow == "dis" else None,
        "schedule": schedule,
        **timing.report(),
        "wall_seconds": wall,
        "wall_fps": timing.frames / wall,
        "flops": {
            "features": cost.features,
            "flow": None if args.flow == "dis" else cost.flow,
            "warp": cost.warp,
            "task": cost.task,
        },
        "flops_note": "DIS runs in OpenCV and is not counted, so r_flops is a lower bound"
        if args.flow == "dis"
        else "all parts counted",
        "r_flops": cost.ratio,
        "speedup_eq7_flops_r": speedup(timing.interval, cost.ratio),
    }
    with atomic_path(args.report) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
