"""Per-frame and Deep Feature Flow detection on held-out clips: VOC mAP@0.5 and measured time.

Algorithm 1 of Zhu et al. 2017 with a fixed key interval ``l``: on a key frame N_feat runs
(backbone + the 1024-channel 3×3 conv); on the others the key frame's features are warped by
the DIS flow from the current frame to the key frame (:class:`semvis.video.inference.DISFlow` at
frame resolution, resized to the feature grid and warped by :meth:`DeepFeatureFlow.propagate`, no
scale field: the paper's SFF, without a trained flow network) and N_task
(R-FCN) runs on the warped features. ``l = 1`` is the per-frame baseline (*Frame*). Every frame is
timed end to end (decoding excluded), so the speedup over the ``l = 1`` run is measured, and eq. 7
with the clock's r is reported beside it as the estimate it is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from semvis.detect.data import CLASSES, Sequence, load_frame
from semvis.detect.metrics import FrameBoxes, mean_ap
from semvis.detect.rfcn import SHORT_SIDE, Detections, Detector
from semvis.train.checkpoint import latest_checkpoint, load_checkpoint
from semvis.video.dff import DeepFeatureFlow
from semvis.video.inference import DISFlow
from semvis.video.schedule import FixedInterval, KeyFrameTracker
from semvis.video.timing import RunTiming

#: A looser overlap reported beside VOC's 0.5: it shows detections of a part of an object (a person
#: without the kite a DAVIS kite-surf box includes), which 0.5 counts as misses.
LOOSE_IOU = 0.3
#: OpenCV DIS preset for the propagation flow.
DIS_PRESET = "medium"


def load_trained(folder: Path) -> Detector:
    """The detector of the latest Trainer checkpoint in ``folder`` (eval mode)."""
    path = latest_checkpoint(folder)
    if path is None:
        raise FileNotFoundError(f"{folder}: no checkpoint")
    detector = Detector(len(CLASSES))
    detector.load_state_dict(load_checkpoint(path)["model"])
    return detector.eval()


def detect_frames(
    detector: Detector, frames: Iterable[torch.Tensor], interval: int, preset: str = DIS_PRESET
) -> Iterator[tuple[Detections, bool, float]]:
    """Algorithm 1 with a key frame every ``interval`` frames over ``3 × H × W`` frames: per frame its
    detections (on the CPU), whether it was a key frame and its seconds (N_feat or flow + W, then N_task)."""
    tracker = KeyFrameTracker(FixedInterval(interval), DISFlow(preset))
    device = next(detector.parameters()).device
    key_features = None
    for frame in frames:
        start = time.perf_counter()
        with torch.inference_mode():
            batch = frame[None].to(device)
            estimate = tracker.step(batch)
            if estimate is None:
                features = key_features = detector.features(batch)
            else:
                features = DeepFeatureFlow.propagate(key_features, estimate)
            found = detector.task(features, frame.shape[-2:])[0]
            found = Detections(found.boxes.cpu(), found.labels.cpu(), found.scores.cpu())
        yield found, estimate is None, time.perf_counter() - start


def run_sequence(
    detector: Detector, frames: Iterable[torch.Tensor], interval: int, preset: str = DIS_PRESET
) -> tuple[list[Detections], RunTiming]:
    """:func:`detect_frames` collected: every frame's detections and the run's timing."""
    found, keys, seconds = zip(*detect_frames(detector, frames, interval, preset))
    return list(found), RunTiming.of(seconds, keys)


def as_frame_boxes(found: Detections) -> FrameBoxes:
    return FrameBoxes(found.boxes, found.labels, found.scores)


def evaluate_dff(
    detector: Detector, sequences: list[Sequence], intervals: list[int], short_side: int = SHORT_SIDE
) -> dict[str, object]:
    """mAP@0.5 (all held-out frames pooled, and per sequence) and timing for each key interval."""
    loaded = {s.name: [load_frame(f, short_side) for f in s.frames] for s in sequences}
    truths = {
        name: [
            FrameBoxes(boxes, s.labels, torch.zeros(len(boxes), dtype=torch.bool))
            for (_, boxes), s in zip(frames, seq.frames)
        ]
        for (name, frames), seq in zip(loaded.items(), sequences)
    }
    rows, baseline = [], {}
    for interval in intervals:
        found, timings = {}, {}
        for name, frames in loaded.items():
            detections, timing = run_sequence(detector, [image for image, _ in frames], interval)
            found[name] = [as_frame_boxes(d) for d in detections]
            timings[name] = timing
        if interval == 1:
            baseline = timings
        pooled_det = [d for name in loaded for d in found[name]]
        pooled_truth = [t for name in loaded for t in truths[name]]
        overall, per_class = mean_ap(pooled_det, pooled_truth, len(CLASSES))
        seconds = sum(t.total_seconds for t in timings.values())
        frames_total = sum(t.frames for t in timings.values())
        rows.append(
            {
                "l": interval,
                "mAP": round(overall, 4),
                "mAP@0.3": round(mean_ap(pooled_det, pooled_truth, len(CLASSES), LOOSE_IOU)[0], 4),
                "AP": {CLASSES[c]: round(ap, 4) for c, ap in per_class.items()},
                "mAP_per_sequence": {n: round(mean_ap(found[n], truths[n], len(CLASSES))[0], 4) for n in loaded},
                "seconds_per_frame": round(seconds / frames_total, 4),
                "speedup_measured": round(sum(b.total_seconds for b in baseline.values()) / seconds, 3)
                if baseline
                else None,
                "speedup_eq7_estimate": round(
                    sum(t.predicted_speedup * t.frames for t in timings.values()) / frames_total, 3
                ),
            }
        )
        print(rows[-1], flush=True)
    return {"sequences": list(loaded), "frames": sum(len(v) for v in loaded.values()), "rows": rows}
