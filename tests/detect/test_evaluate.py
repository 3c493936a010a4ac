"""Deep Feature Flow for detection: key frames, warping and the per-frame baseline."""

from __future__ import annotations

import torch

from semvis.detect.evaluate import run_sequence
from semvis.detect.rfcn import Detector


def test_on_a_still_clip_dff_gives_the_per_frame_detections() -> None:
    torch.manual_seed(0)
    detector = Detector(3).eval()
    frame = torch.rand(3, 64, 96)
    per_frame, timing = run_sequence(detector, [frame] * 4, 1)
    propagated, dff_timing = run_sequence(detector, [frame] * 4, 3)
    assert timing.key_frames == [0, 1, 2, 3] and dff_timing.key_frames == [0, 3]
    assert all(len(found.boxes) > 0 for found in per_frame)
    for a, b in zip(per_frame, propagated):
        torch.testing.assert_close(a.boxes, b.boxes, atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(a.scores, b.scores, atol=1e-4, rtol=1e-4)
