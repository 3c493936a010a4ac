"""End-point error of optical-flow methods on real ground truth: MPI-Sintel pairs and a Middlebury stereo pair.

Issue 6 asks for EPE "on ../shared/data/sintel and on scikit-image's bundled Middlebury stereo pair
(flow = −disparity), against zero flow and OpenCV DIS". Zero flow is the reference measured in the
same run. Stereo: ``left(x, y) = right(x − d, y)``, so the flow from left to right is (−d, 0); pixels
with unknown disparity (inf) are left out, like Sintel's unknown flow. Trained FlowNets
(``semvis train flow``) are added as columns with ``--flownet FILE…``: their stride-8 flow is resized
bilinearly to the frame, vectors scaled.

Prints a markdown table (EPE in pixels, and seconds per pair for each method) and writes
``benchmarks/results/flow.md``.
Usage: ``python benchmarks/flow.py [--threads N] [--flownet runs/flownet/model.safetensors]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semvis.flow import dis_flow, end_point_error, read_flo
from semvis.video.flow_train import FlowNetFlow, load_flownet

DATA = Path(os.environ.get("SEMVIS_DATA", "../shared/data"))
PRESETS = ("ultrafast", "fast", "medium")


def sintel_pairs() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{"Sintel easy": (frame1, frame2, flow)…}`` for the pairs under $SEMVIS_DATA/sintel (none if absent)."""
    root = DATA / "sintel"
    pairs = {}
    for level in sorted(p.name for p in root.iterdir()) if root.is_dir() else []:
        frames = [np.array(Image.open(root / level / n).convert("RGB")) for n in ("frame1.png", "frame2.png")]
        pairs[f"Sintel {level}"] = (*frames, read_flo(root / level / "flow.flo"))
    return pairs


def middlebury_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's Middlebury 2014 "motorcycle" pair with flow = (−disparity, 0)."""
    from skimage.data import stereo_motorcycle

    left, right, disparity = stereo_motorcycle()
    return left, right, np.stack([-disparity, np.zeros_like(disparity)], axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--flownet", type=Path, nargs="*", default=[], help="trained flow networks to add as columns")
    args = parser.parse_args()
    flownets = {path.stem: FlowNetFlow(load_flownet(path)) for path in args.flownet}
    torch.set_num_threads(args.threads)
    pairs = sintel_pairs() | {"Middlebury motorcycle (stereo)": middlebury_pair()}
    first_pair = next(iter(pairs.values()))
    dis_flow(first_pair[0], first_pair[1], PRESETS[0])  # warm-up: OpenCV's first call pays its set-up
    lines = [
        f"CPU {platform.machine()}, {args.threads} threads. EPE in pixels over pixels with known ground truth "
        "(lower is better); seconds per pair in brackets. Reference: zero flow.",
        "",
        "| pair | size | zero flow | " + " | ".join([f"DIS {p}" for p in PRESETS] + list(flownets)) + " |",
        "|---|---|---|" + "---|" * (len(PRESETS) + len(flownets)),
    ]
    for name, (first, second, truth) in pairs.items():
        cells = [f"{end_point_error(np.zeros_like(truth), truth):.3f}"]
        methods = [partial(dis_flow, preset=p) for p in PRESETS] + [f.dense for f in flownets.values()]
        for method in methods:
            start = time.perf_counter()
            flow = method(first, second)
            seconds = time.perf_counter() - start
            cells.append(f"{end_point_error(flow, truth):.3f} ({seconds:.2f} s)")
        lines.append(f"| {name} | {first.shape[1]}×{first.shape[0]} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    (Path(__file__).parent / "results" / "flow.md").write_text(table)


if __name__ == "__main__":
    main()
