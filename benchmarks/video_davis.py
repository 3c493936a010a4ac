"""DAVIS foreground segmentation with Deep Feature Flow: IoU and speed per variant (Tables 3/4, Fig. 3 analogues).

N is the "Frame" network trained by ``semvis train video`` (frozen VGG-19 at stride 16, the new
3×3 dilation-6 conv to 1024 channels and a 1×1 N_task to background/foreground). On every test
clip (never trained on: whole sequences, or with ``--tail`` the last frames of every sequence),
Algorithm 1 (:func:`semvis.video.run_video`) runs with

- **Frame**: N on every frame (l = 1);
- **SFF**: key frames every l, features warped along OpenCV DIS flow (the paper's hand-crafted-flow baseline);
- **zero flow**: key-frame features copied unchanged (what propagation is worth);
- **DFF separate** (``--flownet``): Frame's N with a flow network pre-trained on synthetic pairs alone;
- **DFF, DFF fix N, DFF fix F** (``--dff LABEL=FILE``): models trained end to end by ``semvis train dff``;
- **adaptive**: a key frame when the warping residual exceeds a threshold (the paper's future work).

Scores against the ground-truth masks: **J** (DAVIS region similarity: the mean over frames of the
foreground IoU) and the foreground/background mIoU over all pixels. Speed: seconds per frame of the
network part (decoding not timed) after one untimed warm-up frame per sequence, the measured speedup
over Frame, and eq. 7 with the measured r. Writes ``--output`` (Markdown) and a ``_curve.png`` beside it.

Usage: ``python benchmarks/video_davis.py --weights runs/dff-davis/model.safetensors [--tail 0.3]
[--scale 0.5] [--intervals 2 5 10] [--flows dis zero] [--flownet F.safetensors]
[--dff "DFF=runs/dff-joint/model.safetensors" ...] [--adaptive 0.02 0.04] [--threads N]``
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from pathlib import Path
from statistics import fmean

import torch

from semvis.paths import data_root
from semvis.segment import confusion_matrix, scores
from semvis.video import (
    AdaptiveSchedule,
    DeepFeatureFlow,
    DISFlow,
    FixedInterval,
    FlowFunction,
    KeyFramePolicy,
    RunTiming,
    run_video,
    zero_flow,
)
from semvis.video.files import load_dff
from semvis.video.flow_train import FlowNetFlow, load_flownet
from semvis.video.train import DavisFrames, davis_split
from semvis.viz import line_chart

DATA = data_root()
RESULTS = Path(__file__).parent / "results"


class Score:
    """Timing and accuracy of one variant over all test sequences."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.key: list[bool] = []
        self.conf = torch.zeros(2, 2, dtype=torch.int64)
        self.frame_ious: list[float] = []

    def add(self, labels: torch.Tensor, mask: torch.Tensor, seconds: float, key: bool) -> None:
        self.conf += confusion_matrix(labels, mask, 2, ignore_index=255)
        union = ((labels == 1) | (mask == 1)).sum().item()
        self.frame_ious.append(((labels == 1) & (mask == 1)).sum().item() / union if union else 1.0)
        self.seconds.append(seconds)
        self.key.append(key)

    @property
    def timing(self) -> RunTiming:
        return RunTiming.of(self.seconds, self.key)

    @property
    def j_mean(self) -> float:
        return 100 * fmean(self.frame_ious)

    @property
    def miou(self) -> float:
        return 100 * scores(self.conf)["miou"]


TestClip = tuple[list[torch.Tensor], list[torch.Tensor]]


def evaluate(
    model: DeepFeatureFlow,
    sequences: list[TestClip],
    schedule_for: Callable[[], KeyFramePolicy],
    flow: FlowFunction | None,
) -> Score:
    """Algorithm 1 over every test clip (after a warm-up frame each), scored against its masks."""
    score = Score()
    for frames, masks in sequences:
        list(run_video(model, frames[:1], schedule_for(), flow))  # warm-up
        for result, mask in zip(run_video(model, frames, schedule_for(), flow), masks, strict=True):
            score.add(result.labels, mask, result.seconds, result.key)
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=Path("runs/dff-davis/model.safetensors"))
    parser.add_argument("--scale", type=float, default=0.5, help="of the 854×480 frames (default 0.5)")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--test", nargs="+", help="test sequences (default: every third, as in training)")
    split.add_argument("--tail", type=float, default=0.0, help="test on the last TAIL of every sequence instead")
    parser.add_argument("--intervals", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--flows", nargs="+", choices=("dis", "zero"), default=["dis", "zero"])
    parser.add_argument("--flownet", type=Path, nargs="*", default=[], help="pre-trained F files (DFF separate)")
    parser.add_argument("--dff", nargs="*", default=[], metavar="LABEL=FILE", help="end-to-end trained DFF files")
    parser.add_argument("--adaptive", type=float, nargs="*", default=[], help="residual thresholds (DIS flow)")
    parser.add_argument("--preset", default="medium", help="DIS preset (default medium)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--output", type=Path, default=RESULTS / "video_davis.md")
    args = parser.parse_args()
    root = DATA / "davis"
    if not root.is_dir():
        print(f"skipped: needs {root} (set SEMVIS_DATA)")
        return
    if not args.weights.is_file():
        raise SystemExit(f"{args.weights}: no trained N; run `semvis train video --data {root}` first")
    torch.set_num_threads(args.threads)
    model, _ = load_dff(args.weights)
    _, test = davis_split(root, args.test, args.tail)
    sequences = []
    for clip in test:
        data = DavisFrames([clip], args.scale)
        items = [data[i] for i in range(len(data))]
        sequences.append(([f for f, _ in items], [m for _, m in items]))
    h, w = sequences[0][0][0].shape[-2:]
    flows: dict[str, FlowFunction] = {"dis": DISFlow(args.preset), "zero": zero_flow}
    names = {"dis": "SFF (DIS flow)", "zero": "zero flow"}
    variants: list[tuple[str, DeepFeatureFlow, FlowFunction | None]] = [(names[f], model, flows[f]) for f in args.flows]
    for path in args.flownet:
        variants.append((f"DFF separate ({path.parent.name})", model, FlowNetFlow(load_flownet(path))))
    for item in args.dff:
        label, _, path = item.partition("=")
        variants.append((label, load_dff(path)[0], None))
    frame = evaluate(model, sequences, lambda: FixedInterval(1), zero_flow)
    base = frame.timing.mean_seconds
    lines = [
        f"Device: {platform.machine()}, {args.threads} threads; torch {torch.__version__}. DAVIS test clips "
        f"{', '.join(c.name for c in test)} ({frame.timing.frames} frames at {w}×{h}); N = `{args.weights}`; "
        f"DIS preset {args.preset}.",
        "",
        "| variant | l | key frames | J mean (fg IoU) | mIoU fg/bg | s/frame | fps | speedup | eq. 7 "
        "| measured / eq. 7 |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| Frame | 1 | {frame.timing.frames} | {frame.j_mean:.1f} | {frame.miou:.1f} | {base:.3f} | {1 / base:.2f} "
        "| 1.00 | 1.00 | – |",
    ]
    print("\n".join(lines), flush=True)

    def row(name: str, label: str, score: Score) -> tuple[float, float]:
        t = score.timing
        measured = base / t.mean_seconds
        lines.append(
            f"| {name} | {label} | {len(t.key_frames)} | {score.j_mean:.1f} | {score.miou:.1f} | {t.mean_seconds:.3f} "
            f"| {1 / t.mean_seconds:.2f} | {measured:.2f} | {t.predicted_speedup:.2f} "
            f"| {measured / t.predicted_speedup:.2f} |"
        )
        print(lines[-1], flush=True)
        return measured, score.j_mean

    curves: dict[str, list[tuple[float, float]]] = {}
    for name, variant_model, flow in variants:
        curves[name] = [(1.0, frame.j_mean)] if variant_model is model else []  # l = 1 is Frame's own N
        for interval in args.intervals:
            score = evaluate(variant_model, sequences, lambda i=interval: FixedInterval(i), flow)
            curves[name].append(row(name, str(interval), score))
    if args.adaptive:
        curves["adaptive (residual, DIS)"] = []
        for threshold in args.adaptive:
            score = evaluate(model, sequences, lambda t=threshold: AdaptiveSchedule(t, "residual"), flows["dis"])
            label = f"{score.timing.interval:.1f} (residual > {threshold:g})"
            curves["adaptive (residual, DIS)"].append(row("adaptive", label, score))
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    chart = line_chart(
        curves,
        "measured speedup over Frame (N on every frame)",
        "J mean: foreground IoU (%)",
        "DAVIS test sequences: accuracy vs speed over the key-frame interval (Fig. 3 analogue)",
        size=(760, 440),
    )
    chart.save(args.output.with_name(f"{args.output.stem}_curve.png"))


if __name__ == "__main__":
    main()
