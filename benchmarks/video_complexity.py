"""The Table 2 analogue: FLOPs of N_feat, F, W, N_task, r (eq. 5–6) and eq. 7 per flow network and scale head.

Counted, not timed (``semvis.video.dff_complexity`` on the meta device), for DFF with VGG-19 or
Xception as N_feat (dilated to stride 16, then the 3×3 dilation-6 conv to 1024) and N_task = 20
score maps, on 1024×512 frames (``--size``). F is FlowNet Simple, Half or Inception with the
1024-channel scale field S predicted either as extra channels of its last 3×3 conv at stride 8
(``conv``, our reading of the paper) or by the official code's 1×1 conv on the pooled last
concatenation at stride 16 (``pooled``), or without S (``none``). The paper's Table 2 gives 1/r for
ResNet-50/101; its ratios between flow networks (Half / FlowNet 0.274, Inception / FlowNet 0.133) are
compared with ours under each head.

``--time`` also times, on this machine (one thread, fastest of ``--repeats`` after a warm-up),
N_feat and F with each head at ``--time-size`` (427×240 by default, the DAVIS benchmark's size), and
gives r from the clock (F + W + N_task over N_feat + N_task). Writes ``benchmarks/results/video_complexity.md``.

Usage: ``python benchmarks/video_complexity.py [--size 1024 512] [--time] [--time-size 427 240] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
from functools import partial
from pathlib import Path

import torch
from timing import best_seconds

from semvis.video import DeepFeatureFlow, build_dff, build_flownet, dff_complexity
from semvis.video.flownet import FLOWNETS, SCALE_HEADS, FlowNet

RESULTS = Path(__file__).parent / "results"
#: DFF Table 2: 1/r of FlowNet, FlowNet Half, FlowNet Inception against ResNet-50 and ResNet-101.
PAPER_INVERSE_R = {"ResNet-50": (9.20, 33.56, 68.97), "ResNet-101": (12.71, 46.30, 95.24)}
BACKBONES = {"vgg19": "VGG-19", "xception": "Xception"}
HEADS = ("none", *SCALE_HEADS)


def flow_network(flownet: str, head: str, channels: int = 1024) -> FlowNet:
    """F with a ``channels``-wide scale field from ``head`` (``none``: no S)."""
    if head == "none":
        return build_flownet(flownet)
    return build_flownet(flownet, channels, head)


def model(backbone: str, flownet: str, head: str) -> DeepFeatureFlow:
    """DFF on the meta device (nothing is computed) with F's scale field from ``head``."""
    with torch.device("meta"):
        dff = build_dff(20, backbone, None)
        dff.flow = flow_network(flownet, head, dff.features.out_channels)
    return dff.eval()


def flops_table(size: tuple[int, int]) -> tuple[list[str], dict[tuple[str, str], float]]:
    lines = [
        f"Counted FLOPs for one {size[0]}×{size[1]} frame, N_task = 20 score maps; s is eq. 7 at l = 10.",
        "",
        "| N_feat | F | S | N_feat GFLOPs | F GFLOPs | W GFLOPs | N_task GFLOPs | r | r ≈ (eq. 6) | s (l = 10) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    flow_flops: dict[tuple[str, str], float] = {}
    for backbone, label in BACKBONES.items():
        for flownet in FLOWNETS:
            for head in HEADS:
                cost = dff_complexity(model(backbone, flownet, head), size)
                flow_flops[flownet, head] = cost.flow
                lines.append(
                    f"| {label} | {flownet} | {head} | {cost.features / 1e9:.1f} | {cost.flow / 1e9:.2f} "
                    f"| {cost.warp / 1e9:.3f} | {cost.task / 1e9:.3f} | {cost.ratio:.4f} "
                    f"| {cost.approximate_ratio:.4f} | {cost.speedup(10):.2f} |"
                )
    return lines, flow_flops


def ratio_table(flow_flops: dict[tuple[str, str], float]) -> list[str]:
    """F's cost relative to FlowNet (Simple) under each head, against the ratios of the paper's Table 2."""
    lines = ["| F / FlowNet | " + " | ".join(f"S: {head}" for head in HEADS) + " | Table 2, ResNet-50 | ResNet-101 |"]
    lines.append("|---" * (len(HEADS) + 3) + "|")
    for i, flownet in enumerate(FLOWNETS):
        ours = " | ".join(f"{flow_flops[flownet, head] / flow_flops['simple', head]:.3f}" for head in HEADS)
        paper = " | ".join(f"{inverse[0] / inverse[i]:.3f}" for inverse in PAPER_INVERSE_R.values())
        lines.append(f"| {flownet} | {ours} | {paper} |")
    return lines


def timed_table(size: tuple[int, int], repeats: int) -> list[str]:
    """Seconds of N_feat and of F with each head (VGG-19 DFF, random weights), and r from the clock."""
    width, height = size
    frame = torch.rand(1, 3, height, width)
    dff = build_dff(20, "vgg19", None).eval()
    with torch.inference_mode():
        features = dff.features(frame)
        feat = best_seconds(partial(dff.features, frame), repeats)
        task = best_seconds(partial(dff.classify, features, (height, width)), repeats)
    lines = [
        f"Timed at {width}×{height}, one thread, fastest of {repeats} after a warm-up (random weights): "
        f"N_feat (VGG-19 + 3×3 conv to 1024) {feat:.3f} s, N_task {task:.4f} s.",
        "",
        "| F | S | F seconds | W seconds | r from the clock | r counted |",
        "|---|---|---|---|---|---|",
    ]
    for flownet in FLOWNETS:
        for head in HEADS:
            flow = flow_network(flownet, head).eval()
            with torch.inference_mode():
                estimate = flow(frame, frame)
                seconds = best_seconds(partial(flow, frame, frame), repeats)
                warp = best_seconds(partial(dff.propagate, features, estimate), repeats)
            counted = dff_complexity(model("vgg19", flownet, head), size).ratio
            lines.append(
                f"| {flownet} | {head} | {seconds:.3f} | {warp:.4f} | {(seconds + warp + task) / (feat + task):.4f} "
                f"| {counted:.4f} |"
            )
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 512), metavar=("W", "H"))
    parser.add_argument("--time", action="store_true", help="also time N_feat and F with each scale head")
    parser.add_argument("--time-size", type=int, nargs=2, default=(427, 240), metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "video_complexity.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    counted, flow_flops = flops_table(tuple(args.size))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    head = f"Device: {platform.machine()}, {os.cpu_count()} cores, load {load} at the start; torch {torch.__version__}."
    lines = [head, "", *counted, "", *ratio_table(flow_flops)]
    small, small_flops = flops_table(tuple(args.time_size))
    lines += ["", *small[:1], "", "| F | S | F GFLOPs | of which S |", "|---|---|---|---|"]
    for flownet in FLOWNETS:
        for head in SCALE_HEADS:
            total, bare = small_flops[flownet, head], small_flops[flownet, "none"]
            lines.append(f"| {flownet} | {head} | {total / 1e9:.2f} | {(total - bare) / 1e9:.2f} |")
    if args.time:
        lines += ["", *timed_table(tuple(args.time_size), args.repeats)]
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)


if __name__ == "__main__":
    main()
