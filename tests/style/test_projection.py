"""The image stays in [0, 1] while it is optimised, so the saved 8-bit file scores what the engine reported."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import needs_weights
from PIL import Image

from semvis.assets import sample_path
from semvis.backbones import create_backbone
from semvis.data import load_tensor, save_image
from semvis.style import synthesis
from semvis.style.synthesis import StyleConfig, StyleConfigError, hold_bounds_, project_, stylize


@pytest.fixture(scope="module")
def random_vgg() -> torch.nn.Module:
    torch.manual_seed(0)
    extractor = create_backbone("vgg19", pooling="avg", features=["relu5_1"])
    return extractor.backbone.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def image(seed: int, h: int = 40, w: int = 48) -> torch.Tensor:
    return torch.rand((1, 3, h, w), generator=torch.Generator().manual_seed(seed))


def test_project_clamps_in_place_to_the_valid_range() -> None:
    x = torch.tensor([-0.5, 0.0, 0.3, 1.0, 1.7]).requires_grad_()
    project_(x)
    assert x.tolist() == pytest.approx([0.0, 0.0, 0.3, 1.0, 1.0]) and x.requires_grad


def test_hold_bounds_zeroes_only_the_outward_gradient() -> None:
    x = torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0])
    x.grad = torch.tensor([2.0, -2.0, 3.0, -4.0, 4.0])  # descent moves by −grad
    hold_bounds_(x)
    assert x.grad.tolist() == [0.0, -2.0, 3.0, 0.0, 4.0]  # at 0: keep the inward push; at 1: likewise


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_every_evaluated_image_is_in_range(random_vgg: torch.nn.Module, optimizer: str) -> None:
    config = StyleConfig(size=32, steps=8, optimizer=optimizer, lr=None if optimizer == "lbfgs" else 0.5)
    content = image(0, 24, 32)
    targets = synthesis.compute_targets(random_vgg, content, [image(1)], config)
    seen: list[tuple[float, float]] = []
    start = (image(2, 24, 32) - 0.5) * 3  # far outside [0, 1]
    out = synthesis.optimise(random_vgg, start, targets, config, 8, lambda x, _: seen.append((x.min(), x.max())))
    assert len(seen) == 8 and all(0 <= lo and hi <= 1 for lo, hi in seen)
    assert 0 <= out.min() and out.max() <= 1
    unprojected: list[float] = []
    plain = StyleConfig(size=32, steps=2, project=False)
    synthesis.optimise(random_vgg, start, targets, plain, 2, lambda x, _: unprojected.append(x.min()))
    assert unprojected[0] < 0  # the check above can fail: without projection the start stays out of range


def test_max_seconds_stops_each_stage_after_one_evaluation(
    monkeypatch: pytest.MonkeyPatch, random_vgg: torch.nn.Module
) -> None:
    monkeypatch.setattr(synthesis, "load_vgg", lambda config: random_vgg)
    result = stylize(image(0), [image(1)], StyleConfig(scales=(24, 48), steps=50, max_seconds=1e-9))
    assert [r.stage for r in result.history] == [0, 1]
    assert len(stylize(image(0), [image(1)], StyleConfig(size=32, steps=5, max_seconds=60)).history) == 5
    with pytest.raises(StyleConfigError, match="max_seconds must be positive"):
        StyleConfig(max_seconds=0)


def saved_score(result: synthesis.StyleResult, png: Path, content: Path, style: Path) -> tuple[float, float]:
    """Eq. 7 of the saved 8-bit file against the engine's targets, and its share of values at 0 or 255."""
    save_image(result.image, png)
    vgg = synthesis.load_vgg(result.config)
    saved = load_tensor(png)
    targets = synthesis.compute_targets(vgg, synthesis.resize(load_tensor(content), saved.shape[-2:]),
                                        [load_tensor(style)], result.config)  # fmt: skip
    with torch.no_grad():
        loss = synthesis.objective(vgg, saved, targets, result.config).total.item()
    values = np.asarray(Image.open(png))
    return loss, float(((values == 0) | (values == 255)).mean())


@needs_weights
@pytest.mark.slow
def test_the_saved_png_scores_what_the_engine_reported(tmp_path: Path) -> None:
    content, style = sample_path("chelsea"), sample_path("starry_night")
    scores = {}
    for project in (True, False):
        config = StyleConfig(size=64, steps=30, init="noise", project=project)
        result = stylize(content, [style], config)
        reported = min(r.total for r in result.history)
        loss, clipped = saved_score(result, tmp_path / f"{project}.png", content, style)
        scores[project] = (loss / reported, clipped)
    assert scores[True][0] == pytest.approx(1.0, abs=0.02)  # only 8-bit rounding is left
    assert scores[True][1] < 0.1
    assert scores[False][0] > 1.1  # unconstrained and clamped when saved: the file is worse than reported
