"""Deep Feature Flow with a trained segmenter: measured speedup against eq. 7, and agreement with per-frame N.

On the first frames of a DAVIS sequence (854×480, downscaled by ``--scale``), the segmenter (the
bundled gray CamVid PSPNet-VGG19 by default) is N of Algorithm 1 (:func:`semvis.video.run_video`
with :func:`semvis.video.segmenter_dff`): ``features`` on key frames, ``classify`` on features
warped along DIS flow (the paper's SFF) or copied unchanged (zero flow) on the others. The
baseline makes every frame a key frame (l = 1: N on every frame). For each l:

- s/frame: mean seconds per frame of the network part (flow, features, warp, task, argmax;
  decoding is not timed), after one untimed warm-up frame;
- measured speedup: baseline s/frame / this run's s/frame;
- r measured: mean non-key over mean key-frame seconds of this run; eq. 7: l / (1 + (l − 1) r) with
  that r and l = frames / key frames; ratio: measured / eq. 7 (≥ 0.9 means eq. 7 predicts the clock);
- agreement with per-frame N over all frames: pixel agreement and mIoU treating the per-frame labels as
  the reference. DAVIS masks are foreground/background, not CamVid classes, so accuracy against ground
  truth cannot be scored; agreement with per-frame N is the proxy: how much propagation changes the output.

Also printed: r from FLOP counts (N_feat, W and N_task; DIS runs in OpenCV and is not counted).
Writes ``benchmarks/results/video.md`` (``--output``).

Usage: ``python benchmarks/video.py [--sequence car-roundabout] [--frames 30] [--scale 0.5]
[--intervals 1 2 … 10] [--flows dis zero] [--preset medium] [--weights FILE] [--threads N] [--output MD]``
"""

from __future__ import annotations

import argparse
import platform
from itertools import islice
from pathlib import Path

import torch
from PIL import Image

from semvis.bundled import SEGMENTER, bundled_model
from semvis.data.images import image_to_tensor
from semvis.data.video import open_frames
from semvis.errors import WeightsError
from semvis.paths import data_root
from semvis.segment import confusion_matrix, load_segmenter, scores
from semvis.video import (
    DeepFeatureFlow,
    DISFlow,
    FixedInterval,
    FlowFunction,
    RunTiming,
    dff_complexity,
    meta_copy,
    run_video,
    segmenter_dff,
    zero_flow,
)
from semvis.viz import line_chart

DATA = data_root()
RESULTS = Path(__file__).parent / "results"


def timed_run(
    model: DeepFeatureFlow, frames: list[torch.Tensor], interval: int, flow: FlowFunction
) -> tuple[RunTiming, list[torch.Tensor]]:
    """Algorithm 1 over ``frames`` after one untimed warm-up frame: timing and labels."""
    list(run_video(model, frames[:1], FixedInterval(interval), flow))
    results = list(run_video(model, frames, FixedInterval(interval), flow))
    return RunTiming.of([r.seconds for r in results], [r.key for r in results]), [r.labels for r in results]


def agreement(labels: list[torch.Tensor], reference: list[torch.Tensor], num_classes: int) -> tuple[float, float]:
    """Pixel agreement and mIoU of ``labels`` against the per-frame ``reference``, over all frames."""
    conf = sum(confusion_matrix(a, b, num_classes, ignore_index=num_classes) for a, b in zip(labels, reference))
    result = scores(conf)
    return result["pixel_acc"], result["miou"]


def load_frames(folder: Path, count: int, scale: float) -> list[torch.Tensor]:
    frames = []
    for frame in islice(open_frames(folder), count):
        image = Image.fromarray(frame)
        size = (round(image.width * scale), round(image.height * scale))
        frames.append(image_to_tensor(image.resize(size, Image.Resampling.BILINEAR)))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", default="car-roundabout")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.5, help="of the 854×480 frames (default 0.5)")
    parser.add_argument("--intervals", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--flows", nargs="+", choices=("dis", "zero"), default=["dis", "zero"])
    parser.add_argument("--preset", default="medium", help="DIS preset (default medium)")
    parser.add_argument("--weights", type=Path, help="segmenter file (default: the bundled one)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--output", type=Path, default=RESULTS / "video.md", help="default results/video.md")
    args = parser.parse_args()
    folder = DATA / "davis" / args.sequence / "frames"
    if not folder.is_dir():
        print(f"skipped: needs {folder} (set SEMVIS_DATA)")
        return
    if args.weights is None:
        try:
            args.weights = bundled_model(SEGMENTER)
        except WeightsError as exc:
            raise SystemExit(f"video benchmark: {exc}") from None
    torch.set_num_threads(args.threads)
    segmenter, classes = load_segmenter(args.weights)
    model = segmenter_dff(segmenter)
    frames = load_frames(folder, args.frames, args.scale)
    h, w = frames[0].shape[-2:]
    cost = dff_complexity(meta_copy(model), (w, h), zero_flow)
    flows: dict[str, FlowFunction] = {"dis": DISFlow(args.preset), "zero": zero_flow}
    num_classes = len(classes.classes)

    baseline, reference = timed_run(model, frames, 1, zero_flow)
    lines = [
        f"Device: {platform.machine()}, {args.threads} threads; torch {torch.__version__}. DAVIS `{args.sequence}`, "
        f"frames 0–{len(frames) - 1} at {w}×{h}; N = `{args.weights.name}` ({num_classes} classes, "
        f"in_channels {segmenter.in_channels}); DIS preset {args.preset}.",
        f"Per-frame N (l = 1): {baseline.mean_seconds:.3f} s/frame. r from FLOP counts "
        f"(N_feat {cost.features / 1e9:.1f}, W {cost.warp / 1e9:.3f}, N_task {cost.task / 1e9:.1f} GFLOPs; "
        f"flow not counted): {cost.ratio:.3f}.",
        "Agreement is with the per-frame labels (DAVIS masks are foreground/background, not CamVid classes).",
        "",
        "| flow | l | key frames | s/frame | measured speedup | r measured | eq. 7 | measured / eq. 7 "
        "| pixel agreement | mIoU vs per-frame |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| – (per-frame N) | 1 | {len(baseline.key_frames)} | {baseline.mean_seconds:.3f} | 1.00 | – | 1.00 | – "
        "| 100.0% | 100.0% |",
    ]
    curves: dict[str, list[tuple[float, float]]] = {}
    for name in args.flows:
        curves[f"{name} flow"] = [(1.0, 100.0)]  # l = 1 is the per-frame network
        for interval in (i for i in args.intervals if i > 1):
            timing, labels = timed_run(model, frames, interval, flows[name])
            measured = baseline.mean_seconds / timing.mean_seconds
            predicted = timing.predicted_speedup
            pixels, miou = agreement(labels, reference, num_classes)
            lines.append(
                f"| {name} | {interval} | {len(timing.key_frames)} | {timing.mean_seconds:.3f} | {measured:.2f} "
                f"| {timing.ratio:.3f} | {predicted:.2f} | {measured / predicted:.2f} | {100 * pixels:.1f}% "
                f"| {100 * miou:.1f}% |"
            )
            print(lines[-1], flush=True)
            curves[f"{name} flow"].append((measured, 100 * pixels))
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)
    chart = line_chart(
        curves,
        "measured speedup over the per-frame network (l = 1 … the largest interval, left to right)",
        "pixel agreement with per-frame labels (%)",
        f"Accuracy vs speed over the key-frame interval l (Fig. 3 analogue), DAVIS {args.sequence}",
        size=(760, 440),
    )
    chart.save(args.output.with_name(f"{args.output.stem}_curve.png"))


if __name__ == "__main__":
    main()
