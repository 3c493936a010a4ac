"""VOC all-point AP against a hand-computed example."""

from __future__ import annotations

import math

import pytest
import torch

from semvis.detect.metrics import FrameBoxes, all_point_ap, average_precision, mean_ap


def frame(boxes: list[list[float]], labels: list[int], extra: list[float]) -> FrameBoxes:
    as_boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return FrameBoxes(as_boxes, torch.tensor(labels, dtype=torch.long), torch.tensor(extra))


def test_hand_computed_example() -> None:
    # two images, three truth boxes of class 0; five detections by descending score:
    # 0.9 TP (image 0, box A), 0.8 FP (duplicate of A), 0.7 TP (image 1, box C), 0.6 FP (nothing), 0.5 TP (box B)
    truths = [
        frame([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0], [0, 0]),
        frame([[0, 0, 10, 10]], [0], [0]),
    ]
    detections = [
        frame([[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]], [0, 0, 0, 0], [0.9, 0.8, 0.6, 0.5]),
        frame([[0, 0, 10, 9]], [0], [0.7]),
    ]
    # recall: 1/3 1/3 2/3 2/3 1; precision: 1 1/2 2/3 1/2 3/5; envelope: 1 2/3 2/3 3/5 3/5
    # AP = 1/3·1 + 1/3·2/3 + 1/3·3/5
    expected = (1 + 2 / 3 + 3 / 5) / 3
    assert average_precision(detections, truths, 0) == pytest.approx(expected)
    assert average_precision(detections, truths, 1) is None
    assert mean_ap(detections, truths, 2) == (pytest.approx(expected), {0: pytest.approx(expected)})


def test_ignored_truth_makes_its_detection_neither_true_nor_false() -> None:
    truths = [frame([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0], [0, 1])]
    detections = [frame([[20, 20, 30, 30], [0, 0, 10, 10]], [0, 0], [0.9, 0.8])]
    assert average_precision(detections, truths, 0) == pytest.approx(1.0)


def test_wrong_class_and_low_overlap_are_false_positives() -> None:
    truths = [frame([[0, 0, 10, 10]], [0], [0])]
    detections = [frame([[0, 0, 10, 10], [0, 0, 10, 4]], [1, 0], [0.9, 0.8])]
    assert average_precision(detections, truths, 0) == 0.0
    assert math.isnan(mean_ap([frame([], [], [])], [frame([], [], [])], 2)[0])


def test_all_point_ap_of_a_perfect_and_a_stepped_curve() -> None:
    assert all_point_ap(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 1.0])) == pytest.approx(1.0)
    stepped = all_point_ap(torch.tensor([0.5, 0.5, 1.0]), torch.tensor([1.0, 0.5, 2 / 3]))
    assert stepped == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_detections_in_an_image_without_that_class_are_false_and_no_detections_score_zero() -> None:
    truths = [frame([[0, 0, 10, 10]], [0], [0]), frame([], [], [])]
    found = [frame([[0, 0, 10, 10]], [0], [0.5]), frame([[0, 0, 10, 10]], [0], [0.9])]
    # 0.9 FP (image 1 has no truth), then 0.5 TP: recall 0, 1; precision 0, 1/2 → AP 1/2
    assert average_precision(found, truths, 0) == pytest.approx(0.5)
    assert average_precision([frame([], [], []), frame([], [], [])], truths, 0) == 0.0


def test_a_looser_overlap_accepts_a_part_of_the_object() -> None:
    truths = [frame([[0, 0, 10, 10]], [0], [0])]
    part = [frame([[0, 0, 10, 4]], [0], [0.9])]  # IoU 0.4
    assert mean_ap(part, truths, 1)[0] == 0.0 and mean_ap(part, truths, 1, iou=0.3)[0] == pytest.approx(1.0)
