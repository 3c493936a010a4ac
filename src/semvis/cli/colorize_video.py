"""``semvis colorize VIDEO -o OUT.mp4``: the video path of ``semvis colorize``.

:mod:`semvis.cli.colorize` dispatches here when IMAGE is a video file or a folder of numbered frames;
:func:`semvis.colorize.video.colorize_video` colours key frames as photos and carries their chroma
along optical flow to the frames between.
"""

from __future__ import annotations

import argparse
from itertools import islice

from semvis.atomic import check_writable
from semvis.cli import console
from semvis.cli.main import int_in_range
from semvis.cli.progress import progress_bars
from semvis.colorize.video import DEFAULT_KEY_INTERVAL, colorize_video
from semvis.data.images import check_sides
from semvis.data.video import DEFAULT_FPS, FrameSource, VideoWriter, check_video_output, open_frames
from semvis.errors import DataError, SemvisError
from semvis.flow.dis import PRESETS
from semvis.progress import report
from semvis.video.schedule import AdaptiveSchedule, FixedInterval, KeyFramePolicy


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "video (IMAGE is a video file or a folder of numbered frames; --labels and --evaluate are for photos)"
    )
    group.add_argument(
        "--key-interval",
        type=int_in_range(1),
        default=DEFAULT_KEY_INTERVAL,
        metavar="L",
        help=f"colorize every L-th frame, carry its colour along optical flow to the others "
        f"(default {DEFAULT_KEY_INTERVAL}; 1: every frame on its own)",
    )
    group.add_argument(
        "--cut-threshold",
        type=float,
        metavar="T",
        help="also a key frame when the warped key frame misses the current one by a mean |Δ| above T "
        "(gray in [0, 1]; 0.15 told cuts between DAVIS clips from motion within them); default off",
    )
    group.add_argument("--flow-preset", choices=PRESETS, default="medium", help="DIS optical flow preset")
    group.add_argument("--max-frames", type=int_in_range(1), metavar="N", help="stop after N frames")
    group.add_argument("--fps", type=float, help=f"output frame rate (default: the input's, else {DEFAULT_FPS:g})")


def open_video_request(args: argparse.Namespace) -> FrameSource:
    """The input frames, after refusing any setting or output that could not work (before models load)."""
    if args.labels is not None:
        raise SemvisError("--labels steers one photo; a video's key frames are segmented one by one")
    if args.out is None:
        raise SemvisError(f"{args.image} is a video: give -o OUT.mp4")
    if args.cut_threshold is not None and not args.cut_threshold > 0:
        raise SemvisError(f"--cut-threshold must be positive, got {args.cut_threshold}")
    if args.fps is not None and not args.fps > 0:
        raise SemvisError(f"--fps must be positive, got {args.fps}")
    if args.image.is_file() and args.image.stat().st_size == 0:
        raise DataError(f"{args.image}: empty file")
    frames = open_frames(args.image)  # an empty or image-less folder is refused first: it was no video
    check_sides(frames.size, f"{args.image}: its frames are")
    kind = "a folder, read as numbered video frames" if args.image.is_dir() else "a video"
    try:
        check_video_output(args.out)
    except DataError as exc:
        raise DataError(f"{args.image} is {kind}, so the output must be a video: {exc}") from None
    if args.out.is_dir():
        raise DataError(f"{args.out}: is a folder")
    check_writable(args.out)
    return frames


def schedule_of(args: argparse.Namespace) -> KeyFramePolicy:
    """Every ``--key-interval`` frames, and with ``--cut-threshold`` also where the warp residual exceeds it."""
    if args.cut_threshold is None:
        return FixedInterval(args.key_interval)
    return AdaptiveSchedule(args.cut_threshold, "residual", max_interval=args.key_interval)


def colorize_video_file(args: argparse.Namespace) -> int:
    """Colorize the video or frame folder ``args.image`` into the video ``args.out``."""
    from semvis.colorize.pipeline import load_colorization_models

    frames = open_video_request(args)
    segmenter, _, model = load_colorization_models(args.segment_weights, args.weights, args.device, args.runtime)
    fps = args.fps or frames.fps or DEFAULT_FPS
    total = min((n for n in (frames.frame_count, args.max_frames) if n is not None), default=None)
    keys = 0
    with VideoWriter(args.out, fps, frames.size, crop=True) as writer, progress_bars() as progress:
        results = colorize_video(
            islice(frames, args.max_frames),
            segmenter,
            model,
            schedule_of(args),
            args.work_size,
            args.flow_preset,
            args.device,
        )
        for frame in results:
            writer.write(frame.image)
            keys += frame.key
            report(progress, "colorizing", frame.index + 1, total, f"{keys} key frames")
    width, height = writer.size
    console().print(f"wrote {args.out} ({writer.frames_written} frames, {keys} key frames, {width}×{height} px)")
    return 0
