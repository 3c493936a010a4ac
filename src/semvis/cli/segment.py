"""``semvis segment IMAGE -o PREFIX`` and ``semvis segment --evaluate --data DIR``: a trained segmenter at work."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rich.table import Table

from semvis.atomic import atomic_path
from semvis.bundled import PHOTO_SEGMENTERS, bundled_model
from semvis.cli import console
from semvis.cli.export import add_runtime_option
from semvis.cli.main import int_in_range
from semvis.cli.progress import progress_bars
from semvis.data import SegmentationDataset, image_to_tensor, load_image, save_image
from semvis.data.images import MIN_SIDE, check_image_output, looks_gray
from semvis.errors import DataError, SemvisError
from semvis.nn.runtime import accelerate
from semvis.segment import (
    accuracy_per_class,
    confusion_picture,
    evaluate,
    label_image,
    load_segmenter,
    overlay,
    segment,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("segment", help="label every pixel of an image, or score a segmenter on a dataset")
    parser.add_argument("image", nargs="?", type=Path, help="image to segment (not with --evaluate)")
    parser.add_argument(
        "--weights",
        type=Path,
        help="from `semvis train segment` (default: the bundled CamVid DeepLabv3+ for colour or for gray photos, "
        "chosen by the image; with --evaluate the colour one)",
    )
    parser.add_argument(
        "-o",
        "--out",
        help="output prefix: PREFIX_labels.png (palette PNG of class indices) and PREFIX_overlay.png; "
        "with --evaluate PREFIX_confusion.png and PREFIX_scores.json (default: beside the weights, named by split)",
    )
    parser.add_argument(
        "--window",
        type=int_in_range(MIN_SIDE),
        help=f"sliding-window side in pixels, at least {MIN_SIDE} (default: the whole image at once)",
    )
    parser.add_argument("--evaluate", action="store_true", help="score the segmenter on a dataset split instead")
    parser.add_argument("--data", type=Path, help="dataset root in CamVid layout (with --evaluate)")
    parser.add_argument("--split", default="test", help="split to score (default test)")
    add_runtime_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.evaluate:
        args.weights = args.weights or bundled_model(PHOTO_SEGMENTERS["rgb"])
        return run_evaluate(args)
    if args.image is None or args.out is None:
        raise SemvisError("give IMAGE and -o OUT_PREFIX, or --evaluate --data DIR")
    outputs = [check_image_output(f"{args.out}_{kind}.png") for kind in ("labels", "overlay")]
    image = load_image(args.image, min_side=MIN_SIDE)
    if args.weights is None:
        args.weights = bundled_model(PHOTO_SEGMENTERS["gray" if looks_gray(image) else "rgb"])
    model, labels = load_segmenter(args.weights)
    model = accelerate(model, runtime=args.runtime, device=args.device)
    pred = segment(model, image_to_tensor(image), args.window, args.device)
    note = {"semvis": f"segment {args.image.name} with {args.weights.name}"}
    save_image(label_image(pred, labels.palette), outputs[0], note)
    save_image(overlay(image, pred, labels.palette, labels.classes), outputs[1], note)
    for path in outputs:
        console().print(f"wrote {path}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    if args.data is None:
        raise SemvisError("--evaluate needs --data DIR")
    if args.image is not None:
        raise SemvisError("--evaluate scores a dataset: drop the IMAGE argument")
    model, labels = load_segmenter(args.weights)
    model = accelerate(model, runtime=args.runtime, device=args.device)
    dataset = SegmentationDataset(args.data, args.split)
    if dataset.classes and tuple(dataset.classes) != labels.classes:
        raise DataError(f"{args.data}: classes {dataset.classes} differ from the segmenter's {list(labels.classes)}")
    with progress_bars() as progress:
        ignore = dataset.ignore_index
        result = evaluate(model, dataset, len(labels.classes), ignore, args.window, progress, args.device)
    conf = result["confusion"]
    table = Table("class", "IoU", "accuracy", "pixels", title=f"{args.weights} on {args.data} / {args.split}")
    for name, iou, acc, pixels in zip(labels.classes, result["iou"], accuracy_per_class(conf).tolist(), conf.sum(1)):
        table.add_row(name, _percent(iou), _percent(acc), f"{int(pixels):,}")
    table.add_section()
    table.add_row("mean", _percent(result["miou"]), _percent(result["mean_acc"]), f"{int(conf.sum()):,}")
    out = console()
    out.print(table)
    out.print(f"pixel accuracy {_percent(result['pixel_acc'])}  mIoU {_percent(result['miou'])}")
    prefix = args.out or str(args.weights.with_name(args.split))
    title = f"{args.weights.name} on {args.split}: rows ground truth, columns prediction (% of row)"
    picture = save_image(confusion_picture(conf, labels.classes, title), f"{prefix}_confusion.png")
    summary = {k: _number(result[k]) for k in ("miou", "pixel_acc", "mean_acc")} | {
        "split": args.split,
        "images": len(dataset),
        "iou": {name: _number(iou) for name, iou in zip(labels.classes, result["iou"])},
        "confusion": conf.tolist(),
    }
    scores_path = Path(f"{prefix}_scores.json")
    with atomic_path(scores_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    out.print(f"wrote {picture} and {scores_path}")
    return 0


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.1f}"


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined score (class absent) becomes null."""
    return None if math.isnan(value) else value
