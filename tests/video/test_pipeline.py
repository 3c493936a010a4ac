"""``segment_video``: a whole clip through Algorithm 1 as a library call, outputs and progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SIDE, clip_frame, save_tiny_segmenter
from PIL import Image

from semvis.data.images import image_to_tensor
from semvis.data.video import open_frames
from semvis.errors import DataError, SemvisError
from semvis.progress import ProgressUpdate
from semvis.segment import load_segmenter, segment
from semvis.video import SegmentedVideo, segment_video


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_segmenter(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def odd_clip(folder: Path, count: int = 5) -> Path:
    """``count`` frames of 33×31 px: the video drops a column and a row."""
    folder.mkdir()
    for i in range(count):
        Image.fromarray(clip_frame(i)).resize((SIDE + 1, SIDE - 1)).save(folder / f"{i:05d}.png")
    return folder


def test_a_clip_becomes_a_video_labels_a_report_and_progress(tmp_path: Path, weights: Path) -> None:
    clip, out, labels = odd_clip(tmp_path / "clip"), tmp_path / "out.mp4", tmp_path / "labels"
    updates: list[ProgressUpdate] = []
    result = segment_video(
        clip,
        out,
        weights,
        flow="zero",
        key_interval=2,
        labels_dir=labels,
        report_path=tmp_path / "report.json",
        device="cpu",
        progress=updates.append,
    )
    assert isinstance(result, SegmentedVideo) and result.output == out and result.flow == "zero"
    assert result.size == (SIDE, SIDE - 2) and open_frames(out).size == result.size
    assert result.timing.frames == 5 and result.timing.key_frames == [0, 2, 4] and result.fps == 24
    assert [(u.task, u.done, u.total) for u in updates] == [("segmenting", i, 5) for i in range(1, 6)]
    assert all(u.status.endswith(" fps") for u in updates)
    assert sorted(p.name for p in labels.iterdir()) == [f"{i:05d}.png" for i in range(5)]
    assert result.report is not None and result.report["key_frames"] == [0, 2, 4]
    assert result.report["schedule"] == {"policy": "fixed", "interval": 2} and (tmp_path / "report.json").is_file()
    # a key frame's labels are the segmenter's own on that frame
    model, _ = load_segmenter(weights)
    first = np.array(Image.open(labels / "00000.png"))
    expected = segment(model, image_to_tensor(Image.open(clip / "00000.png").convert("RGB")))
    assert torch.equal(torch.from_numpy(first).long(), expected)


def test_without_extras_only_the_video_is_written(tmp_path: Path, weights: Path) -> None:
    clip = odd_clip(tmp_path / "clip", 3)
    result = segment_video(clip, tmp_path / "out.mkv", weights, flow="zero", max_frames=2, fps=10)
    assert result.report is None and result.labels_dir is None and result.timing.frames == 2 and result.fps == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "out.mkv"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key_interval": 0}, "key-interval must be at least 1"),
        ({"adaptive": "residual"}, "--adaptive and --threshold go together"),
        ({"flow": "net"}, "has no flow network F"),
        ({"flow": "sideways"}, "unknown flow 'sideways'"),
    ],
)
def test_settings_that_cannot_run_are_refused_before_writing(
    tmp_path: Path, weights: Path, options: dict[str, object], message: str
) -> None:
    clip = odd_clip(tmp_path / "clip", 2)
    with pytest.raises(SemvisError, match=message):
        segment_video(clip, tmp_path / "out.mp4", weights, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


def test_the_output_needs_a_video_suffix(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(DataError, match=r"out\.png: a video's output must end in one of \.mp4"):
        segment_video(odd_clip(tmp_path / "clip", 1), tmp_path / "out.png", weights)


class FakeClock:
    """A clock that only N's parts advance: ``features`` costs 4 s (100 s the first time: a warm-up), ``task`` 1 s."""

    def __init__(self) -> None:
        self.now, self.feature_calls = 0.0, 0

    def perf_counter(self) -> float:
        return self.now

    def on_features(self, *_: object) -> None:
        self.feature_calls += 1
        self.now += 100.0 if self.feature_calls == 1 else 4.0

    def on_task(self, *_: object) -> None:
        self.now += 1.0


def test_the_measured_speedup_comes_from_a_separate_per_frame_run(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import semvis.video.inference as inference
    import semvis.video.pipeline as pipeline

    clock, load = FakeClock(), pipeline.load_video_model

    def timed_model(path: Path) -> tuple[object, object]:
        model, classes = load(path)
        model.features.register_forward_pre_hook(clock.on_features)
        model.task.register_forward_pre_hook(clock.on_task)
        return model, classes

    monkeypatch.setattr(pipeline, "load_video_model", timed_model)
    monkeypatch.setattr(inference, "time", clock)
    clip, out = odd_clip(tmp_path / "clip"), tmp_path / "out.mp4"
    result = segment_video(
        clip, out, weights, flow="zero", key_interval=2, report_path=tmp_path / "r.json", measure_baseline=True
    )
    # the warm-up frame (100 s) is outside both runs: N on every frame costs 5 × 5 s, DFF 3 key + 2 other frames
    assert clock.feature_calls == 1 + 5 + 3
    assert result.baseline is not None and result.baseline.seconds == (5.0,) * 5
    assert result.timing.seconds == (5.0, 1.0, 5.0, 1.0, 5.0) and result.measured_speedup == 25 / 17
    report = result.report
    assert report is not None and report["speedup_measured"] == 25 / 17
    assert report["baseline"]["frames"] == 5 and report["baseline"]["total_seconds"] == 25
    assert "estimate" in report["speedup_note"]


def test_without_a_baseline_the_report_measures_no_speedup(tmp_path: Path, weights: Path) -> None:
    clip = odd_clip(tmp_path / "clip", 3)
    result = segment_video(clip, tmp_path / "out.mp4", weights, flow="zero", key_interval=2, report_path=tmp_path / "r")
    assert result.baseline is None and result.measured_speedup is None
    report, timing = result.report, result.timing
    assert report is not None and report["speedup_measured"] is None and report["baseline"] is None
    assert report["speedup_eq7_measured_r"] == pytest.approx(timing.key_seconds / timing.mean_seconds)


def test_the_default_n_is_the_bundled_photo_segmenter_for_the_clips_colour(tmp_path: Path) -> None:
    from semvis.bundled import PHOTO_SEGMENTERS
    from semvis.video.pipeline import default_segmenter

    colour, gray = tmp_path / "colour", tmp_path / "gray"
    for folder, mode in ((colour, "RGB"), (gray, "L")):
        folder.mkdir()
        for i in range(2):
            Image.fromarray(clip_frame(i)).convert(mode).convert("RGB").save(folder / f"{i:05d}.png")
    assert default_segmenter(open_frames(colour)).name == PHOTO_SEGMENTERS["rgb"]
    assert default_segmenter(open_frames(gray)).name == PHOTO_SEGMENTERS["gray"]
