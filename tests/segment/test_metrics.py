import math

import pytest
import torch
from PIL import Image

from semvis.segment import accuracy_per_class, confusion_matrix, confusion_picture, iou_per_class, scores
from semvis.segment.metrics import CELL

IGNORE = 255
# 5 classes; the ignored pixel's prediction (2) must not count; class 3 is only predicted,
# class 4 is in neither map
TARGET = torch.tensor([[0, 0, 1], [1, IGNORE, 2]])
PRED = torch.tensor([[0, 1, 1], [1, 2, 3]])


def test_confusion_by_hand() -> None:
    conf = confusion_matrix(PRED, TARGET, 5, IGNORE)
    expected = torch.zeros(5, 5, dtype=torch.int64)
    expected[0, 0] = expected[0, 1] = 1  # two class-0 pixels: one right, one taken for 1
    expected[1, 1] = 2
    expected[2, 3] = 1
    assert torch.equal(conf, expected)


def test_iou_accuracy_and_means_by_hand() -> None:
    conf = confusion_matrix(PRED, TARGET, 5, IGNORE)
    iou = iou_per_class(conf)
    # IoU = TP / (GT + P − TP): 1/(2+1−1), 2/(2+3−2), 0/(1+0), 0/(0+1), 0/0
    torch.testing.assert_close(iou[:4], torch.tensor([1 / 2, 2 / 3, 0.0, 0.0], dtype=torch.float64))
    assert math.isnan(iou[4])  # absent from both maps: undefined, left out of the mean
    acc = accuracy_per_class(conf)
    torch.testing.assert_close(acc[:3], torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64))
    assert acc[3:].isnan().all()  # no ground-truth pixels
    s = scores(conf)
    assert s["miou"] == pytest.approx((1 / 2 + 2 / 3 + 0 + 0) / 4)  # the only-predicted class counts as 0
    assert s["pixel_acc"] == pytest.approx(3 / 5)
    assert s["mean_acc"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_batches_accumulate_and_an_all_ignored_map_adds_nothing() -> None:
    batch = confusion_matrix(torch.stack([PRED, PRED]), torch.stack([TARGET, TARGET]), 5, IGNORE)
    assert torch.equal(batch, 2 * confusion_matrix(PRED, TARGET, 5, IGNORE))
    empty = confusion_matrix(PRED, torch.full_like(TARGET, IGNORE), 5, IGNORE)
    assert empty.sum() == 0 and all(math.isnan(v) for v in scores(empty).values())


def test_labels_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"target holds classes outside 0\.\.4"):
        confusion_matrix(PRED, torch.tensor([[0, 0, 7], [1, 1, 1]]), 5, IGNORE)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(PRED, TARGET[:1], 5, IGNORE)


def test_confusion_picture_is_a_labelled_row_normalised_heat_map() -> None:
    conf = confusion_matrix(PRED, TARGET, 5, IGNORE)
    names = ["sky", "building", "pole", "road", "tree"]
    picture = confusion_picture(conf, names)
    assert isinstance(picture, Image.Image) and picture.mode == "RGB"
    assert picture.width > 5 * CELL and picture.height > 5 * CELL
    with pytest.raises(ValueError, match="one name per class"):
        confusion_picture(conf, names[:4])
