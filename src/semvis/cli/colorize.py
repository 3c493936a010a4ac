"""``semvis colorize IMAGE -o OUT`` and ``semvis colorize --evaluate``: colour photos under semantic maps.

A video file or a folder of numbered frames as IMAGE goes to :mod:`semvis.cli.colorize_video`.

Without ``--weights`` / ``--segment-weights`` the models bundled with semvis are used
(:mod:`semvis.bundled`: trained on CamVid's 11 classes).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import torch
from rich.table import Table

from semvis.atomic import atomic_path
from semvis.cli import console
from semvis.cli.colorize_video import add_video_arguments, colorize_video_file
from semvis.cli.export import add_runtime_option
from semvis.cli.main import int_in_range
from semvis.colorize.data import Segmenter
from semvis.colorize.infer import WORK_SIZE
from semvis.data.video import is_video
from semvis.errors import DataError, SemvisError

#: Bounds of --work-size: the U-Net pools four times below, and past the upper one memory runs out.
WORK_SIZES = (32, 2048)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "colorize", help="colorize a photo under a semantic map (seed: Semantic-Driven Colorization)"
    )
    parser.add_argument(
        "image",
        nargs="?",
        type=Path,
        help="gray or colour photo (a colour one is reduced to its L), or a video file or folder of numbered frames",
    )
    parser.add_argument("--weights", type=Path, help="colorizer weights (default: the bundled CamVid colorizer)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--labels",
        type=Path,
        help="label map PNG: one class index per pixel (others: void), the image's size (photos only)",
    )
    source.add_argument(
        "--segment-weights", type=Path, help="segmenter for the map (default: the bundled gray CamVid segmenter)"
    )
    parser.add_argument(
        "--work-size", type=int, default=WORK_SIZE, help=f"shorter side the chroma is predicted at ({WORK_SIZE})"
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="output image (PNG, JPEG, …), a video (.mp4…) for a video; with --evaluate a JSON file",
    )
    scoring = parser.add_argument_group("evaluation (--evaluate)")
    scoring.add_argument("--evaluate", action="store_true", help="score on colour photos instead of colouring one")
    scoring.add_argument("--data", type=Path, help="CamVid-layout root: photos with ground-truth maps")
    scoring.add_argument("--split", default="test", help="split of --data (default test)")
    scoring.add_argument("--photos", type=Path, help="a folder of colour photos, mapped by the segmenter")
    scoring.add_argument("--limit", type=int_in_range(1), help="score only the first N photos")
    add_video_arguments(parser)
    add_runtime_option(parser)
    parser.set_defaults(func=run)


def load_models(args: argparse.Namespace, need_segmenter: bool) -> tuple[torch.nn.Module, Segmenter | None]:
    """The colorizer, and (when the maps must be predicted) a ``rgb → labels`` function of the segmenter,
    both on ``args.device``."""
    from semvis.bundled import COLORIZER, bundled_model
    from semvis.colorize import load_colorizer
    from semvis.colorize.pipeline import load_colorization_models
    from semvis.nn.runtime import accelerate

    if not need_segmenter:
        model = load_colorizer(args.weights or bundled_model(COLORIZER), args.device)
        return accelerate(model, runtime=args.runtime, device=args.device), None
    segmenter, _, model = load_colorization_models(args.segment_weights, args.weights, args.device, args.runtime)
    return model, segmenter


def check_work_size(size: int) -> None:
    """One clear error unless ``size`` is within :data:`WORK_SIZES` (``semvis colorize`` and ``semvis serve``)."""
    low, high = WORK_SIZES
    if not low <= size <= high:
        raise SemvisError(f"--work-size must be at least {low} and at most {high}, got {size}")


def run(args: argparse.Namespace) -> int:
    check_work_size(args.work_size)
    if args.evaluate:
        return run_evaluate(args)
    if args.image is not None and is_video(args.image):
        return colorize_video_file(args)
    if args.image is None or args.out is None:
        raise SemvisError("give IMAGE and -o OUT, or --evaluate with --data or --photos")
    from semvis.colorize import colorize
    from semvis.data import image_to_tensor, load_image, load_label, save_image
    from semvis.data.images import MIN_SIDE, check_image_output

    check_image_output(args.out)
    image = image_to_tensor(load_image(args.image, min_side=MIN_SIDE))
    given = None if args.labels is None else torch.from_numpy(load_label(args.labels))  # checked before models load
    model, segmenter = load_models(args, need_segmenter=given is None)
    labels = given if segmenter is None else segmenter(image)
    save_image(colorize(image, labels, model, args.work_size, args.device), args.out)
    console().print(f"wrote {args.out}")
    return 0


def photo_samples(args: argparse.Namespace, segmenter: Segmenter | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(rgb, labels) pairs: a CamVid split with its maps, or a photo folder with predicted maps."""
    from semvis.data import IMAGE_EXTENSIONS, SegmentationDataset, image_to_tensor, list_images, load_image

    if args.data is not None:
        dataset = SegmentationDataset(args.data, args.split)
        count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
        for i in range(count):
            rgb, labels = dataset[i]
            yield rgb, labels if segmenter is None else segmenter(rgb)
        return
    files = list_images(args.photos)
    if not files:
        raise DataError(f"{args.photos}: no photos ({', '.join(IMAGE_EXTENSIONS)}) found")
    for path in files[: args.limit]:
        rgb = image_to_tensor(load_image(path).convert("RGB"))
        yield rgb, segmenter(rgb)


def run_evaluate(args: argparse.Namespace) -> int:
    from semvis.cli.progress import progress_bars
    from semvis.colorize.evaluate import evaluate_colorizer
    from semvis.progress import tracked

    if (args.data is None) == (args.photos is None):
        raise SemvisError("--evaluate needs exactly one of --data DIR (with its maps) or --photos DIR")
    if args.image is not None:
        raise SemvisError("--evaluate scores a set of photos: drop the IMAGE argument")
    if args.photos is not None and not args.photos.is_dir():
        raise DataError(f"{args.photos}: photo folder not found")
    predicted = args.photos is not None or args.segment_weights is not None
    model, segmenter = load_models(args, need_segmenter=predicted)
    with progress_bars() as progress:
        samples = tracked(photo_samples(args, segmenter), "colorizing", progress, total=args.limit)
        scores = evaluate_colorizer(model, samples, model.config["num_classes"], args.work_size, args.device)
    source = f"{args.data} / {args.split}" if args.data else str(args.photos)
    maps = "predicted maps" if predicted else "ground-truth maps"
    table = Table("score", "colorized", "gray input", "original", title=f"{source}, {scores.images} photos, {maps}")
    table.add_row("ab PSNR (dB)", f"{scores.ab_psnr:.2f}", f"{scores.gray_ab_psnr:.2f}", "∞")
    table.add_row("colourfulness", f"{scores.colourfulness:.1f}", "0.0", f"{scores.true_colourfulness:.1f}")
    table.add_row("edit locality", f"{100 * scores.edit_locality:.1f}%", "", "")
    table.add_row("edit: mean Δab in / out (Lab)", f"{scores.edit_inside:.2f} / {scores.edit_outside:.2f}", "", "")
    console().print(table)
    if args.out is not None:
        summary = asdict(scores) | {"source": source, "maps": maps, "work_size": args.work_size}
        with atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(summary, indent=1) + "\n")
        console().print(f"wrote {args.out}")
    return 0
