"""``semvis video IN -o OUT.mp4 --task detect``: boxes with class and score on every frame (docs/detection.md).

Parses nothing of its own: ``semvis video`` does, and hands ``--task detect`` here, which calls
:func:`semvis.detect.video.detect_video` (R-FCN with Deep Feature Flow along DIS flow).
"""

from __future__ import annotations

import argparse

from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.errors import SemvisError


def detect(args: argparse.Namespace) -> int:
    """``--task detect``: :func:`semvis.detect.video.detect_video` with DIS flow, boxes drawn on the frames."""
    from semvis.detect.video import detect_video

    taken = ("labels_dir", "adaptive", "report", "measure_baseline")
    unused = [f"--{n.replace('_', '-')}" for n in taken if getattr(args, n)] + ["--flow"] * (
        args.flow not in (None, "dis")
    )
    if unused:
        raise SemvisError(f"--task detect does not take {', '.join(unused)} (it uses DIS flow and a fixed interval)")
    with progress_bars() as progress:
        result = detect_video(
            args.input,
            args.output,
            args.weights,
            key_interval=args.key_interval,
            flow_preset=args.flow_preset,
            max_frames=args.max_frames,
            fps=args.fps,
            device=args.device,
            progress=progress,
        )
    timing = result.timing
    console().print(
        f"wrote {result.output} ({timing.frames} frames, {len(timing.key_frames)} key frames, "
        f"{sum(len(d.boxes) for d in result.detections)} detections; {timing.mean_seconds:.3f} s/frame)"
    )
    return 0
