"""R-FCN detection on the small video sets: train on cached features, then mAP@0.5 per frame and with DFF.

Stages (``--stage``):

- ``train``: cache the frozen MobileNetV2's maps of every frame once, train N_feat's 3×3 conv and
  R-FCN on the training sequences (resumable; checkpoints in ``--out``).
- ``evaluate``: VOC mAP@0.5 on the held-out sequences, per frame (Frame, l = 1) and with Deep
  Feature Flow (key frame every l frames, its 1024-channel features warped by DIS flow from the
  current frame to the key frame) for l = 1…10, with measured seconds per frame and the eq. 7
  estimate. Writes ``benchmarks/results/detection.md`` and ``detection.json``.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/detection.py --stage train|evaluate [--epochs 5] [--lr 0.004]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from semvis.detect.data import load_sequences, split
from semvis.detect.evaluate import evaluate_dff, load_trained
from semvis.detect.train import train_detector
from semvis.paths import data_root

RESULTS = Path(__file__).parent / "results"
RUNS = Path("/work/runs/detect")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("train", "evaluate"), required=True)
    parser.add_argument("--out", type=Path, default=RUNS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.004)
    parser.add_argument("--intervals", type=int, nargs="+", default=list(range(1, 11)))
    args = parser.parse_args()
    train, test = split(load_sequences(data_root()))
    cache = args.out / "cache"
    if args.stage == "train":
        train_detector(train, cache, args.out / "checkpoints", args.epochs, args.lr)
        return
    detector = load_trained(args.out / "checkpoints")
    report = evaluate_dff(detector, test, args.intervals)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "detection.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
