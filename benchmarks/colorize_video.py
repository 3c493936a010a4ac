"""Video colorization: flicker, fidelity and speed of key-frame propagation against per-frame colorization.

On the first ``--frames`` frames of DAVIS sequences (colour video, shrunk to a shorter side of ``--size``
and coloured from their L), :func:`semvis.colorize.video.colorize_video` runs with the bundled gray
segmenter and colorizer (PyTorch) on every frame (**per-frame**, l = 1: what ``semvis colorize PHOTO``
gives frame by frame) and with key frames every l frames, the chroma warped along DIS flow between them.

- **flicker**: mean |ab_t − warp(ab_{t−1})| in Lab units (|Δa| and |Δb| averaged) over the pixels the
  reference flow's forward–backward check (Ruder et al. 2016, :func:`semvis.flow.occlusion_mask`)
  marks reliable, all consecutive pairs of all sequences pooled (:func:`semvis.flow.flicker`). Two
  reference flows, computed on the colour frames and the same for every row: RAFT-small (independent
  of the method, which propagates along DIS) and DIS (medium) at the benchmark size. The original
  video's row is the floor: what the reference flow misses on real colour.
- **flicker at key frames**: the same over the pairs whose second frame is a key frame (the jump when
  propagation restarts).
- **ab PSNR** against the original colour frames (:func:`semvis.colorize.ab_psnr`, mean over frames),
  **colourfulness** (Hasler & Süsstrunk) of the output, **s/frame**: the mean wall time per frame
  (decoding not timed).

Reference flows are cached under ``--cache``. Writes ``benchmarks/results/colorize_video.md`` and, with
``--strip PNG``, a picture of a few frames of the first sequence: original, per-frame and l = 8, each with its
change from the previous frame (along the RAFT reference flow).

``--residuals`` instead prints what ``--cut-threshold`` compares: warp residuals within DAVIS sequences
and across artificial cuts between them.

Usage: ``python benchmarks/colorize_video.py [--sequences car-roundabout dog …] [--frames 40] [--size 240]
[--intervals 4 8 16] [--threads 2] [--strip docs/images/colorize_video.png] [--residuals]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean, median

import torch
import torch.nn.functional as F
from PIL import Image

from semvis.colorize import AB_SCALE, ab_psnr, colourfulness, rgb_to_lab
from semvis.colorize.infer import WORK_SIZE, with_chroma
from semvis.colorize.pipeline import load_colorization_models
from semvis.colorize.video import ColorizedFrame, colorize_video
from semvis.data.images import image_to_tensor, tensor_to_image
from semvis.data.transforms import short_side_size
from semvis.data.video import open_frames
from semvis.flow import RAFTFlow, dis_flow, flicker, flow_to_tensor, occlusion_mask
from semvis.nn.warp import warp
from semvis.paths import data_root
from semvis.video.inference import DISFlow
from semvis.video.schedule import FixedInterval, warp_residual
from semvis.viz import labelled_grid

RESULTS = Path(__file__).parent / "results"
SEQUENCES = ("car-roundabout", "dog", "kite-surf")
STRIP_INTERVAL = 8
STRIP_COLUMNS = (6, 7, 8, 9, 10)  # around the second key frame of l = 8
STRIP_RANGE = 10.0  # Lab units shown as white in the change maps


@dataclass(frozen=True)
class Reference:
    """Per consecutive pair (t−1, t): the flow from t back to t−1 and the reliable pixels of t."""

    flows: list[torch.Tensor]
    masks: list[torch.Tensor]


def load_clip(folder: Path, count: int, short: int) -> list[torch.Tensor]:
    """The first ``count`` frames as ``3 × H × W`` tensors in [0, 1], shorter side ``short``."""
    clip = []
    for frame in open_frames(folder):
        image = image_to_tensor(frame)
        size = short_side_size(*image.shape[-2:], short)
        clip.append(F.interpolate(image[None], size, mode="bilinear", antialias=True)[0].clamp(0, 1))
        if len(clip) == count:
            break
    return clip


def reference(clip: list[torch.Tensor], kind: str, cache: Path) -> Reference:
    """Flows and masks of ``kind`` (``raft`` or ``dis``) between consecutive frames, cached in ``cache``."""
    if cache.is_file():
        return Reference(**torch.load(cache))
    raft = RAFTFlow() if kind == "raft" else None

    def flow(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return raft(a[None], b[None]) if raft is not None else flow_to_tensor(dis_flow(a, b))

    flows, masks = [], []
    for previous, current in zip(clip, clip[1:]):
        backward, forward = flow(current, previous), flow(previous, current)
        flows.append(backward)
        masks.append(occlusion_mask(forward, backward))
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"flows": flows, "masks": masks}, cache)
    return Reference(flows, masks)


def chroma(image: torch.Tensor) -> torch.Tensor:
    """``1 × 2 × H × W`` ab of an RGB image, in Lab units."""
    return rgb_to_lab(image)[None, 1:] * AB_SCALE


@dataclass
class Row:
    """Pooled scores of one method over all sequences."""

    flicker: dict[str, list[float]]  # per reference: [sum, count] pooled by flicker()'s weights
    key_flicker: list[float]
    psnr: list[float]
    colour: list[float]
    seconds: list[float]


def score(row: Row, outputs: list[torch.Tensor], keys: list[bool], clip: list[torch.Tensor], refs: dict) -> None:
    """Add one sequence's outputs (``3 × H × W``) to ``row``."""
    ab = [chroma(image) for image in outputs]
    for name, ref in refs.items():
        weight = sum(m.sum().item() for m in ref.masks)
        row.flicker[name][0] += flicker(ab, ref.flows, ref.masks) * weight
        row.flicker[name][1] += weight
        if name == "raft" and any(keys[1:]):
            pairs = [t for t in range(1, len(ab)) if keys[t]]
            row.key_flicker += [flicker(ab[t - 1 : t + 1], [ref.flows[t - 1]], [ref.masks[t - 1]]) for t in pairs]
    truth = [chroma(image) for image in clip]
    row.psnr += [ab_psnr(a / AB_SCALE, b / AB_SCALE).item() for a, b in zip(ab, truth)]
    row.colour += [colourfulness(image).item() for image in outputs]


def run(clip: list[torch.Tensor], segmenter, model, interval: int) -> list[ColorizedFrame]:
    return list(colorize_video(clip, segmenter, model, FixedInterval(interval)))


def change_map(outputs: list[torch.Tensor], ref: Reference, t: int) -> Image.Image:
    """|ab_t − warp(ab_{t−1})| (mean of |Δa|, |Δb|) on the reliable pixels: black 0, white ≥ STRIP_RANGE Lab units."""
    before, after = chroma(outputs[t - 1]), chroma(outputs[t])
    change = (after - warp(before, ref.flows[t - 1])).abs().mean(1)[0] * ref.masks[t - 1][0, 0]
    return Image.fromarray((change / STRIP_RANGE).clamp(0, 1).mul(255).round().byte().numpy()).convert("RGB")


def strip(clip: list[torch.Tensor], rows: dict[str, list[torch.Tensor]], ref: Reference, path: Path) -> None:
    """Original, then each method's frames and its change from the previous frame, as a palette PNG."""
    cells = [[tensor_to_image(clip[t]) for t in STRIP_COLUMNS]]
    labels = ["original"]
    for name, images in rows.items():
        cells += [
            [tensor_to_image(images[t]) for t in STRIP_COLUMNS],
            [change_map(images, ref, t) for t in STRIP_COLUMNS],
        ]
        labels += [name, "  change from the\n  previous frame"]
    w, h = cells[0][0].size
    columns = [f"frame {t}" + (" (key)" if t % STRIP_INTERVAL == 0 else "") for t in STRIP_COLUMNS]
    sheet = labelled_grid(cells, (w * 2 // 5, h * 2 // 5), labels, columns)
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def residuals(davis: Path, frames: int = 17) -> str:
    """What ``--cut-threshold`` compares, at the default work size: the warp residual
    (:func:`~semvis.video.schedule.warp_residual`, DIS) of frames 1, 4 and 8 after frames 0 and 8 of every
    DAVIS sequence, against artificial cuts (the last of these frames of one sequence → the first of another)."""
    clips = {s.name: load_clip(s / "frames", frames, WORK_SIZE) for s in sorted(davis.iterdir()) if s.is_dir()}
    flow = DISFlow()

    def residual(current: torch.Tensor, key: torch.Tensor) -> float:
        return warp_residual(current[None], key[None], flow(current[None], key[None]))

    within = [residual(c[k + d], c[k]) for c in clips.values() for k in (0, 8) for d in (1, 4, 8) if k + d < len(c)]
    cuts = [residual(clips[b][0], clips[a][-1]) for a in clips for b in clips if a != b]
    return (
        f"Warp residual at the work size ({WORK_SIZE}), DAVIS, {len(clips)} sequences: within a sequence (up to 8 "
        f"frames from the key) max {max(within):.3f}, median {median(within):.3f}; {len(cuts)} artificial cuts "
        f"min {min(cuts):.3f}, median {median(cuts):.3f}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", nargs="+", default=list(SEQUENCES))
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=240, help="shorter side of the frames (default 240: 427×240)")
    parser.add_argument("--intervals", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("runs/colorize_video_flows"))
    parser.add_argument("--strip", type=Path, help="write the original / per-frame / l = 8 picture here")
    parser.add_argument("--output", type=Path, default=RESULTS / "colorize_video.md")
    parser.add_argument("--residuals", action="store_true", help="only print the residuals --cut-threshold compares")
    args = parser.parse_args()
    davis = data_root() / "davis"
    if not davis.is_dir():
        print(f"skipped: needs {davis} (set SEMVIS_DATA)")
        return
    torch.set_num_threads(args.threads)
    if args.residuals:
        print(residuals(davis))
        return
    segmenter, _, model = load_colorization_models(runtime="torch")
    methods = {"per-frame (l = 1)": 1} | {f"key frames, l = {n}": n for n in args.intervals}
    new_row = lambda: Row({"raft": [0.0, 0.0], "dis": [0.0, 0.0]}, [], [], [], [])  # noqa: E731
    rows = {"original colour": new_row(), "gray input (ab = 0)": new_row()} | {name: new_row() for name in methods}
    load = [os.getloadavg()[0]]
    first = load_clip(davis / args.sequences[0] / "frames", 2, args.size)
    run(first, segmenter, model, 1)  # warm-up
    for s, sequence in enumerate(args.sequences):
        clip = load_clip(davis / sequence / "frames", args.frames, args.size)
        size = f"{args.size}-{len(clip)}"
        refs = {kind: reference(clip, kind, args.cache / f"{sequence}-{size}-{kind}.pt") for kind in ("raft", "dis")}
        score(rows["original colour"], clip, [False] * len(clip), clip, refs)
        gray = [with_chroma(image, torch.zeros(2, *image.shape[-2:])) for image in clip]
        score(rows["gray input (ab = 0)"], gray, [False] * len(clip), clip, refs)
        shown = {}
        for name, interval in methods.items():
            frames = run(clip, segmenter, model, interval)
            score(rows[name], [f.image for f in frames], [f.key for f in frames], clip, refs)
            rows[name].seconds += [f.seconds for f in frames]
            if interval in (1, STRIP_INTERVAL):
                shown[name] = [f.image for f in frames]
            print(f"{sequence} {name}: {fmean(f.seconds for f in frames):.3f} s/frame", flush=True)
        load.append(os.getloadavg()[0])
        if s == 0 and args.strip is not None and len(clip) > max(STRIP_COLUMNS):
            strip(clip, shown, refs["raft"], args.strip)
    h, w = clip[0].shape[-2:]
    lines = [
        f"`python benchmarks/colorize_video.py` — {platform.machine()} CPU, {args.threads} threads, torch "
        f"{torch.__version__}, {time.strftime('%Y-%m-%d')}; 1-minute load average {min(load):.1f}–{max(load):.1f} "
        f"on 2 cores (shared). DAVIS {', '.join(args.sequences)}: frames 0–{args.frames - 1} at {w}×{h}, coloured "
        "from their L by the bundled gray DeepLabv3+ and colorizer (work size 176, PyTorch); propagation along DIS "
        "(medium) at the work size.",
        "",
        "| frames | flicker, RAFT ref. (Lab) | flicker, DIS ref. (Lab) | flicker at key frames, RAFT ref. | "
        "ab PSNR (dB) | colourfulness | s/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        flick = [f"{total / count:.2f}" for total, count in row.flicker.values()]
        keys = f"{fmean(row.key_flicker):.2f}" if row.key_flicker and name != "per-frame (l = 1)" else "–"
        psnr = "∞" if name == "original colour" else f"{fmean(row.psnr):.2f}"  # noqa: RUF001
        seconds = f"{fmean(row.seconds):.3f}" if row.seconds else "–"
        lines.append(f"| {name} | {' | '.join(flick)} | {keys} | {psnr} | {fmean(row.colour):.1f} | {seconds} |")
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(table)


if __name__ == "__main__":
    main()
