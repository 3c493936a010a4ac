"""Fig. 1 reconstructions and the Fig. 3 grid."""

import pytest
import torch
from helpers import needs_weights
from PIL import Image

from semvis.assets import sample_path
from semvis.data import load_tensor
from semvis.style import grid, synthesis
from semvis.style.synthesis import StyleConfig, StyleConfigError
from semvis.viz import labelled_grid


def test_fig3_layer_sets_and_labels() -> None:
    assert grid.LAYER_SETS[0] == ("relu1_1",) and grid.LAYER_SETS[-1] == synthesis.STYLE_LAYERS
    assert [grid.layer_set_label(s) for s in grid.LAYER_SETS[:3]] == [
        "relu1_1",
        "relu1_1 + relu2_1",
        "relu1_1 … relu3_1",
    ]


def test_reconstruct_needs_exactly_one_of_content_or_style() -> None:
    with pytest.raises(StyleConfigError, match="either"):
        grid.reconstruct(torch.rand(1, 3, 32, 32))
    with pytest.raises(StyleConfigError, match="either"):
        grid.reconstruct(torch.rand(1, 3, 32, 32), "relu1_1", ["relu1_1"])


@needs_weights
def test_grid_sheet_has_a_cell_per_layer_set_and_ratio() -> None:
    content, style = load_tensor(sample_path("chelsea")), load_tensor(sample_path("starry_night"))
    ratios = (1e-4, 1e-2)
    rows = grid.style_grid_results(content, style, ratios, config=StyleConfig(size=32, steps=2))
    assert len(rows) == 5 and all(len(row) == 2 for row in rows)
    assert [list(row[0].config.style_layers) for row in rows] == [list(s) for s in grid.LAYER_SETS]
    assert [cell.config.ratio for cell in rows[0]] == list(ratios)
    sheet = grid.style_grid(content, style, ratios, size=32, steps=1)
    blank = [[Image.new("RGB", (32, 21))] * 2 for _ in range(5)]
    labels = [grid.layer_set_label(s) for s in grid.LAYER_SETS]
    expected = labelled_grid(blank, (32, 21), labels, [f"alpha/beta = {r:g}" for r in ratios], grid.GRID_TITLE)
    assert sheet.size == expected.size


@needs_weights
@pytest.mark.slow
def test_content_reconstruction_from_noise_approaches_the_photo() -> None:
    photo = synthesis.resize(load_tensor(sample_path("chelsea")), (32, 48))
    result = grid.reconstruct(photo, content_layer="relu1_1", config=StyleConfig(size=48, steps=40))
    noise = synthesis.initial_image(result.config, photo, (32, 48))
    error = (result.image.clamp(0, 1) - photo).abs().mean()
    assert error < 0.5 * (noise - photo).abs().mean()
    assert result.history[-1].style == 0 and result.history[-1].content < 0.05 * result.history[0].content


@needs_weights
@pytest.mark.slow
def test_style_reconstruction_matches_the_gram_matrices() -> None:
    painting = sample_path("starry_night")
    config = StyleConfig(size=48, steps=30)
    result = grid.reconstruct(painting, style_layers=["relu1_1", "relu2_1", "relu3_1"], config=config)
    assert result.history[-1].content == 0
    assert result.history[-1].style < 0.05 * result.history[0].style
