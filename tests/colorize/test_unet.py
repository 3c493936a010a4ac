from pathlib import Path

import pytest
import torch
from safetensors.torch import save_model as save_plain_safetensors
from torch import nn

from semvis.colorize import SemanticColorizer, SemanticInput, load_colorizer, save_colorizer
from semvis.colorize.unet import ConvLayer, pad_to_stride
from semvis.errors import WeightsError


def inputs(h: int = 32, w: int = 48, classes: int = 11, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 1, h, w, generator=g) * 2 - 1, torch.randint(0, classes, (2, h, w), generator=g)


def small(**kwargs: object) -> SemanticColorizer:
    torch.manual_seed(0)
    return SemanticColorizer(width=4, **kwargs)


def test_depths_kernels_and_activations_of_every_layer() -> None:
    model = SemanticColorizer()
    enc = [(layer.conv1.out_channels, layer.conv2.out_channels) for layer in model.encoder]
    dec = [(layer.conv1.out_channels, layer.conv2.out_channels) for layer in model.decoder]
    assert enc == [(32, 32), (64, 64), (128, 128), (256, 256), (512, 512)]
    assert dec == [(1024, 1024), (512, 512), (256, 256), (128, 128), (64, 64)]
    # first layer reads one channel; decoder convs after a skip read their depth twice
    assert model.encoder[0].conv1.in_channels == 1
    assert [layer.conv2.in_channels for layer in model.decoder] == [1024, 1024, 512, 256, 128]
    for layer in [*model.encoder, *model.decoder]:
        assert layer.conv1.kernel_size == layer.conv2.kernel_size == (3, 3)
        assert isinstance(layer.act, nn.LeakyReLU) and layer.act.negative_slope == 0.01
    assert model.to_ab.kernel_size == (1, 1) and model.to_ab.out_channels == 2
    assert sum(isinstance(m, ConvLayer) for m in model.modules()) == 10


def test_resampling_positions() -> None:
    model = SemanticColorizer()
    assert [layer.conv1.stride for layer in model.encoder] == [(1, 1)] + [(2, 2)] * 4
    assert not isinstance(model.decoder[0].conv1, nn.ConvTranspose2d) and model.decoder[0].conv1.stride == (1, 1)
    assert all(isinstance(layer.conv1, nn.ConvTranspose2d) for layer in model.decoder[1:])
    assert [layer.conv1.stride for layer in model.decoder[1:]] == [(2, 2)] * 4
    assert all(layer.conv2.stride == (1, 1) for layer in [*model.encoder, *model.decoder])


def test_feature_sizes_along_the_u() -> None:
    model = small()
    sizes: list[tuple[int, ...]] = []
    for layer in [*model.encoder, *model.decoder]:
        layer.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[-2:])))
    model(*inputs(64, 96))
    gray = [(64, 96), (32, 48), (16, 24), (8, 12), (4, 6)]
    assert sizes == gray + gray + gray[::-1]  # gray stream, semantic stream, decoder


def test_one_encoder_serves_both_streams() -> None:
    model = small()
    luma, labels = inputs()
    calls: list[torch.Tensor] = []
    model.encoder[0].register_forward_hook(lambda _m, args, _out: calls.append(args[0]))
    model(luma, labels)
    assert len(calls) == 2
    assert torch.equal(calls[0], luma) and torch.equal(calls[1], model.semantic(labels))
    assert all(
        not isinstance(m, nn.Conv2d) or m.in_channels != 1 or m is model.encoder[0].conv1 for m in model.modules()
    )

    before_g, before_s = model.encode(luma), model.encode(model.semantic(labels))
    with torch.no_grad():
        model.encoder[2].conv2.weight.mul_(1.5)
    after_g, after_s = model.encode(luma), model.encode(model.semantic(labels))
    for k in range(5):
        changed = k >= 2
        assert (not torch.equal(before_g[k], after_g[k])) == changed
        assert (not torch.equal(before_s[k], after_s[k])) == changed


def skips_seen_by_decoder(model: SemanticColorizer, luma: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
    """The skip tensor of each decoder layer (layer 1's is its input), deepest first."""
    seen: list[torch.Tensor] = []
    for layer in model.decoder:
        layer.register_forward_pre_hook(lambda _m, args: seen.append(args[-1]))
    model(luma, labels)
    return seen


def test_instance_norm_on_gray_features_only_right_before_concatenation() -> None:
    model = small()
    luma, labels = inputs()
    norm_inputs: list[torch.Tensor] = []
    for norm in model.norms:
        assert isinstance(norm, nn.InstanceNorm2d)
        norm.register_forward_pre_hook(lambda _m, args: norm_inputs.append(args[0]))
    skips = skips_seen_by_decoder(model, luma, labels)
    gray, sem = model.encode(luma), model.encode(model.semantic(labels))
    assert len(norm_inputs) == 5
    for k in range(5):
        assert torch.equal(norm_inputs[k], gray[k])  # IN sees the gray stream, never the semantic one
        skip, depth = skips[4 - k], gray[k].shape[1]
        assert skip.shape[1] == 2 * depth
        assert torch.allclose(skip[:, :depth], nn.functional.instance_norm(gray[k]), atol=1e-6)
        assert torch.equal(skip[:, depth:], sem[k])  # semantic features enter unnormalised


def test_without_instance_norm_there_is_none_and_the_skip_is_raw() -> None:
    model = small(instance_norm=False)
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in model.modules())
    luma, labels = inputs()
    skips = skips_seen_by_decoder(model, luma, labels)
    gray, sem = model.encode(luma), model.encode(model.semantic(labels))
    for k in range(5):
        assert torch.equal(skips[4 - k], torch.cat([gray[k], sem[k]], dim=1))


def test_output_is_two_channels_in_tanh_range() -> None:
    model = small()
    with torch.no_grad():
        model.to_ab.bias.fill_(5.0)
    out = model(*inputs())
    assert out.shape == (2, 2, 32, 48)
    assert out.min() >= -1 and out.max() <= 1 and out.max() > 0.99


@pytest.mark.parametrize("size", [(37, 45), (20, 7), (33, 16)])
def test_any_size_is_padded_and_cropped_back(size: tuple[int, int]) -> None:
    model = small()
    luma, labels = inputs(*size)
    assert model(luma, labels).shape == (2, 2, *size)


def test_padding_reflects_then_replicates_for_short_sides() -> None:
    x = torch.arange(18.0).view(1, 1, 1, 18).expand(1, 1, 3, 18)
    padded = pad_to_stride(x)
    assert padded.shape == (1, 1, 16, 32)
    assert padded[0, 0, 0, 18:].tolist() == [16.0 - i for i in range(14)]  # reflect along the width
    assert torch.equal(padded[0, 0, 3:, :18], x[0, 0, 2:3].expand(13, 18))  # replicate: 3 rows < 13


def test_shape_mismatch_is_refused() -> None:
    luma, labels = inputs()
    with pytest.raises(ValueError, match="labels B×H×W"):
        small()(luma, labels[:, :-1])


def test_semantic_scalar_scaling_and_void() -> None:
    sem = SemanticInput(11)
    labels = torch.tensor([[[0, 5, 10, 11, 255, -1]]])
    assert torch.allclose(sem(labels)[0, 0, 0], torch.tensor([-1.0, 0.0, 1.0, -1.2, -1.2, -1.2]), atol=1e-6)
    assert "values" not in sem.state_dict()


def test_semantic_embedding_is_learned_and_starts_at_the_scalars() -> None:
    emb, scalar = SemanticInput(11, "embedding"), SemanticInput(11)
    assert isinstance(emb.values, nn.Parameter) and emb.values.shape == (12,)
    labels = torch.randint(0, 12, (1, 8, 8))
    assert torch.equal(emb(labels), scalar(labels))
    emb(labels).sum().backward()
    assert emb.values.grad is not None and emb.values.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="semantic"):
        SemanticInput(11, "onehot")  # type: ignore[arg-type]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = small(semantic="embedding", instance_norm=False, num_classes=5)
    path = save_colorizer(model, tmp_path / "c.safetensors")
    loaded = load_colorizer(path)
    assert loaded.config == model.config and not loaded.training
    luma, labels = inputs(classes=5)
    assert torch.allclose(loaded(luma, labels), model(luma, labels), atol=5e-3)


def test_loading_foreign_or_missing_weights_is_a_weights_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such weight file"):
        load_colorizer(tmp_path / "missing.safetensors")
    foreign = tmp_path / "foreign.safetensors"
    save_plain_safetensors(nn.Linear(2, 2), str(foreign))
    with pytest.raises(WeightsError, match="not a colorizer weight file"):
        load_colorizer(foreign)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_colorizer(junk)
