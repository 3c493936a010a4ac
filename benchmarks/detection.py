"""R-FCN detection on the small video sets: train on cached features, then mAP@0.5 per frame and with DFF.

Stages (``--stage``):

- ``train``: cache the frozen MobileNetV2's maps of every frame once, train N_feat's 3×3 conv and
  R-FCN on the training sequences (resumable; checkpoints in ``--out``).
- ``ship``: write the trained detector as an fp16 model file (without the backbone) to ``--model``
  (default: the bundled models folder), with the evaluation's numbers in its provenance; then
  ``semvis video clip.mp4 -o boxes.mp4 --task detect --weights FILE`` draws its boxes.
- ``evaluate``: VOC mAP@0.5 on the held-out sequences, per frame (Frame, l = 1) and with Deep
  Feature Flow (key frame every l frames, its 1024-channel features warped by DIS flow from the
  current frame to the key frame) for l = 1…10, with measured seconds per frame and the eq. 7
  estimate. Writes ``benchmarks/results/detection.md`` and ``detection.json``.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/detection.py --stage train|evaluate|ship [--epochs 3] [--lr 2e-4]
[--optimizer adam] [--model FILE]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
from pathlib import Path

import torch

from semvis.detect.data import load_sequences, split
from semvis.detect.evaluate import evaluate_dff, load_trained
from semvis.detect.train import train_detector
from semvis.detect.video import DETECTOR, save_detector
from semvis.paths import data_root

RESULTS = Path(__file__).parent / "results"
RUNS = Path("/work/runs/detect")
SHIPPED = Path(__file__).parents[1] / "src" / "semvis" / "assets" / "models" / DETECTOR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("train", "evaluate", "ship"), required=True)
    parser.add_argument("--out", type=Path, default=RUNS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--model", type=Path, default=SHIPPED, help="--stage ship: where to write the model file")
    parser.add_argument("--intervals", type=int, nargs="+", default=list(range(1, 11)))
    args = parser.parse_args()
    train, test = split(load_sequences(data_root()))
    if args.stage == "train":
        train_detector(train, args.out / "cache", args.out / "checkpoints", args.epochs, args.lr, args.optimizer)
        return
    detector = load_trained(args.out / "checkpoints")
    if args.stage == "ship":
        facts = json.loads((RESULTS / "detection.json").read_text())
        path = save_detector(detector, args.model, {"data": "video_boxes + DAVIS boxes (docs/detection.md)", **facts})
        print(path, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
        return
    report = evaluate_dff(detector, test, args.intervals)
    load, threads = os.getloadavg()[0], torch.get_num_threads()
    report["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores shared with 3 other sessions, "
        f"torch threads {threads}, load average {load:.1f} at the end"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "detection.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (RESULTS / "detection.md").write_text(table)
    print(table)


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
    for row in report["rows"]:
        per_seq = " | ".join(f"{row['mAP_per_sequence'][n]:.3f}" for n in names)
        person, car = (row["AP"].get(c, float("nan")) for c in ("person", "car"))
        speed = f"{row['seconds_per_frame']:.3f} | {row['speedup_measured']:.2f}× | {row['speedup_eq7_estimate']:.2f}×"
        lines.append(
            f"| {row['l']} | {row['mAP']:.3f} | {row['mAP@0.3']:.3f} | {person:.3f} | {car:.3f} | {per_seq} | {speed} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
