"""Training targets and losses of the RPN (Ren et al. 2015, §3.1.2) and R-FCN (Dai et al. 2016, §2).

**RPN.** An anchor is positive when its IoU with a ground-truth box is ≥ 0.7 or it is the
highest-IoU anchor of a box, negative when its IoU is < 0.3 with every box, otherwise unused;
anchors crossing the image border are unused. 256 anchors are sampled per image, at most half
positive. Loss: softmax cross-entropy over the sample plus smooth L1 (σ = 3, py-faster-rcnn) on
the positives' deltas, summed and divided by the sample size (λ = 1 with that normalisation).

**R-FCN.** The RoIs are the proposals plus the ground-truth boxes; a RoI with IoU ≥ 0.5 to a box
is foreground (that box's class and deltas), else background. Online hard example mining: the
loss (cross-entropy + smooth L1 with σ = 1 on foreground) of every RoI is computed and the 128
with the highest loss are kept, their sum divided by 128.

**Ignore rule (our data, not the papers'): down-weighted far negatives.** Only the tracked object
is boxed; other objects of the same class appear unboxed. A negative (anchor or RoI) whose centre
lies in the *band* around a ground-truth box — the box grown by its own width and height on every
side (3× its size) — counts in full: next to the target, the annotators' choice says what is not
the object. A negative outside every band counts with weight :data:`FAR_NEGATIVE_WEIGHT` (¼): it is
far more often plain background than an unboxed object, and the detector must learn that (a first
run that ignored far negatives altogether fired on background everywhere on unseen clips: mAP
0.001), while an unboxed car far from the boxed one pushes a quarter as hard towards background.

**Exhaustive frames and ignore regions (CamVid).** A frame whose every car and person is labelled
(``exhaustive``) has no unboxed objects, so all its negatives count in full: the ¼ exists only
because the video clips box their tracked object alone. On any frame, a negative lying mostly
inside an *ignore* region — the part of its own area inside the region ≥ :data:`IGNORE_COVER` —
gets weight 0: the region holds objects that could not be boxed one by one (touching cars, a
group of pedestrians, objects too small), so calling it background would be wrong. Positives are
unchanged. The video frames have no ignore regions and are not exhaustive: their weights are as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semvis.detect.boxes import RCNN_WEIGHTS, RPN_WEIGHTS, box_area, box_intersection, box_iou, encode
from semvis.detect.rfcn import RFCN, TaskMaps

#: Faster R-CNN §3.1.2 (py-faster-rcnn RPN_POSITIVE_OVERLAP, RPN_NEGATIVE_OVERLAP, RPN_BATCHSIZE, RPN_FG_FRACTION).
RPN_POSITIVE_IOU = 0.7
RPN_NEGATIVE_IOU = 0.3
RPN_BATCH = 256
RPN_FG_FRACTION = 0.5
#: py-faster-rcnn's smooth-L1 σ: 3 for the RPN, 1 for the region head.
RPN_SIGMA = 3.0
RCNN_SIGMA = 1.0
#: R-FCN: foreground at IoU ≥ 0.5; OHEM keeps the B = 128 highest-loss RoIs per image.
RCNN_FG_IOU = 0.5
OHEM_BATCH = 128
#: The band: full-weight negatives where the centre lies within a box grown by this many box sizes per side.
NEGATIVE_BAND = 1.0
#: The weight of a negative outside every band (see the module docstring).
FAR_NEGATIVE_WEIGHT = 0.25
#: A negative with at least this share of its own area inside an ignore region gets weight 0.
IGNORE_COVER = 0.5


def in_band(boxes: torch.Tensor, truth: torch.Tensor, margin: float = NEGATIVE_BAND) -> torch.Tensor:
    """Whether each box's centre lies in some truth box grown by ``margin`` × its size on each side."""
    if truth.numel() == 0:
        return torch.zeros(len(boxes), dtype=torch.bool)
    size = truth[:, 2:] - truth[:, :2]
    low, high = truth[:, :2] - margin * size, truth[:, 2:] + margin * size
    centre = ((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None]
    return ((centre >= low[None]) & (centre <= high[None])).all(dim=2).any(dim=1)


def smooth_l1(diff: torch.Tensor, sigma: float) -> torch.Tensor:
    """py-faster-rcnn's smooth L1 per element: ``0.5(σx)²`` if ``|x| < 1/σ²`` else ``|x| − 0.5/σ²``."""
    s2 = sigma * sigma
    a = diff.abs()
    return torch.where(a < 1 / s2, 0.5 * s2 * diff * diff, a - 0.5 / s2)


def covered(boxes: torch.Tensor, regions: torch.Tensor, share: float = IGNORE_COVER) -> torch.Tensor:
    """Whether at least ``share`` of each box's own area lies inside one of ``regions``."""
    if regions.numel() == 0:
        return torch.zeros(len(boxes), dtype=torch.bool)
    inter, area = box_intersection(boxes, regions), box_area(boxes)
    return (inter >= share * area[:, None]).any(dim=1) & (area > 0)


def negative_weights(
    boxes: torch.Tensor, truth: torch.Tensor, ignore: torch.Tensor | None = None, exhaustive: bool = False
) -> torch.Tensor:
    """Loss weight of each box as a negative: 1 inside a truth box's band (everywhere on an ``exhaustive``
    frame), :data:`FAR_NEGATIVE_WEIGHT` outside; 0 when mostly inside an ``ignore`` region."""
    if exhaustive:
        weights = torch.ones(len(boxes))
    else:
        weights = torch.where(in_band(boxes, truth), 1.0, FAR_NEGATIVE_WEIGHT)
    if ignore is not None:
        weights = torch.where(covered(boxes, ignore), 0.0, weights)
    return weights


def anchor_labels(
    anchors: torch.Tensor, truth: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled labels per anchor (1 positive, 0 negative, −1 unused) and each anchor's best truth index."""
    labels = torch.full((len(anchors),), -1, dtype=torch.long)
    inside = (anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= size[1]) & (anchors[:, 3] <= size[0])
    if truth.numel() == 0:  # no object (an empty CamVid street): every anchor inside is a negative
        labels[_sample(torch.nonzero(inside).flatten(), RPN_BATCH, generator)] = 0
        return labels, torch.zeros(len(anchors), dtype=torch.long)
    iou = box_iou(anchors, truth) * inside[:, None]
    best, match = iou.max(dim=1)
    negative = inside & (best < RPN_NEGATIVE_IOU)
    positive = inside & ((best >= RPN_POSITIVE_IOU) | (iou == iou.max(dim=0).values.clamp(min=1e-6)).any(dim=1))
    pos = _sample(torch.nonzero(positive).flatten(), int(RPN_BATCH * RPN_FG_FRACTION), generator)
    neg = _sample(torch.nonzero(negative & ~positive).flatten(), RPN_BATCH - len(pos), generator)
    labels[neg], labels[pos] = 0, 1
    return labels, match


def _sample(index: torch.Tensor, count: int, generator: torch.Generator | None) -> torch.Tensor:
    """At most ``count`` of ``index``, uniformly without replacement."""
    if len(index) <= count:
        return index
    return index[torch.randperm(len(index), generator=generator)[:count]]


def rpn_loss(
    task: RFCN,
    maps: TaskMaps,
    index: int,
    truth: torch.Tensor,
    size: tuple[int, int],
    generator: torch.Generator,
    ignore: torch.Tensor | None = None,
    exhaustive: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Objectness cross-entropy (negatives weighted by :func:`negative_weights`) and box smooth L1 over
    the 256 sampled anchors."""
    logits, deltas = task.rpn_outputs(maps, index)
    anchors = task.anchor_grid(tuple(maps.rpn_logits.shape[-2:]))
    labels, match = anchor_labels(anchors, truth, size, generator)
    used = labels >= 0
    count = max(int(used.sum()), 1)
    weight = torch.where(labels[used] == 1, 1.0, negative_weights(anchors[used], truth, ignore, exhaustive))
    cls = (F.cross_entropy(logits[used], labels[used], reduction="none") * weight).sum() / count
    pos = labels == 1
    target = encode(anchors[pos], truth[match[pos]], RPN_WEIGHTS)
    box = smooth_l1(deltas[pos] - target, RPN_SIGMA).sum() / count
    return cls, box


def rfcn_loss(
    task: RFCN,
    maps: TaskMaps,
    index: int,
    truth: torch.Tensor,
    classes: torch.Tensor,
    size: tuple[int, int],
    ignore: torch.Tensor | None = None,
    exhaustive: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class cross-entropy (negatives weighted by :func:`negative_weights`) and box smooth L1 of the 128
    hardest RoIs (OHEM), over 128."""
    rois = torch.cat([task.proposals(maps, index, size), truth])
    if len(truth):
        best, match = box_iou(rois, truth).max(dim=1)
    else:  # no object: every RoI is background
        best, match = torch.zeros(len(rois)), torch.zeros(len(rois), dtype=torch.long)
    foreground = best >= RCNN_FG_IOU
    labels = torch.where(foreground, classes[match] + 1, torch.zeros_like(match)) if len(truth) else match
    logits, deltas = task.classify(maps, index, rois)
    weight = torch.where(foreground, 1.0, negative_weights(rois, truth, ignore, exhaustive))
    cls = F.cross_entropy(logits, labels, reduction="none") * weight
    target = encode(rois, truth[match], RCNN_WEIGHTS) if len(truth) else torch.zeros_like(deltas)
    box = smooth_l1(deltas - target, RCNN_SIGMA).sum(dim=1) * foreground
    hardest = (cls + box).detach().topk(min(OHEM_BATCH, len(rois))).indices
    return cls[hardest].sum() / OHEM_BATCH, box[hardest].sum() / OHEM_BATCH
