"""``semvis colorize IMAGE``: colour a gray (or colour) photo under a semantic label map."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from semvis.cli import console
from semvis.errors import SemvisError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "colorize", help="colorize a photo under a semantic map (seed: Semantic-Driven Colorization)"
    )
    parser.add_argument("image", type=Path, help="gray or colour photo (a colour one is reduced to its L)")
    parser.add_argument("--weights", type=Path, required=True, help="colorizer weights (colorizer.safetensors)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--labels", type=Path, help="label map PNG: one class index per pixel (others: void), the image's size"
    )
    source.add_argument("--segment-weights", type=Path, help="segmentation weights to compute the map with")
    parser.add_argument("--work-size", type=int, default=352, help="shorter side the chroma is predicted at")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output image (PNG, JPEG, …)")
    parser.set_defaults(func=run)


def segment_labels(weights: Path, image: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Label map of ``image`` from a :mod:`semvis.segment` model (imported only for this option)."""
    from semvis.segment import load_segmenter, segment

    model, spec = load_segmenter(weights)
    if len(spec.classes) != num_classes:
        raise SemvisError(
            f"{weights}: the segmenter predicts {len(spec.classes)} classes but the colorizer expects {num_classes}"
        )
    return segment(model, image)


def run(args: argparse.Namespace) -> int:
    from semvis.colorize import colorize, load_colorizer
    from semvis.data import image_to_tensor, load_image, load_label, save_image

    if args.work_size < 32:
        raise SemvisError(f"--work-size must be at least 32, got {args.work_size}")
    image = image_to_tensor(load_image(args.image))
    model = load_colorizer(args.weights)
    if args.labels is not None:
        labels = torch.from_numpy(load_label(args.labels))
    else:
        labels = segment_labels(args.segment_weights, image, model.config["num_classes"])
    save_image(colorize(image, labels, model, args.work_size), args.out)
    console().print(f"wrote {args.out}")
    return 0
