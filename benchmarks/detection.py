"""R-FCN detection on the small video sets: train on cached features, then mAP@0.5 per frame and with DFF.

Stages (``--stage``):

- ``train``: cache the frozen MobileNetV2's maps of every frame once, train N_feat's 3×3 conv and
  R-FCN on the training sequences (resumable; checkpoints in ``--out``). ``--camvid`` adds CamVid
  train + val (boxes from its label maps, exhaustively labelled; never CamVid test) to the training set;
  ``--no-video`` then trains on CamVid alone (an ablation).
- ``fit``: mAP on every 5th training frame (does the pipeline fit what it saw?) and the seconds of
  each part of a frame (backbone, 3×3 conv, DIS, W, R-FCN); writes ``detection_fit.json``.
- ``ship``: write the trained detector as an fp16 model file (without the backbone) to ``--model``
  (default: the bundled models folder), with the evaluation's numbers in its provenance; then
  ``semvis video clip.mp4 -o boxes.mp4 --task detect --weights FILE`` draws its boxes.
- ``evaluate``: VOC mAP@0.5 on the held-out sequences, per frame (Frame, l = 1) and with Deep
  Feature Flow (key frame every l frames, its 1024-channel features warped by DIS flow from the
  current frame to the key frame) for l = 1…10, with measured seconds per frame and the eq. 7
  estimate. Writes ``benchmarks/results/detection.md`` and ``detection.json`` (``--results`` names another stem).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/detection.py --stage train|evaluate|fit|ship [--camvid [--no-video]]
[--out DIR] [--cache DIR] [--epochs 3] [--lr 2e-4] [--optimizer adam] [--model FILE] [--intervals 1 2 …]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import torch

from semvis.detect.data import CAMVID_SPLITS, Sequence, camvid_sequence, load_frame, load_sequences, split
from semvis.detect.evaluate import evaluate_dff, load_trained
from semvis.detect.rfcn import SHORT_SIDE, Detector
from semvis.detect.train import train_detector
from semvis.detect.video import DETECTOR, save_detector
from semvis.paths import data_root
from semvis.video.dff import DeepFeatureFlow
from semvis.video.inference import DISFlow

RESULTS = Path(__file__).parent / "results"
RUNS = Path("/work/runs/detect")
SHIPPED = Path(__file__).parents[1] / "src" / "semvis" / "assets" / "models" / DETECTOR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("train", "evaluate", "fit", "ship"), required=True)
    parser.add_argument("--out", type=Path, default=RUNS)
    parser.add_argument("--cache", type=Path, help="folder of the cached backbone maps (default: OUT/cache)")
    parser.add_argument("--camvid", action="store_true", help="train on CamVid train + val boxes too")
    parser.add_argument("--no-video", action="store_true", help="with --camvid: leave the video clips out (ablation)")
    parser.add_argument("--results", default="detection", help="stem of the files written in benchmarks/results")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--model", type=Path, default=SHIPPED, help="--stage ship: where to write the model file")
    parser.add_argument("--intervals", type=int, nargs="+", default=list(range(1, 11)))
    args = parser.parse_args()
    train, test = split(load_sequences(data_root()))
    if args.camvid:
        train = [] if args.no_video else train
        train += [camvid_sequence(data_root() / "camvid", s) for s in CAMVID_SPLITS]
    if args.stage == "train":
        cache = args.cache or args.out / "cache"
        train_detector(train, cache, args.out / "checkpoints", args.epochs, args.lr, args.optimizer)
        return
    detector = load_trained(args.out / "checkpoints")
    if args.stage == "fit":
        report = {"train_fit_every_5th": evaluate_dff(detector, [Sequence(s.name, s.frames[::5]) for s in train], [1])}
        report["seconds_per_part"] = part_seconds(detector, test[1])
        (RESULTS / f"{args.results}_fit.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
        return
    if args.stage == "ship":
        facts = json.loads((RESULTS / f"{args.results}.json").read_text())
        data = "video_boxes + DAVIS boxes" + (" + CamVid train/val boxes" if args.camvid else "")
        path = save_detector(detector, args.model, {"data": f"{data} (docs/detection.md)", **facts})
        print(path, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
        return
    report = evaluate_dff(detector, test, args.intervals)
    load, threads = os.getloadavg()[0], torch.get_num_threads()
    report["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"torch threads {threads}, load average {load:.1f} at the end"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.results}.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (RESULTS / f"{args.results}.md").write_text(table)
    print(table)


@torch.inference_mode()
def part_seconds(detector: Detector, sequence: Sequence, frames: int = 12) -> dict[str, float]:
    """Mean seconds of each part of a frame (after one warm-up pair): backbone, 3×3 conv, DIS, W, R-FCN."""
    images = [load_frame(f, SHORT_SIDE)[0][None] for f in sequence.frames[:frames]]
    flow, times = DISFlow(), {k: [] for k in ("backbone", "reduce", "dis", "warp", "task")}
    for key, current in zip(images, images[1:]):
        clock = time.perf_counter()
        embedded = detector.features.embed(key)
        times["backbone"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        features = detector.features.head(embedded)
        times["reduce"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        estimate = flow(current, key)
        times["dis"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        warped = DeepFeatureFlow.propagate(features, estimate)
        times["warp"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        detector.task(warped, current.shape[-2:])
        times["task"].append(time.perf_counter() - clock)
    return {k: round(sum(v[1:]) / len(v[1:]), 4) for k, v in times.items()}


def markdown(report: dict) -> str:
    """The mAP / time table over key intervals."""
    names = report["sequences"]
    lines = [
        f"# R-FCN detection on {report['frames']} held-out frames ({', '.join(names)})",
        "",
        "VOC mAP@0.5 (all-point), all held-out frames pooled; l = 1 is Frame (N on every frame), l > 1 is DFF with",
        "DIS flow (no trained flow network). Seconds per frame are wall-clock, end to end after decoding, on "
        + report["machine"]
        + ".",
        "",
        "| l | mAP | mAP@0.3 | AP person | AP car | "
        + " | ".join(f"mAP {n}" for n in names)
        + " | s/frame | speedup measured | eq. 7 (clock r) |",
        "|---|---|---|---|---|" + "---|" * len(names) + "---|---|---|",
    ]
    for row in sorted(report["rows"], key=lambda r: r["l"]):
        per_seq = " | ".join(f"{row['mAP_per_sequence'][n]:.4f}" for n in names)
        person, car = (row["AP"].get(c, float("nan")) for c in ("person", "car"))
        speed = f"{row['seconds_per_frame']:.3f} | {row['speedup_measured']:.2f}× | {row['speedup_eq7_estimate']:.2f}×"
        lines.append(
            f"| {row['l']} | {row['mAP']:.4f} | {row['mAP@0.3']:.4f} | {person:.4f} | {car:.4f} | {per_seq} | {speed} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
