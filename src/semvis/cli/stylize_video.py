"""``semvis stylize VIDEO STYLE… -o OUT.mp4``: the video path of ``semvis stylize`` (Ruder et al. 2016).

:mod:`semvis.cli.stylize` dispatches here when CONTENT is a video file or a folder of numbered frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.data.images import save_image
from semvis.data.video import DEFAULT_FPS, VideoWriter, check_video_output, open_frames
from semvis.errors import DataError
from semvis.flow.dis import PRESETS
from semvis.style.synthesis import StyleConfig
from semvis.style.video import DEFAULT_TEMPORAL_WEIGHT, FrameResult, stylize_video, video_size


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("video (CONTENT is a video file or a folder of numbered frames)")
    group.add_argument(
        "--temporal-weight",
        type=float,
        default=DEFAULT_TEMPORAL_WEIGHT,
        metavar="γ",
        help=f"weight of the temporal loss (default {DEFAULT_TEMPORAL_WEIGHT:g})",
    )
    group.add_argument(
        "--steps-later", type=int, metavar="N", help="steps for each frame after the first (default steps/3)"
    )
    group.add_argument("--independent", action="store_true", help="stylise every frame from scratch (baseline)")
    group.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    group.add_argument("--flow-preset", choices=PRESETS, default="medium", help="DIS optical flow preset")
    group.add_argument("--fps", type=float, help=f"output frame rate (default: the input's, else {DEFAULT_FPS:g})")
    group.add_argument("--frames-dir", type=Path, help="also write each stylised frame here as NNNNN.png")


def stylize_video_file(args: argparse.Namespace, config: StyleConfig) -> int:
    """Stylise the video or frame folder ``args.content`` into the video ``args.output``."""
    frames = open_frames(args.content)  # an empty or image-less folder is refused first: it was no video
    try:
        check_video_output(args.output)
    except DataError as exc:
        kind = "a directory, read as a folder of video frames" if args.content.is_dir() else "a video"
        raise DataError(f"{args.content} is {kind}, so the output must be a video: {exc}") from None
    if args.mask is not None:
        raise DataError(f"{args.mask}: region masks apply to still images only")
    height, width = video_size((frames.size[1], frames.size[0]), config)
    fps = args.fps or frames.fps or DEFAULT_FPS

    with VideoWriter(args.output, fps, (width, height)) as writer, progress_bars() as progress:

        def write(frame: FrameResult) -> None:
            writer.write(frame.image)
            if args.frames_dir is not None:
                save_image(frame.image, args.frames_dir / f"{frame.index:05d}.png")

        result = stylize_video(
            frames,
            args.styles,
            config,
            temporal_weight=args.temporal_weight,
            steps_later=args.steps_later,
            independent=args.independent,
            flow_preset=args.flow_preset,
            max_frames=args.max_frames,
            on_frame=write,
            progress=progress,
            device=args.device,
        )
    console().print(
        f"wrote {args.output} ({result.frames} frames, {width}×{height} px, {fps:g} fps, "
        f"{result.seconds:.1f} s, {result.seconds / result.frames:.1f} s/frame)"
    )
    return 0
