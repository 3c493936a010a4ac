"""Per-frame and Deep Feature Flow detection on held-out clips: VOC mAP@0.5 and measured time.

Algorithm 1 of Zhu et al. 2017 with a fixed key interval ``l``: on a key frame N_feat runs
(backbone + the 1024-channel 3×3 conv); on the others the key frame's features are warped by
the DIS flow from the current frame to the key frame (:func:`semvis.flow.dis_flow` at frame
resolution, resized to the feature grid, :func:`semvis.nn.warp.warp`, no scale field) and N_task
(R-FCN) runs on the warped features. ``l = 1`` is the per-frame baseline (*Frame*). Every frame is
timed end to end (decoding excluded), so the speedup over the ``l = 1`` run is measured, and eq. 7
with the clock's r is reported beside it as the estimate it is.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from semvis.detect.data import CLASSES, Sequence, load_frame
from semvis.detect.metrics import FrameBoxes, mean_ap
from semvis.detect.rfcn import SHORT_SIDE, Detections, Detector
from semvis.flow import dis_flow
from semvis.nn.warp import warp
from semvis.train.checkpoint import latest_checkpoint, load_checkpoint
from semvis.video.flownet import resize_flow
from semvis.video.timing import RunTiming

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


@torch.inference_mode()
def run_sequence(detector: Detector, frames: list[torch.Tensor], interval: int) -> tuple[list[Detections], RunTiming]:
    """Detections of every frame with a key frame every ``interval`` frames, and each frame's seconds."""
    detections, seconds, keys = [], [], []
    key_features = key_frame = None
    for index, frame in enumerate(frames):
        start = time.perf_counter()
        is_key = index % interval == 0
        if is_key:
            key_features, key_frame = detector.features(frame[None]), frame
            features = key_features
        else:
            flow = torch.from_numpy(dis_flow(frame, key_frame, DIS_PRESET)).permute(2, 0, 1)[None]
            features = warp(key_features, resize_flow(flow, key_features.shape[-2:]))
        detections.append(detector.task(features, frame.shape[-2:])[0])
        seconds.append(time.perf_counter() - start)
        keys.append(is_key)
    return detections, RunTiming.of(seconds, keys)


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
