"""``semvis video IN -o OUT.mp4``: segment a video with Deep Feature Flow (Zhu et al. 2017, Algorithm 1).

Parses the options and calls :func:`semvis.video.segment_video`, which writes an overlay video,
optionally a palette PNG of labels per frame and a JSON timing report with r and the speedup
predicted by eq. 7 (and measured against N on every frame with ``--measure-baseline``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semvis.cli import console
from semvis.cli.export import add_runtime_option
from semvis.cli.progress import progress_bars
from semvis.data.video import DEFAULT_FPS
from semvis.flow.dis import PRESETS
from semvis.video.pipeline import FLOWS, segment_video
from semvis.video.schedule import DEFAULT_INTERVAL, MEASURES


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
        "--adaptive", choices=MEASURES, help="also a key frame when this change measure exceeds --threshold"
    )
    parser.add_argument("--threshold", type=float, help="for --adaptive: mean |frame − warped key|, flow px or |S − 1|")
    parser.add_argument("--labels-dir", type=Path, help="also write each frame's labels here as NNNNN.png (palette)")
    parser.add_argument("--report", type=Path, help="write a JSON timing report here")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument(
        "--measure-baseline",
        action="store_true",
        help="also run the segmenter on every frame first and time it, so the speedup is measured, not estimated",
    )
    parser.add_argument("--fps", type=float, help=f"output frame rate (default: the input's, else {DEFAULT_FPS:g})")
    parser.add_argument(
        "--task", choices=("segment", "detect"), default="segment", help="detect: boxes (R-FCN, docs/detection.md)"
    )
    add_runtime_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.task == "detect":
        from semvis.cli.video_detect import detect

        return detect(args)
    with progress_bars() as progress:
        result = segment_video(
            args.input,
            args.output,
            args.weights,
            flow=args.flow,
            flow_preset=args.flow_preset,
            key_interval=args.key_interval,
            adaptive=args.adaptive,
            threshold=args.threshold,
            labels_dir=args.labels_dir,
            report_path=args.report,
            max_frames=args.max_frames,
            runtime=args.runtime,
            fps=args.fps,
            measure_baseline=args.measure_baseline,
            device=args.device,
            progress=progress,
        )
    timing, (width, height), measured = result.timing, result.size, result.measured_speedup
    speed = f"{timing.predicted_speedup:.2f}× by eq. 7" + (
        " (an estimate; --measure-baseline measures it)"
        if measured is None
        else f", {measured:.2f}× measured against the segmenter on every frame"
    )
    console().print(
        f"wrote {result.output} ({timing.frames} frames, {len(timing.key_frames)} key frames, {width}×{height} px, "
        f"{result.fps:g} fps; {timing.mean_seconds:.3f} s/frame, speedup {speed})"
        + "".join(f"; {path}" for path in (args.labels_dir, args.report) if path is not None)
    )
    return 0
