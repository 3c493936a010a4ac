"""Training N on DAVIS-style foreground masks: split, frames, the frozen-backbone recipe, its file."""

from __future__ import annotations

import pytest
import torch
from helpers import davis_like, needs_mobilenet_weights, needs_weights, run_cli
from safetensors import safe_open

from semvis.errors import DataError, WeightsError
from semvis.video.files import load_video_model
from semvis.video.train import Clip, DavisData, DavisFrames, davis_split, train_frame_network


def test_every_third_sequence_is_a_test_sequence_by_default(tmp_path) -> None:
    root = davis_like(tmp_path / "davis", names=("a", "b", "c", "d", "e", "f", "g"), frames=1)
    train, test = davis_split(root)
    assert [c.name for c in test] == ["c", "f"] and [c.name for c in train] == ["a", "b", "d", "e", "g"]
    assert [c.name for c in davis_split(root, ["a"])[1]] == ["a"]
    with pytest.raises(DataError, match="no sequence 'zebra'"):
        davis_split(root, ["zebra"])
    with pytest.raises(DataError, match="no DAVIS sequences"):
        davis_split(tmp_path / "nowhere")


def test_a_tail_split_holds_out_the_last_frames_of_every_sequence(tmp_path) -> None:
    root = davis_like(tmp_path / "davis", names=("a", "b"), frames=10)
    train, test = davis_split(root, tail=0.3)
    assert [(c.sequence.name, c.start, c.stop) for c in train] == [("a", 0, 7), ("b", 0, 7)]
    assert [(c.name, len(c)) for c in test] == [("a@7-10", 3), ("b@7-10", 3)]
    assert [p.name for p in test[0].frames()] == ["00007.jpg", "00008.jpg", "00009.jpg"]
    assert [c.name for c in davis_split(root, tail=0.01)[1]] == ["a@9-10", "b@9-10"]  # at least one test frame
    assert [c.name for c in davis_split(root, tail=0.99)[0]] == ["a@0-1", "b@0-1"]  # and one training frame
    with pytest.raises(ValueError, match="not both"):
        davis_split(root, ["a"], tail=0.3)
    with pytest.raises(ValueError, match=r"tail must be a fraction in \(0, 1\), got 1.5"):
        davis_split(root, tail=1.5)
    single = davis_like(tmp_path / "single", names=("s",), frames=1)
    with pytest.raises(DataError, match="one frame cannot be split"):
        davis_split(single, tail=0.3)


def test_frames_come_with_binary_masks_at_scale(tmp_path) -> None:
    root = davis_like(tmp_path / "davis")
    frames = DavisFrames([Clip.whole(root / "a"), Clip.whole(root / "b")], scale=0.5)
    assert len(frames) == 4
    image, mask = frames[1]
    assert image.shape == (3, 24, 32) and mask.shape == (24, 32)
    assert set(mask.unique().tolist()) == {0, 1} and mask.sum() == 12 * 12
    (root / "a" / "masks" / "00001.png").unlink()
    with pytest.raises(DataError, match=r"00001\.jpg: frame has no mask"):
        DavisFrames([Clip.whole(root / "a")])


@needs_weights
def test_the_frame_network_learns_the_foreground_and_saves_without_its_backbone(tmp_path) -> None:
    root = davis_like(tmp_path / "davis", frames=3)
    model, results = train_frame_network(
        DavisData(root, 1.0, test=["c"]), tmp_path / "run", epochs=30, batch_size=2, lr=0.01, log_every=1000
    )
    assert results["epoch"] == 30 and results["train_loss"] < 0.3
    path = tmp_path / "run" / "model.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        assert not any(k.startswith("features.backbone.") for k in handle.keys())
    assert path.stat().st_size < 10_000_000  # conv (4.7 M weights, fp16) + N_task; no VGG
    loaded, labels = load_video_model(path)
    assert labels.classes == ("background", "foreground") and labels.colors[1] == (255, 80, 40)
    frame, mask = DavisFrames([Clip.whole(root / "c")], scale=1.0)[0]  # a test sequence, never trained on
    with torch.no_grad():
        labels = loaded.classify(loaded.features(frame[None]), frame.shape[-2:]).argmax(1)[0]
        expected = model.eval().classify(model.features(frame[None]), frame.shape[-2:]).argmax(1)[0]
    assert (labels == expected).float().mean() > 0.99  # fp16 file: a few border pixels may flip
    iou = ((labels == 1) & (mask == 1)).sum() / ((labels == 1) | (mask == 1)).sum()
    assert iou > 0.5


def test_the_cli_names_a_folder_without_sequences_and_a_bad_tail(capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "train", "video", "--data", str(tmp_path), "--out", str(tmp_path / "run"))
    assert code == 2 and f"{tmp_path}: no DAVIS sequences" in err
    code, _, err = run_cli(capsys, "train", "video", "--data", str(tmp_path), "--tail", "1")
    assert code == 2 and "--tail: must be between 0 and 1 (exclusive), got 1" in err
    code, _, err = run_cli(capsys, "train", "video", "--data", str(tmp_path), "--tail", "0.3", "--test", "a")
    assert code == 2 and "not allowed with argument" in err


def test_a_file_that_is_neither_dff_nor_segmenter_is_refused(tmp_path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"junk")
    with pytest.raises(WeightsError, match=r"x\.safetensors: not a readable safetensors file"):
        load_video_model(path)


@needs_mobilenet_weights
def test_n_on_another_backbone_names_it_caches_per_clip_and_scores_the_test_clips(tmp_path) -> None:
    root = davis_like(tmp_path / "davis", frames=2)
    _, results = train_frame_network(
        DavisData(root, 1.0, test=["c"]), tmp_path / "run", "mobilenet_v2", epochs=1, batch_size=2, log_every=1000
    )
    assert 0 <= results["val_j"] <= 1 and 0 <= results["val_miou"] <= 1
    caches = sorted(p.name for p in (tmp_path / "run").glob("features-*.safetensors"))
    assert caches == [f"features-mobilenet_v2-os16-x1-{name}.safetensors" for name in ("a", "b", "c")]
    loaded, _ = load_video_model(tmp_path / "run" / "model.safetensors")
    assert loaded.features.arch == "mobilenet_v2" and loaded.features.conv.in_channels == 1280
