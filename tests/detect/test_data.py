"""The detection sets: annotation parsing, DAVIS mask boxes, the split and the real counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.detect.data import (
    CLASSES,
    TEST_SEQUENCES,
    davis_sequence,
    load_frame,
    load_sequences,
    mask_box,
    split,
    video_boxes_sequence,
)
from semvis.errors import DataError


def write_clip(folder: Path, classes: list[str], frames: list[dict]) -> None:
    (folder / "frames").mkdir(parents=True)
    for f in frames:
        Image.fromarray(np.zeros((40, 80, 3), np.uint8)).save(folder / "frames" / f["file"])
    (folder / "annotations.json").write_text(json.dumps({"classes": classes, "frames": frames}))


def test_video_boxes_maps_class_names_and_keeps_boxes(tmp_path: Path) -> None:
    frames = [{"file": "00000.jpg", "boxes": [[1, 2, 30, 20], [5, 5, 9, 9]], "labels": [1, 0]}]
    write_clip(tmp_path / "clip", ["motorcycle", "car"], frames)
    seq = video_boxes_sequence(tmp_path / "clip")
    assert seq.name == "clip" and seq.frames[0].labels.tolist() == [CLASSES.index("car"), CLASSES.index("motorcycle")]
    image, boxes = load_frame(seq.frames[0], 20)
    assert image.shape == (3, 20, 40)
    torch.testing.assert_close(boxes, torch.tensor([[0.5, 1, 15, 10], [2.5, 2.5, 4.5, 4.5]]))


def test_a_broken_annotation_file_is_named(tmp_path: Path) -> None:
    write_clip(tmp_path / "clip", ["dragon"], [{"file": "00000.jpg", "boxes": [[0, 0, 1, 1]], "labels": [0]}])
    with pytest.raises(DataError, match=r"clip/annotations.json: not a video_boxes annotation file"):
        video_boxes_sequence(tmp_path / "clip")


def test_mask_box_is_the_tight_box_and_davis_frames_get_the_sequence_class(tmp_path: Path) -> None:
    (tmp_path / "seq" / "frames").mkdir(parents=True)
    (tmp_path / "seq" / "masks").mkdir()
    mask = np.zeros((30, 50), np.uint8)
    mask[5:12, 20:31] = 255
    Image.fromarray(mask).save(tmp_path / "seq" / "masks" / "00000.png")
    Image.fromarray(np.zeros((30, 50), np.uint8)).save(tmp_path / "seq" / "masks" / "00001.png")
    for i in range(2):
        Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(tmp_path / "seq" / "frames" / f"0000{i}.jpg")
    assert mask_box(tmp_path / "seq" / "masks" / "00000.png").tolist() == [[20.0, 5.0, 31.0, 12.0]]
    seq = davis_sequence(tmp_path / "seq", "car")
    assert seq.name == "davis/seq" and [len(f.boxes) for f in seq.frames] == [1, 0]
    assert seq.frames[0].labels.tolist() == [CLASSES.index("car")]


def test_an_empty_data_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither video_boxes"):
        load_sequences(tmp_path)


@pytest.mark.data
def test_the_real_split_by_sequence(real_data: Path) -> None:
    train, test = split(load_sequences(real_data))
    assert sorted(s.name for s in test) == sorted(TEST_SEQUENCES)
    assert not {s.name for s in train} & {s.name for s in test}
    assert sum(len(s.frames) for s in train) == 782 and sum(len(s.frames) for s in test) == 279
    test_classes = {CLASSES[int(c)] for s in test for f in s.frames for c in f.labels}
    assert test_classes == {"person", "car"}
