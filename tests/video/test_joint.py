"""DFF trained end to end on frame pairs: the pair sampler, the Table 3 variants' frozen parts, the saved N + F."""

from __future__ import annotations

import pytest
import torch
from helpers import davis_like, needs_weights, run_cli

from semvis.train.cache import CachedSplit
from semvis.video import FixedInterval, run_video
from semvis.video.files import load_video_model
from semvis.video.flow_train import save_flownet
from semvis.video.flownet import FlowNet, build_flownet
from semvis.video.joint import DavisPairs, dff_from_parts, train_dff
from semvis.video.train import DavisData, DavisFrames, davis_split, train_frame_network


def test_a_pair_keeps_its_key_frame_at_most_max_gap_back_in_the_same_clip(tmp_path) -> None:
    root = davis_like(tmp_path / "davis", names=("a", "b"), frames=8)
    clips, _ = davis_split(root, tail=0.25)  # 6 training frames per sequence
    frames = DavisFrames(clips, scale=0.5)
    n = len(frames)
    index_maps = torch.arange(n, dtype=torch.float16).view(n, 1, 1, 1).expand(n, 2, 3, 4)  # maps that name their frame
    pairs = DavisPairs(clips, 0.5, CachedSplit(index_maps, torch.zeros(n, 24, 32, dtype=torch.uint8)), max_gap=3)
    torch.manual_seed(0)
    gaps = set()
    for _ in range(12):
        for i in range(len(pairs)):
            (maps, key_frame, frame), mask = pairs[i]
            key = int(maps[0, 0, 0])
            gaps.add(i - key)
            assert 0 <= i - key <= 3 and key // 6 == i // 6  # never reaches into the previous clip
            assert torch.equal(key_frame, frames[key][0]) and torch.equal(frame, frames[i][0])
    assert gaps == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="the cache holds 3 frames, the clips 12"):
        DavisPairs(clips, 0.5, CachedSplit(index_maps[:3], torch.zeros(3, 24, 32, dtype=torch.uint8)))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A DAVIS-like root, Frame's N trained on its first frames, and a random FlowNet Half file."""
    tmp = tmp_path_factory.mktemp("joint")
    root = davis_like(tmp / "davis", names=("a", "b"), frames=6)
    torch.manual_seed(0)
    train_frame_network(DavisData(root, 1.0, tail=0.34), tmp / "frame", epochs=2, batch_size=2, lr=0.01, log_every=1000)
    flow = save_flownet(build_flownet("half"), tmp / "flow.safetensors", {})
    return root, tmp / "frame" / "model.safetensors", flow


def _trained(parts, tmp_path, variant: str):
    root, frame, flow = parts
    torch.manual_seed(0)
    model, results = train_dff(
        DavisData(root, 1.0, tail=0.34),
        frame,
        flow,
        tmp_path / variant,
        variant,
        epochs=2,
        batch_size=2,
        log_every=1000,
    )
    return model, results


@needs_weights
@pytest.mark.parametrize(("variant", "n_trains", "f_trains"), [("fix-n", False, True), ("fix-f", True, False)])
def test_a_fixed_part_stays_as_it_started(parts, tmp_path, variant, n_trains, f_trains) -> None:
    start = dff_from_parts(parts[1], parts[2])
    model, results = _trained(parts, tmp_path, variant)
    assert results["epoch"] == 2
    for name, trains in (("features.conv", n_trains), ("task", n_trains), ("flow", f_trains)):
        before, after = start.get_submodule(name).state_dict(), model.get_submodule(name).state_dict()
        changed = any(not torch.equal(value, after[key]) for key, value in before.items())
        assert changed == trains, f"{variant}: {name} {'did not train' if trains else 'changed'}"


@needs_weights
def test_the_saved_model_carries_its_flow_network_and_runs_algorithm_1(parts, tmp_path) -> None:
    model, _ = _trained(parts, tmp_path, "dff")
    loaded, labels = load_video_model(tmp_path / "dff" / "model.safetensors")
    assert isinstance(loaded.flow, FlowNet) and loaded.flow.name == "half" and loaded.flow.scale_channels == 1024
    _, test = davis_split(parts[0], tail=0.34)
    frames = [frame for frame, _ in DavisFrames(test, scale=1.0)]
    results = list(run_video(loaded, frames, FixedInterval(2)))  # the model's own F between key frames
    expected = list(run_video(model.eval(), frames, FixedInterval(2)))
    assert [r.key for r in results] == [True, False, True, False]
    for got, want in zip(results, expected, strict=True):
        assert (got.labels == want.labels).float().mean() > 0.99  # fp16 file


def test_an_unknown_variant_and_a_missing_file_are_named(capsys, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown variant 'fix-both'"):
        train_dff(DavisData(tmp_path), "n.safetensors", "f.safetensors", tmp_path / "run", "fix-both")
    code, _, err = run_cli(
        capsys, "train", "dff", "--data", str(tmp_path), "--frame-weights", str(tmp_path / "n.safetensors"),
        "--flow-weights", str(tmp_path / "f.safetensors"), "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == 2 and "n.safetensors" in err
