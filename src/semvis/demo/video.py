"""Showcase: Deep Feature Flow's Algorithm 1 on a short clip made from a bundled photo.

The clip is a slow camera pan over the gray cameraman photo (12 frames, 4 px right and 1 px down per
frame), so no video file has to ship. N is the bundled gray DeepLabv3+, which `semvis video` picks
for a gray clip; its features are computed on every 4th frame and carried to the others along OpenCV
DIS flow (the paper's SFF setting). Writes the overlay video and a strip of its frames marked key or
propagated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from semvis.assets import sample_path
from semvis.bundled import PHOTO_SEGMENTERS, bundled_model
from semvis.data import load_image, save_image
from semvis.data.video import VideoWriter
from semvis.device import DeviceSpec, place
from semvis.video import DISFlow, FixedInterval, overlay_frame, run_video
from semvis.video.files import load_video_model
from semvis.viz import labelled_grid

TITLE = "Video segmentation with key frames and flow"
FRAMES, INTERVAL, STEP = 12, 4, (4, 1)
WINDOW = (320, 256)  # width, height of the panning crop


def pan_frames() -> list[np.ndarray]:
    """RGB uint8 frames of a window panning across the cameraman photo."""
    photo = np.asarray(load_image(sample_path("cameraman")))
    width, height = WINDOW
    return [photo[i * STEP[1] : i * STEP[1] + height, i * STEP[0] : i * STEP[0] + width] for i in range(FRAMES)]


def run(out_dir: Path, device: DeviceSpec | None = None) -> list[Path]:
    model, classes = load_video_model(bundled_model(PHOTO_SEGMENTERS["gray"]))
    place(model, device)
    frames = pan_frames()
    results = list(run_video(model, frames, FixedInterval(INTERVAL), DISFlow()))
    pictures = [overlay_frame(f, r.labels, classes.palette, classes.classes) for f, r in zip(frames, results)]
    video = out_dir / "video_segmentation.mp4"
    with VideoWriter(video, 6, WINDOW) as writer:
        for picture in pictures:
            writer.write(picture)
    shown = (0, INTERVAL - 1, INTERVAL, 2 * INTERVAL - 1)  # key, propagated, key, propagated
    strip = labelled_grid(
        [[Image.fromarray(pictures[i]) for i in shown]],
        WINDOW,
        col_labels=[
            f"frame {i}: {'key, N_feat' if results[i].key else 'warped along DIS flow'} ({results[i].seconds:.2f} s)"
            for i in shown
        ],
        title=f"Algorithm 1 (Zhu et al. 2017): key frame every {INTERVAL}, features propagated by DIS flow between",
    )
    picture = save_image(strip, out_dir / "video_segmentation.png", {"semvis": "demo video"})
    return [video, picture]
