"""Colorization scores: the edit chosen, and the metrics on models whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from semvis.colorize import ab_psnr, rgb_to_lab
from semvis.colorize.evaluate import EDIT_SHARE, edit_region, evaluate_colorizer


class PerClassChroma(nn.Module):
    """A stand-in colorizer: a fixed ab per class, whatever the luma (so edits act only where relabelled)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table, requires_grad=False)

    def forward(self, luma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.table[labels.clamp(0, len(self.table) - 1)].permute(0, 3, 1, 2)


def test_edit_region_takes_the_class_nearest_a_fifth_of_the_map() -> None:
    labels = torch.zeros(10, 10, dtype=torch.int64)
    labels[:3] = 2  # 30 %
    labels[3:5] = 1  # 20 %  ← nearest EDIT_SHARE
    labels[5, :5] = 11  # void is never chosen
    mask, new_label = edit_region(labels, 11)
    assert EDIT_SHARE == 0.2
    assert torch.equal(mask, labels == 1) and new_label == (1 + 5) % 11


def test_scores_of_a_per_class_model_are_exact() -> None:
    # left half red-ish (class 0), right half blue-ish (class 1); the model knows each class's true ab
    rgb = torch.zeros(3, 32, 32)
    rgb[:, :, :16] = torch.tensor([0.8, 0.3, 0.2])[:, None, None]
    rgb[:, :, 16:] = torch.tensor([0.2, 0.3, 0.8])[:, None, None]
    labels = torch.zeros(32, 32, dtype=torch.int64)
    labels[:, 16:] = 1
    lab = rgb_to_lab(rgb)
    table = torch.stack([lab[1:, 0, 0], lab[1:, 0, 31], torch.tensor([0.3, 0.3])])
    scores = evaluate_colorizer(PerClassChroma(table), [(rgb, labels)], num_classes=3, work_size=32)
    assert scores.images == 1
    assert scores.ab_psnr > 40  # only the 8-bit-free gamut fitting separates it from the truth
    torch.testing.assert_close(scores.gray_ab_psnr, float(ab_psnr(torch.zeros(2, 32, 32), lab[1:])))
    torch.testing.assert_close(scores.colourfulness, scores.true_colourfulness, rtol=0.02, atol=0.5)
    # both classes cover 50 %; the tie goes to class 0, repainted to class 1: the change is all inside
    assert scores.edit_locality == 1.0
    expected = float((table[0] - table[1]).norm()) * 110  # red-ish → blue-ish, in Lab units
    assert scores.edit_inside == pytest.approx(expected, rel=1e-4) and scores.edit_outside == 0.0


def test_an_edit_that_changes_nothing_is_left_out_of_the_locality_mean() -> None:
    rgb = torch.full((3, 16, 16), 0.5)
    labels = torch.zeros(16, 16, dtype=torch.int64)
    same = PerClassChroma(torch.zeros(2, 2))
    scores = evaluate_colorizer(same, [(rgb, labels)], num_classes=2, work_size=16)
    assert math.isnan(scores.edit_locality) and scores.ab_psnr > 90  # gray in, gray out (float rounding only)
