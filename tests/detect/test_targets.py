"""RPN / R-FCN training targets, the ignore band and the head's shapes and learning."""

from __future__ import annotations

import pytest
import torch

from semvis.detect.rfcn import RFCN, anchor_scales
from semvis.detect.targets import (
    FAR_NEGATIVE_WEIGHT,
    RPN_BATCH,
    anchor_labels,
    covered,
    in_band,
    negative_weights,
    rfcn_loss,
    rpn_loss,
    smooth_l1,
)


def test_anchor_scales_follow_the_short_side() -> None:
    assert anchor_scales(600) == (128.0, 256.0, 512.0)
    assert anchor_scales(300) == (64.0, 128.0, 256.0)


def test_in_band_is_the_box_grown_by_its_size_on_each_side() -> None:
    truth = torch.tensor([[100.0, 100, 120, 140]])  # 20 × 40: band x 80..140, y 60..180
    boxes = torch.tensor([[75.0, 55, 95, 75], [130, 170, 150, 190], [60, 100, 70, 110], [100, 190, 120, 200]])
    assert in_band(boxes, truth).tolist() == [True, True, False, False]
    assert in_band(boxes, torch.zeros(0, 4)).tolist() == [False] * 4


def test_smooth_l1_known_values() -> None:
    x = torch.tensor([0.0, 0.1, -0.5, 2.0])
    torch.testing.assert_close(smooth_l1(x, 1.0), torch.tensor([0.0, 0.005, 0.125, 1.5]))
    torch.testing.assert_close(smooth_l1(torch.tensor([0.1, 1.0]), 3.0), torch.tensor([0.045, 1 - 0.5 / 9]))


def test_anchor_labels_positive_negative_band_and_border() -> None:
    anchors = torch.tensor(
        [
            [10.0, 10, 50, 50],  # the truth itself: positive
            [12, 10, 52, 50],  # IoU 0.9: positive
            [60, 60, 80, 80],  # IoU 0, inside the band (10..90): negative
            [150, 150, 190, 190],  # IoU 0, far away: a negative too (down-weighted in the loss)
            [-5, 10, 35, 50],  # crosses the border: unused
            [20, 10, 60, 50],  # IoU 0.6: neither
        ]
    )
    labels, match = anchor_labels(anchors, torch.tensor([[10.0, 10, 50, 50]]), (200, 200))
    assert labels.tolist() == [1, 1, 0, 0, -1, -1]
    assert match.tolist() == [0] * 6
    assert negative_weights(anchors[2:4], torch.tensor([[10.0, 10, 50, 50]])).tolist() == [1.0, FAR_NEGATIVE_WEIGHT]


def test_anchor_labels_take_each_boxes_best_anchor_and_cap_the_sample() -> None:
    truth = torch.tensor([[50.0, 50, 90, 90]])
    anchors = torch.tensor([[50.0, 50, 100, 100], [50, 50, 110, 110], [0, 0, 20, 20]])  # IoU 0.64, 0.44, 0
    assert anchor_labels(anchors, truth, (200, 200))[0].tolist() == [1, -1, 0]
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(3000, 2, generator=g) * 150
    labels, _ = anchor_labels(torch.cat([xy, xy + 40], dim=1), truth, (200, 200), g)
    assert (labels >= 0).sum() == RPN_BATCH and 0 < (labels == 1).sum() <= RPN_BATCH // 2


def tiny_head() -> RFCN:
    torch.manual_seed(0)
    return RFCN(num_classes=2, in_channels=16, k=3, scales=(32.0,), stride=16)


def test_head_shapes_and_proposal_limits() -> None:
    head = tiny_head()
    maps = head.maps(torch.randn(2, 16, 6, 8))
    assert maps.rpn_logits.shape == (2, 2 * 3, 6, 8) and maps.rpn_deltas.shape == (2, 4 * 3, 6, 8)
    assert maps.score_maps.shape == (2, 3 * 9, 6, 8) and maps.box_maps.shape == (2, 4 * 9, 6, 8)
    rois = head.proposals(maps, 1, (96, 128))
    assert 0 < len(rois) <= 300 and (rois[:, 2] <= 128).all() and (rois[:, 3] <= 96).all()
    logits, deltas = head.classify(maps, 1, rois)
    assert logits.shape == (len(rois), 3) and deltas.shape == (len(rois), 4)
    found = head(torch.randn(1, 16, 6, 8), (96, 128))[0]
    assert len(found.boxes) <= 100 and (found.labels < 2).all() and (found.scores > 0.05).all()


def test_refuses_odd_channels() -> None:
    with pytest.raises(ValueError, match="even in_channels"):
        RFCN(2, in_channels=15)


def test_training_steps_lower_both_losses_on_one_example() -> None:
    head = tiny_head()
    features = torch.randn(1, 16, 6, 8)
    truth, classes, size = torch.tensor([[40.0, 30, 75, 70]]), torch.tensor([1]), (96, 128)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)

    def losses() -> torch.Tensor:
        maps = head.maps(features)
        parts = rpn_loss(head, maps, 0, truth, size, torch.Generator().manual_seed(0))
        return torch.stack([*parts, *rfcn_loss(head, maps, 0, truth, classes, size)])

    first = losses().detach()
    for _ in range(40):
        optimizer.zero_grad()
        losses().sum().backward()
        optimizer.step()
    last = losses().detach()
    assert last[0] < 0.5 * first[0] and last[2] < 0.5 * first[2]


def test_covered_is_the_share_of_the_boxes_own_area() -> None:
    region = torch.tensor([[0.0, 0, 100, 100]])
    boxes = torch.tensor([[10.0, 10, 50, 50], [50, 0, 150, 100], [60, 0, 160, 100], [200, 200, 240, 240]])
    assert covered(boxes, region).tolist() == [True, True, False, False]  # shares 1, 0.5, 0.4, 0
    assert covered(boxes, torch.zeros(0, 4)).tolist() == [False] * 4


def test_negative_weights_exhaustive_and_ignore() -> None:
    truth = torch.tensor([[10.0, 10, 50, 50]])  # band 0..90
    ignore = torch.tensor([[100.0, 100, 140, 200]])
    boxes = torch.tensor(
        [
            [60.0, 60, 80, 80],  # near the truth
            [300, 300, 340, 340],  # far away
            [100, 120, 140, 160],  # inside the ignore region
            [120, 100, 200, 200],  # a quarter inside it: still a negative
        ]
    )
    assert negative_weights(boxes, truth).tolist() == [
        1.0,
        FAR_NEGATIVE_WEIGHT,
        FAR_NEGATIVE_WEIGHT,
        FAR_NEGATIVE_WEIGHT,
    ]
    assert negative_weights(boxes, truth, ignore).tolist() == [1.0, FAR_NEGATIVE_WEIGHT, 0.0, FAR_NEGATIVE_WEIGHT]
    assert negative_weights(boxes, truth, exhaustive=True).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert negative_weights(boxes, truth, ignore, exhaustive=True).tolist() == [1.0, 1.0, 0.0, 1.0]


def test_anchors_of_a_frame_without_objects_are_all_negatives() -> None:
    anchors = torch.tensor([[0.0, 0, 20, 20], [10, 10, 40, 40], [-5, 0, 10, 10]])
    labels, _ = anchor_labels(anchors, torch.zeros(0, 4), (100, 100))
    assert labels.tolist() == [0, 0, -1]


class OneAnchorHead(RFCN):
    """A head with fixed anchors and proposals, to read the losses' weights on hand-placed boxes."""

    def __init__(self, anchors: torch.Tensor, rois: torch.Tensor) -> None:
        super().__init__(num_classes=2, in_channels=16, k=3, scales=(32.0,), stride=16)
        self.fixed_anchors, self.fixed_rois = anchors, rois

    def anchor_grid(self, size: tuple[int, int]) -> torch.Tensor:
        return self.fixed_anchors

    def rpn_outputs(self, maps, index):  # noqa: ANN001, ANN201
        n = len(self.fixed_anchors)
        return torch.zeros(n, 2), torch.zeros(n, 4)

    def proposals(self, maps, index, size):  # noqa: ANN001, ANN201
        return self.fixed_rois

    def classify(self, maps, index, rois):  # noqa: ANN001, ANN201
        return torch.zeros(len(rois), 3), torch.zeros(len(rois), 4)


def test_the_losses_weight_far_and_ignored_negatives() -> None:
    truth, classes, size = torch.tensor([[10.0, 10, 50, 50]]), torch.tensor([0]), (400, 400)
    ignore = torch.tensor([[100.0, 100, 200, 200]])
    # The truth itself (positive), a near negative, a far negative, a negative inside the ignore region.
    boxes = torch.tensor([[10.0, 10, 50, 50], [60, 60, 80, 80], [300, 300, 340, 340], [120, 120, 160, 160]])
    head = OneAnchorHead(boxes, boxes[1:])
    maps = head.maps(torch.zeros(1, 16, 4, 4))
    log2, log3 = torch.log(torch.tensor(2.0)), torch.log(torch.tensor(3.0))

    def rpn(**kw: object) -> float:
        return rpn_loss(head, maps, 0, truth, size, torch.Generator().manual_seed(0), **kw)[0].item()

    def rfcn(**kw: object) -> float:
        return rfcn_loss(head, maps, 0, truth, classes, size, **kw)[0].item()

    # Zero logits: every anchor's cross-entropy is log 2, every RoI's log 3; RPN / 4 anchors, R-FCN / 128.
    assert rpn() == pytest.approx(log2 * (1 + 1 + 0.25 + 0.25) / 4)
    assert rpn(ignore=ignore) == pytest.approx(log2 * (1 + 1 + 0.25) / 4)
    assert rpn(exhaustive=True) == pytest.approx(log2 * 4 / 4)
    assert rpn(ignore=ignore, exhaustive=True) == pytest.approx(log2 * 3 / 4)
    # RoIs: three proposals plus the truth (foreground).
    assert rfcn() == pytest.approx(log3 * (1 + 0.25 + 0.25 + 1) / 128)
    assert rfcn(ignore=ignore, exhaustive=True) == pytest.approx(log3 * (1 + 1 + 0 + 1) / 128)
