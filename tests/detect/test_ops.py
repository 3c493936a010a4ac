"""Box coding, IoU, NMS, anchors and position-sensitive RoI pooling against loop references."""

from __future__ import annotations

import math

import pytest
import torch

from semvis.detect.anchors import base_anchors, grid_anchors
from semvis.detect.boxes import RCNN_WEIGHTS, box_iou, clip_boxes, decode, encode
from semvis.detect.nms import batched_nms, nms
from semvis.detect.psroi import ps_roi_pool, vote


def random_boxes(n: int, seed: int, extent: float = 100.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * extent
    wh = torch.rand(n, 2, generator=g) * extent / 2 + 1
    return torch.cat([xy, xy + wh], dim=1)


def iou_loop(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_iou_matrix_matches_the_pairwise_loop() -> None:
    a, b = random_boxes(13, 0), random_boxes(7, 1)
    expected = torch.tensor([[iou_loop(x, y) for y in b.tolist()] for x in a.tolist()])
    torch.testing.assert_close(box_iou(a, b), expected)


def test_iou_known_values_and_degenerate_boxes() -> None:
    a = torch.tensor([[0.0, 0, 10, 10], [0, 0, 0, 0]])
    b = torch.tensor([[5.0, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 3, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_encode_follows_the_rcnn_formulas_with_weights() -> None:
    reference = torch.tensor([[0.0, 0, 10, 20]])
    target = torch.tensor([[5.0, 5, 25, 25]])
    expected = [10 * (15 - 5) / 10, 10 * (15 - 10) / 20, 5 * math.log(20 / 10), 5 * math.log(20 / 20)]
    torch.testing.assert_close(encode(reference, target, RCNN_WEIGHTS), torch.tensor([expected]))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), RCNN_WEIGHTS])
def test_decode_inverts_encode(weights: tuple[float, ...]) -> None:
    reference, target = random_boxes(50, 2), random_boxes(50, 3)
    torch.testing.assert_close(decode(reference, encode(reference, target, weights), weights), target)


def test_decode_caps_the_size_delta() -> None:
    out = decode(torch.tensor([[0.0, 0, 16, 16]]), torch.tensor([[0.0, 0, 1e4, 1e4]]))
    assert torch.isfinite(out).all() and out[0, 2] - out[0, 0] == pytest.approx(1000.0, rel=1e-4)


def test_clip_boxes_keeps_them_inside_the_image() -> None:
    out = clip_boxes(torch.tensor([[-5.0, -3, 50, 70]]), (60, 40))
    assert out.tolist() == [[0.0, 0.0, 40.0, 60.0]]


def nms_loop(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep: list[int] = []
    for i in order:
        if all(iou_loop(boxes[i].tolist(), boxes[j].tolist()) <= threshold for j in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_the_greedy_loop(threshold: float) -> None:
    boxes = random_boxes(60, 4, extent=40)
    scores = torch.rand(60, generator=torch.Generator().manual_seed(5))
    assert nms(boxes, scores, threshold).tolist() == nms_loop(boxes, scores, threshold)
    assert nms(boxes, scores, threshold, max_keep=3).tolist() == nms_loop(boxes, scores, threshold)[:3]


def test_nms_of_nothing_is_empty() -> None:
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0


def test_batched_nms_suppresses_only_within_a_class() -> None:
    boxes = random_boxes(40, 6, extent=30)
    scores = torch.rand(40, generator=torch.Generator().manual_seed(7))
    classes = torch.arange(40) % 3
    expected = []
    for c in range(3):
        index = torch.nonzero(classes == c).flatten()
        expected += [int(index[i]) for i in nms_loop(boxes[index], scores[index], 0.3)]
    kept = batched_nms(boxes, scores, classes, 0.3)
    assert sorted(kept.tolist()) == sorted(expected)
    assert (scores[kept].diff() <= 0).all()


def test_base_anchors_have_the_scale_as_square_root_of_area_and_the_ratio_h_over_w() -> None:
    anchors = base_anchors((128.0, 256.0, 512.0))
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    assert anchors.shape == (9, 4)
    torch.testing.assert_close((w * h).sqrt(), torch.tensor([128.0] * 3 + [256.0] * 3 + [512.0] * 3))
    torch.testing.assert_close(h / w, torch.tensor([0.5, 1.0, 2.0] * 3))
    torch.testing.assert_close(anchors[:, :2] + anchors[:, 2:], torch.zeros(9, 2))


def test_grid_anchors_sit_at_each_positions_centre_in_position_major_order() -> None:
    base = base_anchors((32.0,), (1.0, 2.0))
    anchors = grid_anchors(base, (3, 4), 16)
    assert anchors.shape == (3 * 4 * 2, 4)
    for y in range(3):
        for x in range(4):
            for a in range(2):
                centre = (anchors[(y * 4 + x) * 2 + a, :2] + anchors[(y * 4 + x) * 2 + a, 2:]) / 2
                assert centre.tolist() == [16 * x + 8, 16 * y + 8]
                assert anchors[(y * 4 + x) * 2 + a].tolist() == (base[a] + centre.repeat(2)).tolist()


def ps_roi_pool_loop(maps: torch.Tensor, rois: torch.Tensor, k: int, scale: float) -> torch.Tensor:
    """The official psroi_pooling forward as loops (continuous corners, see the module's deviation)."""
    channels, h, w = maps.shape
    depth = channels // (k * k)
    out = torch.zeros(len(rois), depth, k, k, dtype=torch.float64)
    for r, (x1, y1, x2, y2) in enumerate((rois.double() * scale).tolist()):
        bw, bh = max(x2 - x1, 0.1) / k, max(y2 - y1, 0.1) / k
        for c in range(depth):
            for i in range(k):
                for j in range(k):
                    hs = min(max(math.floor(y1 + i * bh), 0), h)
                    he = min(max(math.ceil(y1 + (i + 1) * bh), 0), h)
                    ws = min(max(math.floor(x1 + j * bw), 0), w)
                    we = min(max(math.ceil(x1 + (j + 1) * bw), 0), w)
                    if he <= hs or we <= ws:
                        continue
                    total = sum(float(maps[(c * k + i) * k + j, y, x]) for y in range(hs, he) for x in range(ws, we))
                    out[r, c, i, j] = total / ((he - hs) * (we - ws))
    return out.float()


@pytest.mark.parametrize("k", [1, 3, 7])
def test_ps_roi_pool_matches_the_loop_reference(k: int) -> None:
    g = torch.Generator().manual_seed(8)
    maps = torch.randn(3 * k * k, 9, 11, generator=g)
    rois = torch.cat([random_boxes(6, 9, extent=150), torch.tensor([[-40.0, -40, 300, 300], [170, 140, 200, 160]])])
    torch.testing.assert_close(ps_roi_pool(maps, rois, k, 1 / 16), ps_roi_pool_loop(maps, rois, k, 1 / 16))


def test_ps_roi_pool_reads_bin_ij_only_from_its_own_map() -> None:
    k = 3
    maps = torch.zeros(2 * k * k, 6, 6)
    maps[(1 * k + 2) * k + 0] = 1.0  # class 1, bin row 2, column 0
    pooled = ps_roi_pool(maps, torch.tensor([[0.0, 0, 96, 96]]), k, 1 / 16)
    expected = torch.zeros(1, 2, k, k)
    expected[0, 1, 2, 0] = 1.0
    torch.testing.assert_close(pooled, expected)
    torch.testing.assert_close(vote(pooled), torch.tensor([[0.0, 1 / 9]]))


def test_ps_roi_pool_is_differentiable_and_checks_the_channels() -> None:
    maps = torch.randn(2 * 4, 5, 5, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[3.0, 5, 60, 70]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda m: ps_roi_pool(m, rois, 2, 1 / 16), (maps,))
    with pytest.raises(ValueError, match="multiple of k"):
        ps_roi_pool(torch.zeros(5, 4, 4), rois, 2)
