"""The detection sets: annotation parsing, DAVIS mask boxes, the split and the real counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.detect.data import (
    CAMVID_SPLITS,
    CAR_MAX_ASPECT,
    CLASSES,
    MIN_HEIGHT,
    PERSON_MAX_ASPECT,
    TEST_SEQUENCES,
    camvid_sequence,
    davis_sequence,
    label_map_boxes,
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


def test_label_map_components_become_boxes_or_ignore_regions() -> None:
    labels = np.zeros((120, 200), np.uint8)  # 0 = sky
    labels[10:40, 10:50] = 8  # a car, 40 × 30
    labels[10:40, 60:100] = 8  # a second car, apart from the first
    labels[60:80, 0:70] = 8  # two touching cars: 70 × 20, wider than 3 × its height
    labels[100:110, 150:155] = 8  # a distant car, 10 px tall
    labels[50:90, 120:130] = 9  # a pedestrian ...
    labels[70:100, 125:135] = 10  # ... touching a bicyclist: one person 15 × 50
    labels[50:80, 160:200] = 9  # a group of pedestrians: 40 × 30, wider than 0.8 × its height
    boxes, classes, ignore = label_map_boxes(labels)
    car, person = CLASSES.index("car"), CLASSES.index("person")
    assert sorted(zip(map(tuple, boxes.tolist()), classes.tolist())) == [
        ((10.0, 10.0, 50.0, 40.0), car),
        ((60.0, 10.0, 100.0, 40.0), car),
        ((120.0, 50.0, 135.0, 100.0), person),
    ]
    assert sorted(map(tuple, ignore.tolist())) == [
        (0.0, 60.0, 70.0, 80.0),
        (150.0, 100.0, 155.0, 110.0),
        (160.0, 50.0, 200.0, 80.0),
    ]
    assert MIN_HEIGHT == 16 and CAR_MAX_ASPECT == 3.0 and PERSON_MAX_ASPECT == 0.8


def test_camvid_frames_are_exhaustive_and_its_test_split_is_refused(tmp_path: Path) -> None:
    for folder in ("images", "labels"):
        (tmp_path / "train" / folder).mkdir(parents=True)
    labels = np.zeros((36, 48), np.uint8)
    labels[2:30, 5:20] = 8
    Image.fromarray(labels).save(tmp_path / "train" / "labels" / "a.png")
    Image.fromarray(np.zeros((36, 48, 3), np.uint8)).save(tmp_path / "train" / "images" / "a.jpg")
    seq = camvid_sequence(tmp_path, "train")
    (frame,) = seq.frames
    assert seq.name == "camvid/train" and frame.exhaustive and frame.boxes.tolist() == [[5.0, 2.0, 20.0, 30.0]]
    assert frame.ignore.shape == (0, 4)
    with pytest.raises(DataError, match="test is for segmentation"):
        camvid_sequence(tmp_path, "test")
    with pytest.raises(DataError, match="no images"):
        camvid_sequence(tmp_path, "val")


@pytest.mark.data
def test_the_real_camvid_boxes(camvid: Path) -> None:
    train, val = (camvid_sequence(camvid, s) for s in CAMVID_SPLITS)
    assert (len(train.frames), len(val.frames)) == (367, 101)
    frames = train.frames + val.frames
    labels = torch.cat([f.labels for f in frames])
    assert all(f.exhaustive for f in frames) and set(labels.tolist()) == {CLASSES.index("person"), CLASSES.index("car")}
    assert (labels == CLASSES.index("car")).sum() > 1000 and (labels == CLASSES.index("person")).sum() > 1000
    boxes = torch.cat([f.boxes for f in frames])
    assert (boxes[:, 3] - boxes[:, 1] >= MIN_HEIGHT).all() and (boxes[:, 2] <= 480).all() and (boxes[:, 3] <= 360).all()
