"""``semvis style reconstruct|grid``: Fig. 1 and Fig. 3 of Gatys et al. 2015."""

from __future__ import annotations

import argparse
from pathlib import Path

from semvis.cli import console
from semvis.cli.progress import progress_bars
from semvis.cli.stylize import add_config_arguments, config_from_args, save_result, write_image
from semvis.data.images import check_image_output
from semvis.style.grid import LAYER_SETS, RATIOS, reconstruct, style_grid

#: Settings that make sense for a single reconstruction or for every cell of the grid.
SHARED = ("init", "optimizer", "lr", "lbfgs_history", "line_search", "seed", "pooling", "weights", "tv_weight")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("style", help="Fig. 1 reconstructions and the Fig. 3 grid of Gatys et al. 2015")
    commands = parser.add_subparsers(dest="style_command", metavar="COMMAND", required=True)

    rec = commands.add_parser(
        "reconstruct",
        help="image from noise matching one content layer, or a texture matching style layers (Fig. 1)",
    )
    rec.add_argument("image", type=Path)
    which = rec.add_mutually_exclusive_group(required=True)
    which.add_argument("--content-layer", help="e.g. relu3_1: content reconstruction (Fig. 1 a–e)")
    which.add_argument("--style-layers", help="e.g. relu1_1,relu2_1: style reconstruction (Fig. 1, top)")
    rec.add_argument("-o", "--output", type=Path, required=True)
    add_config_arguments(rec, ("size", "steps", *SHARED))
    rec.set_defaults(func=run_reconstruct)

    grid = commands.add_parser("grid", help="style transfer for 5 style layer sets × 4 ratios α/β (Fig. 3)")
    grid.add_argument("content", type=Path)
    grid.add_argument("style", type=Path)
    grid.add_argument("-o", "--output", type=Path, required=True)
    grid.add_argument("--size", type=int, default=128, help="longer side of each cell (default 128)")
    grid.add_argument("--steps", type=int, default=100, help="steps per cell (default 100)")
    grid.add_argument(
        "--ratios",
        type=lambda text: tuple(float(r) for r in text.split(",")),
        default=RATIOS,
        help="α/β per column (default 1e-5,1e-4,1e-3,1e-2)",
    )
    add_config_arguments(grid, SHARED)
    grid.set_defaults(func=run_grid)


def run_reconstruct(args: argparse.Namespace) -> int:
    check_image_output(args.output)
    style_layers = None if args.style_layers is None else args.style_layers.split(",")
    config = config_from_args(args)
    with progress_bars() as progress:
        result = reconstruct(args.image, args.content_layer, style_layers, config, progress, device=args.device)
    inputs = {"command": "style reconstruct", "image": str(args.image)}
    save_result(result, args.output, inputs)
    return 0


def run_grid(args: argparse.Namespace) -> int:
    check_image_output(args.output)
    config = config_from_args(args)
    with progress_bars() as progress:
        sheet = style_grid(
            args.content,
            args.style,
            args.ratios,
            size=args.size,
            steps=args.steps,
            config=config,
            progress=progress,
            device=args.device,
        )
    settings = {
        "command": "style grid",
        "content": str(args.content),
        "style": str(args.style),
        "ratios": list(args.ratios),
        "layer_sets": [list(layers) for layers in LAYER_SETS],
        "config": config.to_dict() | {"size": args.size, "steps": args.steps},
    }
    write_image(sheet, args.output, settings)
    console().print(f"wrote {args.output} ({sheet.width}×{sheet.height} px)")
    return 0
