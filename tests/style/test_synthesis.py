"""The synthesis engine: settings, targets, coarse-to-fine, memory refusal, and eq. 7 going down."""

from pathlib import Path

import pytest
import torch
from helpers import needs_weights

from semvis.assets import sample_path
from semvis.backbones import create_backbone
from semvis.errors import DeviceError, SemvisError
from semvis.progress import ProgressUpdate
from semvis.style import memory, synthesis
from semvis.style.color import rgb_to_yiq
from semvis.style.losses import blend_grams, gram_matrix, layer_style_loss, total_loss
from semvis.style.synthesis import StyleConfig, StyleConfigError, parse_layers, stylize


@pytest.fixture(scope="module")
def random_vgg() -> torch.nn.Module:
    """VGG-19 with random weights up to relu5_1: fast, and enough for everything but convergence."""
    torch.manual_seed(0)
    extractor = create_backbone("vgg19", pooling="avg", features=["relu5_1"])
    return extractor.backbone.eval().requires_grad_(False).to(memory_format=torch.channels_last)


@pytest.fixture
def use_random_vgg(monkeypatch: pytest.MonkeyPatch, random_vgg: torch.nn.Module) -> torch.nn.Module:
    monkeypatch.setattr(synthesis, "load_vgg", lambda config: random_vgg)
    return random_vgg


def image(seed: int, h: int = 40, w: int = 48) -> torch.Tensor:
    return torch.rand((1, 3, h, w), generator=torch.Generator().manual_seed(seed))


def test_layer_weights_parse_and_default_to_one_over_count() -> None:
    assert parse_layers("relu1_1:0.2, relu2_1") == {"relu1_1": 0.2, "relu2_1": 0.5}
    assert parse_layers(["relu4_2"]) == {"relu4_2": 1.0}
    assert StyleConfig().style_layers == {f"relu{b}_1": 0.2 for b in range(1, 6)}  # eq. 5: w_l = 1/5
    assert StyleConfig().content_layers == {"relu4_2": 1.0}
    with pytest.raises(StyleConfigError, match="not a number"):
        parse_layers("relu1_1:lots")


def test_unknown_layer_names_the_valid_ones() -> None:
    with pytest.raises(StyleConfigError) as info:
        StyleConfig(style_layers="relu1_1,relu9_9")
    message = str(info.value)
    assert "relu9_9" in message and "relu4_2" in message and "conv5_4" in message and "pool3" in message


@pytest.mark.parametrize("settings", [dict(size=0), dict(size=-3), dict(size=8), dict(pixels=100), dict(scales=(8,))])
def test_impossible_sizes_are_one_clear_error(settings: dict) -> None:
    with pytest.raises(StyleConfigError, match="16 px|≥ 256"):
        StyleConfig(**settings)


def test_a_side_below_16_px_is_refused() -> None:
    with pytest.raises(StyleConfigError, match="at least 16 px"):
        StyleConfig(size=64).stage_sizes((10, 1000))


def test_stage_sizes_and_step_split() -> None:
    config = StyleConfig(scales=(32, 64), steps=30)
    assert config.stage_sizes((300, 400)) == [(24, 32), (48, 64)]
    assert config.stage_steps(2) == [20, 10]  # each coarser stage twice the next finer one's
    assert StyleConfig(scales=(16, 32, 64), steps=10).stage_steps(3) == [5, 2, 3]
    assert StyleConfig(size=100, scales=(50,)).stage_sizes((50, 100)) == [(25, 50), (50, 100)]
    with pytest.raises(StyleConfigError, match="exceed"):
        StyleConfig(size=64, scales=(128,)).stage_sizes((64, 64))


def test_alpha_beta_from_ratio_or_explicit() -> None:
    assert (StyleConfig().alpha, StyleConfig().beta) == (1.0, 1000.0)
    assert StyleConfig(ratio=1e-4).beta == pytest.approx(1e4)
    assert StyleConfig(content_weight=2.0, style_weight=5.0).beta == 5.0


def test_gram_loss_has_the_value_and_gradient_of_eq4() -> None:
    torch.manual_seed(0)
    features = torch.relu(torch.randn(1, 16, 6, 7)).to(memory_format=torch.channels_last).requires_grad_()
    for target in (gram_matrix(torch.rand(1, 16, 5, 9)) * 0.5, torch.rand(1, 16, 16) * 10):  # symmetric or not
        ours = synthesis.gram_loss(features, target)
        reference = layer_style_loss(features, target)
        torch.testing.assert_close(ours, reference)
        torch.testing.assert_close(
            torch.autograd.grad(ours, features)[0], torch.autograd.grad(reference, features)[0], rtol=1e-4, atol=1e-9
        )


def test_several_styles_blend_to_the_explicitly_blended_gram(random_vgg: torch.nn.Module) -> None:
    config = StyleConfig(style_blend=(0.7, 0.3))
    content, first, second = image(0), image(1, 48, 40), image(2, 40, 48)
    blended = synthesis.compute_targets(random_vgg, content, [first, second], config).grams[0]
    singles = [synthesis.compute_targets(random_vgg, content, [s], StyleConfig()).grams[0] for s in (first, second)]
    expected = blend_grams(singles, (0.7, 0.3))
    for name in config.style_layers:
        torch.testing.assert_close(blended[name], expected[name])


def test_style_gram_is_rescaled_to_the_generated_size(random_vgg: torch.nn.Module) -> None:
    """A^l = G^l(style) · M_l / M_l(style): eq. 4 then compares sums over equally many positions."""
    content, style = image(0, 32, 32), image(3, 64, 64)
    targets = synthesis.compute_targets(random_vgg, content, [style], StyleConfig(style_scale=2.0)).grams[0]
    feats = random_vgg.forward_features(style, list(synthesis.STYLE_LAYERS))
    for name, f in feats.items():
        positions = (32 // random_vgg.feature_info[name].reduction) ** 2
        torch.testing.assert_close(targets[name], gram_matrix(f) * positions / f[0, 0].numel())


def test_targets_are_computed_once_per_scale(monkeypatch: pytest.MonkeyPatch, use_random_vgg: torch.nn.Module) -> None:
    calls = {"targets": 0, "steps": 0}
    real = use_random_vgg.forward_features

    def counting(x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        calls["targets" if torch.is_inference_mode_enabled() else "steps"] += 1
        return real(x, layers)

    monkeypatch.setattr(use_random_vgg, "forward_features", counting)
    config = StyleConfig(scales=(32, 48), steps=6)
    result = stylize(image(0), [image(1), image(2)], config)
    assert calls == {"targets": 2 * (1 + 2), "steps": 6}  # per scale: content + 2 styles; then 1 per step
    assert len(result.history) == 6 and [r.stage for r in result.history] == [0] * 4 + [1] * 2


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, use_random_vgg: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(start, result) of every stage that :func:`stylize` optimises."""
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = synthesis.optimise

    def recording(vgg, init, targets, config, steps, record, **kwargs):  # noqa: ANN001, ANN003, ANN202
        out = real(vgg, init, targets, config, steps, record, **kwargs)
        calls.append((init, out))
        return out

    monkeypatch.setattr(synthesis, "optimise", recording)
    return calls


def test_coarse_to_fine_starts_each_scale_from_the_upsampled_result(runs: list) -> None:
    result = stylize(image(0), [image(1)], StyleConfig(scales=(24, 48), steps=4, seed=3, init="noise"))
    assert [tuple(init.shape[-2:]) for init, _ in runs] == [(20, 24), (40, 48)]
    torch.testing.assert_close(runs[0][0], torch.rand((1, 3, 20, 24), generator=torch.Generator().manual_seed(3)))
    torch.testing.assert_close(runs[1][0], synthesis.resize(runs[0][1], (40, 48)))
    torch.testing.assert_close(result.image, runs[1][1])


def test_coarse_to_fine_from_the_photo_upsamples_only_the_change(runs: list) -> None:
    photo = image(0)
    stylize(photo, [image(1)], StyleConfig(scales=(24, 48), steps=4))
    coarse = synthesis.resize(photo, (20, 24))
    torch.testing.assert_close(runs[0][0], coarse)
    change = synthesis.resize(runs[0][1] - coarse, (40, 48))
    torch.testing.assert_close(runs[1][0], (photo + change).clamp(0, 1))  # the photo's detail is kept
    assert (runs[1][0] - synthesis.resize(runs[0][1], (40, 48))).abs().max() > 0.1  # unlike plain upsampling


def test_memory_estimate_grows_with_size_and_history() -> None:
    small = memory.estimate_memory((256, 256), synthesis.STYLE_LAYERS)
    large = memory.estimate_memory((512, 512), synthesis.STYLE_LAYERS)
    assert 3.5 < large.activations / small.activations <= 4.0
    assert large.optimizer == 4 * 3 * 512 * 512 * (2 * 100 + 4)
    shallow = memory.estimate_memory((512, 512), ["relu1_1"])
    assert shallow.activations < large.activations / 4 and shallow.weights < 10_000


def test_too_large_a_size_is_refused_with_the_estimate(
    monkeypatch: pytest.MonkeyPatch, use_random_vgg: torch.nn.Module
) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 512 * 1024**2)
    monkeypatch.setattr(synthesis, "load_vgg", lambda config: pytest.fail("the network must not be built"))
    with pytest.raises(SemvisError) as info:
        stylize(image(0), [image(1)], StyleConfig(size=4000, steps=1))
    message = str(info.value)
    estimate = memory.estimate_memory((3333, 4000), synthesis.STYLE_LAYERS + ("relu4_2",), style_sizes=[(3333, 4000)])
    assert f"{estimate.total / memory.GIB:.1f} GiB" in message and "only 0.5 GiB is available" in message


def test_available_memory_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:    2048 kB\n")
    assert memory.available_memory(meminfo) == 2048 * 1024
    assert memory.available_memory(tmp_path / "missing") != 0  # falls back to sysconf (or None)


def test_bad_inputs_are_clear_errors(tmp_path: Path, use_random_vgg: torch.nn.Module) -> None:
    with pytest.raises(SemvisError, match="missing.png: file not found"):
        stylize(image(0), [tmp_path / "missing.png"], StyleConfig(size=32, steps=1))
    with pytest.raises(StyleConfigError, match="no style image"):
        stylize(image(0), [], StyleConfig(size=32, steps=1))
    with pytest.raises(StyleConfigError, match="2 style images but 3 blend weights"):
        stylize(image(0), [image(1), image(2)], StyleConfig(size=32, style_blend=(1, 1, 1)))


def test_region_masks_use_one_style_per_region(use_random_vgg: torch.nn.Module) -> None:
    """A mask giving the whole image to style 0 reproduces the unmasked loss with style 0 alone."""
    config = StyleConfig(size=48, steps=1)
    content, first, second, x = image(0), image(1), image(2), image(5)
    masks = torch.stack([torch.ones(40, 48), torch.zeros(40, 48)])
    masked = synthesis.compute_targets(use_random_vgg, content, [first, second], config, masks)
    plain = synthesis.compute_targets(use_random_vgg, content, [first], config)
    loss_masked = synthesis.objective(use_random_vgg, x, masked, config)
    loss_plain = synthesis.objective(use_random_vgg, x, plain, config)
    torch.testing.assert_close(loss_masked.style, loss_plain.style, rtol=1e-4, atol=0)
    result = stylize(content, [first, second], StyleConfig(size=48, steps=3), masks=masks)
    assert len(result.history) == 3
    with pytest.raises(StyleConfigError, match="one R×H×W mask per style"):
        stylize(content, [first], config, masks=masks)


def test_color_preservation(use_random_vgg: torch.nn.Module) -> None:
    content = image(0) * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1)
    style = image(1)
    lum = stylize(content, [style], StyleConfig(size=48, steps=2, preserve_color="luminance"))
    # method 2: the result's chrominance (I, Q) is the photograph's wherever RGB was not clamped
    inside = ((lum.image > 1e-3) & (lum.image < 1 - 1e-3)).all(1, keepdim=True).expand(-1, 2, -1, -1)
    assert inside.float().mean() > 0.5
    iq_result, iq_content = rgb_to_yiq(lum.image)[:, 1:], rgb_to_yiq(content)[:, 1:]
    torch.testing.assert_close(iq_result[inside], iq_content[inside], atol=1e-4, rtol=0)
    _, styles = synthesis.prepare_colors(content, [style], "histogram")
    # method 1: the style image takes the photograph's colour mean
    torch.testing.assert_close(styles[0].mean((2, 3)), content.mean((2, 3)), atol=0.02, rtol=0)
    _, gray = synthesis.prepare_colors(content, [style], "luminance")
    assert torch.equal(gray[0][:, 0], gray[0][:, 2])


def test_snapshots_adam_and_projection(tmp_path: Path, use_random_vgg: torch.nn.Module) -> None:
    seen: list[int] = []
    config = StyleConfig(size=32, steps=4, optimizer="adam", snapshot_every=2, snapshot_dir=tmp_path, project=True)
    result = stylize(image(0), [image(1)], config, on_snapshot=lambda step, img: seen.append(step))
    assert seen == [2, 4] and sorted(p.name for p in tmp_path.iterdir()) == ["step_00002.png", "step_00004.png"]
    assert len(result.history) == 4 and 0 <= result.image.min() and result.image.max() <= 1


@pytest.mark.parametrize("line_search", ["strong_wolfe", "none"])
def test_a_step_is_one_evaluation_of_eq7(line_search: str, use_random_vgg: torch.nn.Module) -> None:
    config = StyleConfig(size=32, steps=5, line_search=line_search)
    result = stylize(image(0), [image(1)], config)
    assert [r.step for r in result.history] == [1, 2, 3, 4, 5]
    assert all(a.seconds < b.seconds for a, b in zip(result.history, result.history[1:]))
    for r in result.history:  # every record is eq. 7 of its terms
        expected = total_loss(torch.tensor(r.content), torch.tensor(r.style), config.alpha, config.beta)
        assert r.total == pytest.approx(expected.item(), rel=1e-5)


def test_the_result_is_the_best_evaluated_image(use_random_vgg: torch.nn.Module) -> None:
    config = StyleConfig(size=32, steps=3, optimizer="adam", lr=50.0)  # far too large: the loss goes up
    result = stylize(image(0), [image(1)], config)
    totals = [r.total for r in result.history]
    assert totals[0] == min(totals) < totals[-1]
    torch.testing.assert_close(result.image, synthesis.initial_image(config, image(0), (27, 32)))


@needs_weights
@pytest.mark.slow
def test_eq7_falls_with_the_real_weights() -> None:
    config = StyleConfig(size=48, steps=40, init="noise")
    result = stylize(sample_path("chelsea"), [sample_path("starry_night")], config)
    totals = [r.total for r in result.history]
    assert totals[-1] < 0.2 * totals[0]
    assert totals[-1] == min(totals[-5:]) or totals[-1] < 1.05 * min(totals)  # monotone-ish at the end
    assert result.image.shape == (1, 3, 32, 48)


def test_progress_reports_every_step_with_the_stage_size(use_random_vgg: torch.nn.Module) -> None:
    updates: list[ProgressUpdate] = []
    stylize(image(0), [image(1)], StyleConfig(scales=(24, 48), steps=4), progress=updates.append)
    assert [(u.task, u.done, u.total) for u in updates] == [("stylize", step, 4) for step in range(1, 5)]
    assert updates[0].status.startswith("24×20 total ") and updates[-1].status.startswith("48×40 total ")


def test_the_device_argument_is_resolved_and_the_network_moved_there(
    monkeypatch: pytest.MonkeyPatch, use_random_vgg: torch.nn.Module
) -> None:
    asked: list[object] = []
    moved: list[torch.device] = []
    monkeypatch.setattr(synthesis, "resolve_device", lambda spec: asked.append(spec) or torch.device("cpu"))
    monkeypatch.setattr(use_random_vgg, "to", lambda device: moved.append(device) or use_random_vgg)
    result = stylize(image(0), [image(1)], StyleConfig(size=32, steps=1), device="cuda:1")
    assert asked == ["cuda:1"] and moved == [torch.device("cpu")] and result.image.device.type == "cpu"


def test_an_absent_device_is_refused_before_the_network_is_built(
    monkeypatch: pytest.MonkeyPatch, use_random_vgg: torch.nn.Module
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(synthesis, "load_vgg", lambda config: pytest.fail("the network must not be built"))
    with pytest.raises(DeviceError, match=r"cuda requested but torch\.cuda\.is_available\(\) is False"):
        stylize(image(0), [image(1)], StyleConfig(size=32, steps=1), device="cuda")
