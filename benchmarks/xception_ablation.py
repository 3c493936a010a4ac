"""A small, honest version of the Xception paper's Figs. 9 and 10 on Caltech-101.

Fig. 9: with and without residual connections. Fig. 10: no non-linearity between the depthwise
and pointwise convolutions (the paper's choice), ReLU or ELU there. The paper trains on ImageNet
for weeks; here every variant trains from scratch on the same small subset of Caltech-101 (the
``--classes`` largest classes, ``--per-class`` images each, held-out 20 %), at ``--size`` pixels,
for the same number of epochs with the §4.3 SGD recipe, on this machine's CPU. It shows the
direction of an effect at this scale, not the paper's numbers.

    python benchmarks/xception_ablation.py --out /tmp/ablation

prints a table of validation accuracy per epoch, writes it to benchmarks/results/xception_ablation.md
and draws docs/images/xception_ablation.png.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from PIL import Image

from semvis.classify import train_classifier
from semvis.paths import data_root
from semvis.viz import line_chart

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "residual, no intermediate (paper)": {},
    "no residual (Fig. 9)": {"residual": False},
    "ReLU intermediate (Fig. 10)": {"intermediate_activation": "relu"},
    "ELU intermediate (Fig. 10)": {"intermediate_activation": "elu"},
}


def subset(images: Path, classes: int, per_class: int, into: Path) -> Path:
    """A folder of class folders linking the first ``per_class`` images of the ``classes`` largest classes."""
    folders = sorted((p for p in images.iterdir() if p.is_dir()), key=lambda p: -len(list(p.iterdir())))
    for folder in sorted(folders[:classes]):
        (into / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:per_class]:
            (into / folder.name / image.name).symlink_to(image)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--size", type=int, default=71, help="Xception's smallest input")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01, help="the paper's 0.045 diverges at this batch size")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "xception_ablation")
    args = parser.parse_args()
    images = data_root() / "caltech101" / "images"
    if not images.is_dir():
        raise SystemExit(f"skipped: needs {images} (set SEMVIS_DATA)")
    data = subset(images, args.classes, args.per_class, Path(tempfile.mkdtemp()) / "data")
    curves: dict[str, list[dict[str, str]]] = {}
    rows = []
    for name, options in VARIANTS.items():
        run = args.out / name.split(" (")[0].replace(" ", "-").replace(",", "")
        start = time.perf_counter()
        train_classifier(
            "xception",
            data,
            run,
            val_fraction=0.2,
            size=args.size,
            model_options=options,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            num_workers=0,
            resume=run.exists(),
        )
        minutes = (time.perf_counter() - start) / 60
        log = list(csv.DictReader(open(run / "metrics.csv")))
        curves[name] = log
        best = max(float(r["val_acc"]) for r in log)
        last = log[-1]
        rows.append(
            f"| {name} | {100 * float(last['val_acc']):.1f} | {100 * float(last['val_top5']):.1f} | "
            f"{100 * best:.1f} | {100 * float(last['train_acc']):.1f} | "
            f"{float(last['train_loss']):.3f} | {minutes:.1f} |"
        )
        print(rows[-1], flush=True)
    header = [
        f"Xception ablations from scratch: Caltech-101, {args.classes} largest classes × {args.per_class} images "
        f"(80/20 split), {args.size} px, {args.epochs} epochs, batch {args.batch_size}, §4.3 SGD recipe at lr "
        f"{args.lr}, EMA weights evaluated. Single runs on the CPU.",
        "",
        "| variant | val top-1 % (last) | val top-5 % (last) | val top-1 % (best) | train top-1 % (last) "
        "| train loss (last) | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    (ROOT / "benchmarks" / "results" / "xception_ablation.md").write_text("\n".join(header + rows) + "\n")
    draw_curves(curves).save(ROOT / "docs" / "images" / "xception_ablation.png")


def draw_curves(logs: dict[str, list[dict[str, str]]]) -> Image.Image:
    """Training top-1 (running, in training mode) and validation top-1 (EMA weights) per epoch, side by side."""
    charts = []
    for column, what in (("train_acc", "training"), ("val_acc", "validation")):
        series = {name: [(float(r["epoch"]), 100 * float(r[column])) for r in log] for name, log in logs.items()}
        charts.append(line_chart(series, "epoch", f"{what} top-1 %", f"Xception ablations: {what}"))
    sheet = Image.new("RGB", (sum(c.width for c in charts), max(c.height for c in charts)), "white")
    for i, chart in enumerate(charts):
        sheet.paste(chart, (i * charts[0].width, 0))
    return sheet


if __name__ == "__main__":
    main()
