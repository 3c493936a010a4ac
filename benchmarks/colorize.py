"""Speed of the colorization pipeline on this machine: segmentation, the colorizer, the app's re-colorize.

For one 352×352 gray photo: the bundled gray PSPNet-VGG19 segmenter (stride 8), the colorization
U-Net (the bundled width-16 model and an untrained width-32 one, the seed's width), and the full
``colorize()`` call that the app's re-colorize runs (Lab conversion, network, chroma upsampling,
gamut fit). Reference measured in the same run: the best fp32 square-matmul rate, against which
each network's GFLOPs (``torch.utils.flop_counter``; one multiply-add = 2 FLOPs) give a utilisation.
Issue 4's target: ≤ 150 ms for the colorization network; < 1 s per re-colorize in the app.

Prints one table and writes it to ``benchmarks/results/colorize.md``.
Usage: ``python benchmarks/colorize.py [--repeats 3] [--threads N]``
"""

from __future__ import annotations

import argparse
import platform
from functools import partial
from pathlib import Path

import torch
from timing import best_seconds, count_flops, matmul_flops_per_s

from semvis.bundled import COLORIZER, SEGMENTER, bundled_model
from semvis.colorize import SemanticColorizer, colorize, load_colorizer, luma
from semvis.segment import load_segmenter

SIZE = 352


def row(name: str, fn, repeats: int, peak: float, target: str) -> str:
    with torch.inference_mode():
        count = count_flops(fn)
        seconds = best_seconds(fn, repeats)
    return (
        f"| {name} | {count / 1e9:.1f} | {seconds * 1000:.0f} | {count / seconds / 1e9:.0f} "
        f"({100 * count / seconds / peak:.0f} %) | {target} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_flops_per_s(args.repeats)
    gray = torch.rand(1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    segmenter, _ = load_segmenter(bundled_model(SEGMENTER))
    bundled = load_colorizer(bundled_model(COLORIZER)).eval()
    seed_width = SemanticColorizer(bundled.config["num_classes"], width=32).eval()
    labels = segmenter(gray[None]).argmax(1)
    x = luma(gray)[None]
    steps = [
        ("segmenter: PSPNet-VGG19 gray, stride 8 (bundled)", partial(segmenter, gray[None]), ""),
        (f"colorizer width {bundled.config['width']} (bundled)", partial(bundled, x, labels), "≤ 150 ms"),
        ("colorizer width 32 (seed, untrained)", partial(seed_width, x, labels), "≤ 150 ms"),
        ("re-colorize: `colorize()`, bundled colorizer", partial(colorize, gray, labels[0], bundled), "< 1 s"),
    ]
    rows = [row(name, fn, args.repeats, peak, target) for name, fn, target in steps]
    header = [
        f"CPU {platform.machine()}, {args.threads} threads, torch {torch.__version__}; one {SIZE}×{SIZE} gray photo, "
        f"batch 1, best of {args.repeats} after a warm-up. Reference in the same run: best fp32 matmul "
        f"{peak / 1e9:.1f} GFLOP/s.",
        "",
        "| step | GFLOPs | ms | GFLOP/s (of matmul) | target |",
        "|---|---|---|---|---|",
    ]
    table = "\n".join(header + rows) + "\n"
    print(table)
    (Path(__file__).parent / "results" / "colorize.md").write_text(table)


if __name__ == "__main__":
    main()
