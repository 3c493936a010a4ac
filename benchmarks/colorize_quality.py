"""Colour quality of colorizers on outside photos: Kodak24 and the held-out slice of ``photos/images``.

Maps come from the gray segmenter (the bundled one unless ``--segment-weights``), predicted once per run;
every model and work size of the run is scored on the same maps (``--maps FILE`` keeps them for later runs).
Per set and model: ab PSNR of the result and of the gray input, colourfulness of the result and of the
original, edit locality and the mean chroma change (Lab units) inside / outside the repainted region
(:func:`semvis.colorize.evaluate.evaluate_colorizer`). ``--figure`` writes a side-by-side picture
(colour original, gray input, each model) of the first photos of each set.

Prints one table and writes it to ``benchmarks/results/colorize_quality.md``.
Usage: ``python benchmarks/colorize_quality.py NAME=WEIGHTS… [--work-size 176] [--limit 60] [--figure F]``
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch

from semvis.colorize import colorize, load_colorizer
from semvis.colorize.cache import split_holdout
from semvis.colorize.evaluate import evaluate_colorizer
from semvis.colorize.infer import with_chroma
from semvis.colorize.pipeline import load_segmenter_function
from semvis.data import image_to_tensor, list_images, load_image, save_image, tensor_to_image
from semvis.paths import data_root
from semvis.viz import labelled_grid

Samples = list[tuple[str, torch.Tensor, torch.Tensor]]


def photo_sets(limit: int) -> dict[str, list[Path]]:
    data = data_root()
    return {
        "Kodak24": list_images(data / "color" / "kodak24"),
        "held-out photos": split_holdout(list_images(data / "photos" / "images"))[1][:limit],
    }


def load_maps(path: Path | None, limit: int, segment_weights: Path | None) -> dict[str, Samples]:
    """(name, 8-bit RGB, labels) per photo of each set, from ``path`` or predicted (and saved there, if given).

    A file at ``path`` is used whatever segmenter made it: name one per segmenter."""
    if path is not None and path.is_file():
        return torch.load(path, weights_only=False)
    predict, _ = load_segmenter_function(segment_weights)
    maps = {}
    for name, files in photo_sets(limit).items():
        items = []
        for file in files:
            rgb = image_to_tensor(load_image(file).convert("RGB"))
            items.append((file.name, (rgb * 255).round().to(torch.uint8), predict(rgb).to(torch.uint8)))
        maps[name] = items
    if path is not None:
        torch.save(maps, path)
    return maps


def figure(maps: dict[str, Samples], models: dict[str, torch.nn.Module], work_size: int, per_set: int) -> object:
    rows, labels = [], []
    for name, samples in maps.items():
        for file, rgb8, labels_map in samples[:per_set]:
            rgb = rgb8.float() / 255
            cells = [tensor_to_image(rgb), tensor_to_image(with_chroma(rgb, torch.zeros(2, *rgb.shape[1:])))]
            cells += [tensor_to_image(colorize(rgb, labels_map.long(), m, work_size)) for m in models.values()]
            rows.append(cells)
            labels.append(f"{name}: {file}")
    return labelled_grid(rows, (200, 200), labels, ["colour original", "gray input", *models])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="NAME=WEIGHTS of each colorizer")
    parser.add_argument("--work-size", type=int, default=176)
    parser.add_argument("--limit", type=int, default=60, help="held-out photos scored (the first N of the slice)")
    parser.add_argument("--maps", type=Path, help="keep the predicted maps here and reuse them (a file per segmenter)")
    parser.add_argument("--segment-weights", type=Path)
    parser.add_argument("--figure", type=Path, help="side-by-side picture to write")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    maps = load_maps(args.maps, args.limit, args.segment_weights)
    models = {name: load_colorizer(path) for name, path in (m.split("=", 1) for m in args.models)}
    rows = [
        "| photos | model | ab PSNR: colorized / gray (dB) | colourfulness: colorized / original "
        "| edit locality | edit Δab in / out (Lab) |",
        "|---|---|---|---|---|---|",
    ]
    for set_name, samples in maps.items():
        for name, model in models.items():
            pairs = ((rgb.float() / 255, labels.long()) for _, rgb, labels in samples)
            s = asdict(evaluate_colorizer(model, pairs, model.config["num_classes"], args.work_size))
            rows.append(
                f"| {set_name} ({s['images']}) | {name} | {s['ab_psnr']:.2f} / {s['gray_ab_psnr']:.2f} "
                f"| {s['colourfulness']:.1f} / {s['true_colourfulness']:.1f} | {100 * s['edit_locality']:.1f} % "
                f"| {s['edit_inside']:.1f} / {s['edit_outside']:.2f} |"
            )
            print(rows[-1], flush=True)
    table = f"Work size {args.work_size}, predicted maps, {args.threads} thread(s).\n\n" + "\n".join(rows) + "\n"
    (Path(__file__).parent / "results" / "colorize_quality.md").write_text(table)
    if args.figure is not None:
        save_image(figure(maps, models, args.work_size, 3), args.figure)


if __name__ == "__main__":
    main()
