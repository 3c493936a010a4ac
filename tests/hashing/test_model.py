from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from semvis.errors import SemvisError, WeightsError
from semvis.hashing import (
    ImageEncoder,
    SemanticHashNet,
    load_hashnet,
    parameter_counts,
    save_hashnet,
    square_crop,
)

# (in, out) channels of VGG-19's 3×3 convolutions conv1_1 … conv4_4, each with a bias
VGG19_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), *[(256, 256)] * 3, (256, 512), *[(512, 512)] * 3]
VGG19_TO_CONV4_4 = sum(9 * i * o + o for i, o in VGG19_CONVS)


def small_net(**kwargs: object) -> SemanticHashNet:
    torch.manual_seed(0)
    return SemanticHashNet(**{"num_classes": 5, "hidden": 32, **kwargs}).eval()


def test_paper_network_shapes_and_fc_sizes() -> None:
    torch.manual_seed(0)
    model = SemanticHashNet(num_classes=101, num_seg_classes=21).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.inference_mode():
        assert model.trunk(x)["relu4_4"].shape == (1, 512, 28, 28)
        assert model.features(x).shape == (1, 1024, 28, 28)
        out = model(x, segmentation=True)
    assert out.hash_probs.shape == (1, 48) and ((out.hash_probs > 0) & (out.hash_probs < 1)).all()
    assert out.logits.shape == (1, 101) and out.seg_logits.shape == (1, 21, 224, 224)
    counts = parameter_counts(model)
    assert counts["trunk.backbone"] == VGG19_TO_CONV4_4
    assert counts["psp.branches"] == 4 * (512 * 128 + 2 * 128)  # 1×1 conv (no bias) + BN
    assert counts["hash_head.fc6"] == 1024 * 4096 + 4096
    assert counts["hash_head.fc7"] == 4096 * 4096 + 4096
    assert counts["hash_head.latent"] == 4096 * 48 + 48
    assert counts["hash_head.classifier"] == 48 * 101 + 101
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")


def test_pool_grid_sets_the_width_of_fc6() -> None:
    model = small_net(pool_grid=2)
    assert model.hash_head.fc6.in_features == 1024 * 4
    with torch.inference_mode():
        assert model(torch.rand(2, 3, 32, 32)).hash_probs.shape == (2, 48)


def test_baseline_is_lin_et_al_without_psp() -> None:
    model = small_net(baseline=True, bits=16)
    assert model.psp is None and model.seg_head is None
    assert model.hash_head.fc6.in_features == 512
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 32, 32))
    assert out.hash_probs.shape == (1, 16) and out.seg_logits is None
    with pytest.raises(ValueError, match="no segmentation head"):
        model.segment(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="baseline"):
        SemanticHashNet(num_classes=5, baseline=True, num_seg_classes=3)


def test_training_mode_batch_for_a_trainer() -> None:
    model = small_net(num_seg_classes=3).train()
    x = torch.rand(2, 3, 32, 32)
    out = model(x, segmentation=True)
    loss = torch.nn.functional.cross_entropy(out.seg_logits, torch.randint(0, 3, (2, 32, 32)))
    loss = loss + torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 4]))
    loss.backward()
    assert model.psp.branches[0].conv.conv.weight.grad is not None
    assert model.segment(x).shape == (2, 3, 32, 32)


def test_xception_trunk_at_output_stride_8() -> None:
    model = small_net(backbone="xception")
    assert model.feature_layer == "entry3"
    with torch.inference_mode():
        assert model.features(torch.rand(1, 3, 224, 224)).shape == (1, 728 + 4 * 182, 28, 28)
    assert small_net(backbone="xception", feature_layer="entry2").psp.out_channels == 512


def test_final_features_are_the_last_stage_at_stride_32() -> None:
    model = small_net(backbone="mobilenet_v2", feature_layer="final")
    assert model.feature_layer == "conv_last" and model.config["feature_layer"] == "conv_last"
    with torch.inference_mode():
        assert model.trunk(torch.rand(1, 3, 64, 64))["conv_last"].shape == (1, 1280, 2, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 40}, "bits must be one of"),
        ({"backbone": "resnet"}, "backbone must be one of"),
        ({"pool_grid": 0}, "positive"),
        ({"feature_layer": "conv9_9"}, "no layer"),
    ],
)
def test_invalid_configurations(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small_net(**kwargs)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = small_net(num_seg_classes=3, bits=32, pool_grid=2)
    path = save_hashnet(model, tmp_path / "h.safetensors", half=False)
    loaded = load_hashnet(path).eval()
    assert loaded.config == model.config and loaded.input_spec == model.input_spec
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x).hash_probs, model(x).hash_probs)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(1)}, str(other))
    with pytest.raises(WeightsError, match="not a SemanticHashNet"):
        load_hashnet(other)
    with pytest.raises(WeightsError, match="no such weight file"):
        load_hashnet(tmp_path / "missing.safetensors")


def test_square_crop_takes_the_centre() -> None:
    img = Image.new("RGB", (90, 30), (255, 0, 0))
    img.paste((0, 255, 0), (30, 0, 60, 30))  # the centred 30×30 square is green
    out = square_crop(img, 16)
    assert out.size == (16, 16)
    assert np.asarray(out)[:, :, 1].min() > 200


def test_encoder_codes_carry_the_model_fingerprint(tmp_path: Path) -> None:
    model = small_net()
    paths = []
    for i, colour in enumerate([(250, 10, 10), (10, 250, 10), (10, 10, 250)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (50 + 10 * i, 40), colour).save(paths[-1])
    encoder = ImageEncoder(model, bits=48, input_size=32, batch_size=2)
    codes = encoder.encode(paths)
    assert codes.packed.shape == (3, 6) and codes.fingerprint.startswith("state-sha256:")
    assert np.array_equal(encoder.encode(paths[::-1]).packed, codes.packed[::-1])
    weights = save_hashnet(model, tmp_path / "h.safetensors")
    from_file = ImageEncoder(weights, input_size=32)
    assert from_file.fingerprint.startswith("sha256:") and from_file.fingerprint != codes.fingerprint
    assert len(from_file.encode([])) == 0
    with pytest.raises(SemvisError, match="48-bit codes, not 64"):
        ImageEncoder(model, bits=64)
