"""Video style transfer (Ruder et al. 2016): frame count and size, the warped start, L_temporal, the baseline."""

from pathlib import Path

import pytest
import torch
from helpers import SIDE, needs_weights, write_frames

from semvis.backbones import Backbone
from semvis.data.video import open_frames
from semvis.nn.warp import warp
from semvis.style import video
from semvis.style.synthesis import StyleConfig, StyleConfigError, load_vgg
from semvis.style.video import FrameResult, frame_flow, stylize_video, temporal_loss, video_size


@pytest.fixture(scope="module")
def vgg() -> Backbone:
    return load_vgg(StyleConfig())


@pytest.fixture
def style() -> torch.Tensor:
    return torch.rand((1, 3, 40, 40), generator=torch.Generator().manual_seed(1))


CONFIG = StyleConfig(size=SIDE, steps=2)  # every evaluation costs a VGG-19 pass: keep them few


def run(frames: Path, style: torch.Tensor, vgg: Backbone, **options: object) -> list[FrameResult]:
    results: list[FrameResult] = []
    stylize_video(open_frames(frames), [style], CONFIG, on_frame=results.append, vgg=vgg, **options)
    return results


def test_temporal_loss_counts_only_reliable_differences() -> None:
    warped = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    reliable = torch.ones(1, 1, 8, 8)
    reliable[..., :4] = 0
    assert temporal_loss(warped, warped, reliable) == 0
    shifted = warped + 0.1
    assert temporal_loss(shifted, warped, reliable).item() == pytest.approx(0.01 / 2)  # 1/D Σ c (x − ω)², half c = 1
    occluded_only = warped.clone()
    occluded_only[..., :4] += 0.5  # changes only where c = 0
    assert temporal_loss(occluded_only, warped, reliable) == 0


def test_video_size_is_the_config_size_rounded_down_to_even() -> None:
    assert video_size((480, 854), StyleConfig(size=256)) == (144, 256)
    assert video_size((31, 45), StyleConfig(size=45)) == (30, 44)


def test_settings_video_cannot_use_are_refused_before_any_work(tmp_path: Path) -> None:
    frames = open_frames(write_frames(tmp_path / "clip"))
    for config, options in [(StyleConfig(scales=(16,)), {}), (CONFIG, {"steps_later": 0})]:
        with pytest.raises(StyleConfigError, match="not supported for video|at least 1"):
            stylize_video(frames, [], config, **options)


@needs_weights
def test_every_frame_comes_out_at_the_output_size(tmp_path: Path, style: torch.Tensor, vgg: Backbone) -> None:
    results = run(write_frames(tmp_path / "clip"), style, vgg, steps_later=1)
    assert [r.index for r in results] == [0, 1, 2] and [r.steps for r in results] == [2, 1, 1]
    for r in results:
        assert r.image.shape == r.content.shape == (1, 3, SIDE, SIDE)
        assert 0 <= r.image.min() and r.image.max() <= 1
    assert results[0].temporal == 0 and all(r.temporal >= 0 for r in results[1:])


@needs_weights
def test_later_frames_start_from_the_warped_previous_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, style: torch.Tensor, vgg: Backbone
) -> None:
    starts, extras = [], []
    real = video.optimise

    def recording(vgg, init, targets, config, steps, record, *, extra_loss):  # noqa: ANN001, ANN202
        starts.append(init)
        extras.append(extra_loss)
        return real(vgg, init, targets, config, steps, record, extra_loss=extra_loss)

    monkeypatch.setattr(video, "optimise", recording)
    results = run(write_frames(tmp_path / "clip", range(2)), style, vgg)
    flow, reliable = frame_flow(results[0].content, results[1].content)
    assert 0 < reliable.mean() < 1  # the moving square disoccludes background
    warped = warp(results[0].image, flow)
    expected = reliable * warped + (1 - reliable) * results[1].content
    torch.testing.assert_close(starts[1], expected)
    assert extras[0] is None
    assert extras[1](warped) == 0 and extras[1](warped + 0.1) > 0  # γ L_temporal against ω = the warp


@needs_weights
def test_independent_frames_ignore_the_previous_one(tmp_path: Path, style: torch.Tensor, vgg: Backbone) -> None:
    together = run(write_frames(tmp_path / "clip", range(2)), style, vgg, independent=True)
    alone = run(write_frames(tmp_path / "last", [1]), style, vgg, independent=True)
    assert [r.steps for r in together] == [2, 2] and all(r.temporal == 0 for r in together)
    torch.testing.assert_close(together[1].image, alone[0].image)
