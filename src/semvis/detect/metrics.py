"""Average precision at IoU 0.5, PASCAL VOC style (Everingham et al. 2010, §4.2; VOC2010+ devkit).

Per class, detections of all images are sorted by score; each is a true positive when its
highest-IoU ground-truth box of that class in its image has IoU ≥ 0.5 and is not yet taken by
a higher-scoring detection, else a false positive. A detection whose best box is marked
*ignore* (VOC's "difficult") counts as neither. AP is the area under the precision/recall curve
with precision made monotone (``p(r) = max_{r' ≥ r} p(r')``), summed at every recall change
("all-point interpolation"), not the 11-point VOC2007 variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from semvis.detect.boxes import box_iou

#: VOC's overlap criterion.
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class FrameBoxes:
    """Boxes of one image: ``N × 4`` boxes, ``N`` class indices, ``N`` scores (detections) or ignore flags (truth)."""

    boxes: torch.Tensor
    labels: torch.Tensor
    extra: torch.Tensor


def all_point_ap(recall: torch.Tensor, precision: torch.Tensor) -> float:
    """Area under the monotone precision envelope, summed where recall changes (VOC2010+)."""
    r = torch.cat([torch.zeros(1), recall.double(), torch.ones(1)])
    p = torch.cat([torch.zeros(1), precision.double(), torch.zeros(1)])
    p = torch.flip(torch.cummax(torch.flip(p, [0]), 0).values, [0])
    changed = torch.nonzero(r[1:] != r[:-1]).flatten()
    return float(((r[changed + 1] - r[changed]) * p[changed + 1]).sum())


def average_precision(
    detections: Sequence[FrameBoxes], truths: Sequence[FrameBoxes], label: int, iou: float = IOU_THRESHOLD
) -> float | None:
    """AP of class ``label`` over paired per-image detections and truths; ``None`` without any truth box."""
    positives = sum(int(((t.labels == label) & ~t.extra.bool()).sum()) for t in truths)
    if positives == 0:
        return None
    records = []  # (score, image, detection index)
    for image, det in enumerate(detections):
        for j in torch.nonzero(det.labels == label).flatten().tolist():
            records.append((float(det.extra[j]), image, j))
    records.sort(key=lambda r: -r[0])
    taken = [torch.zeros(len(t.labels), dtype=torch.bool) for t in truths]
    hits = []
    for _, image, j in records:
        truth = truths[image]
        mine = torch.nonzero(truth.labels == label).flatten()
        if mine.numel() == 0:
            hits.append(0.0)
            continue
        overlaps = box_iou(detections[image].boxes[j, None], truth.boxes[mine])[0]
        best = int(overlaps.argmax())
        index = int(mine[best])
        if overlaps[best] < iou:
            hits.append(0.0)
        elif truth.extra[index]:
            continue  # matched an ignored box: neither true nor false
        elif taken[image][index]:
            hits.append(0.0)
        else:
            taken[image][index] = True
            hits.append(1.0)
    tp = torch.cumsum(torch.tensor(hits, dtype=torch.float64), 0)
    fp = torch.arange(1, len(hits) + 1, dtype=torch.float64) - tp
    if len(hits) == 0:
        return 0.0
    return all_point_ap(tp / positives, tp / (tp + fp))


def mean_ap(
    detections: Sequence[FrameBoxes], truths: Sequence[FrameBoxes], num_classes: int, iou: float = IOU_THRESHOLD
) -> tuple[float, dict[int, float]]:
    """mAP over the classes with at least one truth box, and the AP of each of them."""
    per_class = {c: average_precision(detections, truths, c, iou) for c in range(num_classes)}
    present = {c: ap for c, ap in per_class.items() if ap is not None}
    return (sum(present.values()) / len(present) if present else float("nan")), present
