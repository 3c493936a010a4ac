"""Detect objects in a whole video with Deep Feature Flow: frames in, a video with labelled boxes out.

:func:`detect_video` is what ``semvis video --task detect`` runs: each frame is resized to the
detector's short side, :func:`~semvis.detect.evaluate.run_sequence`'s Algorithm 1 runs N_feat on
key frames and R-FCN on every frame (DIS flow between), and the boxes, scaled back to the input,
are drawn with their class and score.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, tee
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from semvis.data.images import image_to_tensor
from semvis.data.transforms import short_side_size
from semvis.data.video import DEFAULT_FPS, VideoWriter, check_video_output, open_frames
from semvis.detect.data import CLASSES, scale_boxes
from semvis.detect.evaluate import detect_frames
from semvis.detect.rfcn import SHORT_SIDE, Detections, Detector
from semvis.device import DeviceSpec, place
from semvis.errors import DataError
from semvis.progress import ProgressCallback, report
from semvis.video.timing import RunTiming
from semvis.viz import font
from semvis.weights import SharedWeights, load_model, save_model

#: One colour per class of :data:`~semvis.detect.data.CLASSES`.
COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200))
#: The bundled detector (src/semvis/assets/models/, with its card).
DETECTOR = "detector-rfcn-videoboxes.safetensors"
#: The frozen backbone's registry entry a shipped detector names instead of holding its tensors.
BACKBONE_WEIGHTS = "mobilenet_v2.deepsort"
#: Detections drawn: score at least this.
DRAW_THRESHOLD = 0.5


@dataclass(frozen=True)
class DetectedVideo:
    """What :func:`detect_video` wrote: the video, the detections per frame (input pixels) and the timing."""

    output: Path
    detections: list[Detections]
    timing: RunTiming


def save_detector(
    detector: Detector, path: str | os.PathLike[str], provenance: dict[str, object] | None = None
) -> Path:
    """Write ``detector`` as an fp16 ``rfcn`` model file without its frozen backbone, which the header
    names (``mobilenet_v2.deepsort``, from the weights registry) instead."""
    shared = SharedWeights("features.backbone.", BACKBONE_WEIGHTS)
    labels = {"names": list(CLASSES)}
    config = {"num_classes": len(CLASSES), "pretrained": BACKBONE_WEIGHTS}
    return save_model(detector, path, "rfcn", config, labels=labels, provenance=provenance, shared=shared)


def load_detector(path: str | os.PathLike[str]) -> Detector:
    """A detector file written by :func:`semvis.weights.save_model` (kind ``rfcn``), in eval mode."""
    return load_model(path, ("rfcn",), what="detector").model


def draw_detections(frame: np.ndarray, found: Detections, threshold: float = DRAW_THRESHOLD) -> np.ndarray:
    """``frame`` (RGB uint8) with each detection scoring ≥ ``threshold`` boxed and labelled "class 0.87"."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    text_font = font(12)
    for box, label, score in zip(found.boxes.tolist(), found.labels.tolist(), found.scores.tolist()):
        if score < threshold:
            continue
        colour = COLOURS[label % len(COLOURS)]
        draw.rectangle(box, outline=colour, width=2)
        caption = f"{CLASSES[label]} {score:.2f}"
        left, top, right, bottom = draw.textbbox((box[0], box[1]), caption, font=text_font)
        lift = bottom - top + 2
        draw.rectangle((left, top - lift, right + 2, bottom - lift), fill=colour)
        draw.text((box[0] + 1, box[1] - lift), caption, fill=(255, 255, 255), font=text_font)
    return np.asarray(image)


def _resized(frames: Iterator[np.ndarray], short_side: int) -> Iterator[torch.Tensor]:
    for frame in frames:
        image = image_to_tensor(frame)
        size = short_side_size(*image.shape[-2:], short_side)
        yield F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]


def detect_video(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    weights: str | os.PathLike[str] | None = None,
    *,
    key_interval: int = 10,
    flow_preset: str = "medium",
    max_frames: int | None = None,
    fps: float | None = None,
    device: DeviceSpec | None = None,
    progress: ProgressCallback | None = None,
) -> DetectedVideo:
    """Detect objects on every frame of ``source`` with DFF (key frame every ``key_interval``) into a boxed video."""
    source, output = Path(source), Path(output)
    check_video_output(output)
    if key_interval < 1:
        raise DataError(f"key interval must be at least 1, got {key_interval}")
    frames = open_frames(source)
    if weights is None:
        from semvis.bundled import bundled_model

        weights = bundled_model(DETECTOR)
    detector = load_detector(weights)
    place(detector, device)
    width, height = frames.size
    size = short_side_size(height, width, SHORT_SIDE)
    total = min((n for n in (frames.frame_count, max_frames) if n is not None), default=None)
    shown, fed = tee(islice(frames, max_frames))
    found, keys, seconds = [], [], []
    with VideoWriter(output, fps or frames.fps or DEFAULT_FPS, frames.size, crop=True) as writer:
        for frame, (detections, is_key, spent) in zip(
            shown, detect_frames(detector, _resized(fed, SHORT_SIDE), key_interval, flow_preset)
        ):
            boxes = scale_boxes(detections.boxes, size, (height, width))
            detections = Detections(boxes, detections.labels, detections.scores)
            writer.write(draw_detections(frame, detections))
            found.append(detections)
            keys.append(is_key)
            seconds.append(spent)
            report(progress, "detecting", len(found), total)
    if not found:
        raise DataError(f"{source}: no frames")
    return DetectedVideo(output, found, RunTiming.of(seconds, keys))
