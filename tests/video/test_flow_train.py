"""Flow-network pre-training on synthetic pairs: the EPE loss, a run that learns, the saved file as a flow function."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.errors import WeightsError
from semvis.video import FlowEstimate
from semvis.video.chairs import SyntheticPairs
from semvis.video.flow_train import FlowNetFlow, flow_loss, load_flownet, save_flownet, train_flownet
from semvis.video.flownet import build_flownet, resize_flow


class _Constant(torch.nn.Module):
    """A flow 'network' predicting one learnable vector everywhere at stride 8."""

    def __init__(self) -> None:
        super().__init__()
        self.vector = torch.nn.Parameter(torch.zeros(2))

    def forward(self, current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
        b, _, h, w = current.shape
        return FlowEstimate(self.vector[None, :, None, None].expand(b, 2, h // 8, w // 8), None)


def test_the_loss_is_the_epe_on_the_flows_grid() -> None:
    model = _Constant()
    with torch.no_grad():
        model.vector.copy_(torch.tensor([1.0, 0.0]))
    frames = torch.rand(2, 3, 32, 32)
    true = torch.zeros(2, 2, 32, 32)
    true[:, 1] = 32.0  # 32 frame pixels down = 4 pixels of the stride-8 grid
    loss, logs = flow_loss(model, (frames, frames, true))
    torch.testing.assert_close(loss, torch.tensor(17.0).sqrt())  # |(1, 0) − (0, 4)|
    assert logs["epe"] == loss


def _photos(folder, n: int = 3):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        blocks = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(blocks).resize((96, 72), Image.Resampling.BICUBIC).save(folder / f"{i}.png")
    return folder


def test_half_flownet_learns_synthetic_pairs_and_serves_as_a_flow_function(tmp_path) -> None:
    torch.manual_seed(0)
    photos = _photos(tmp_path / "photos")
    model, results = train_flownet(
        photos, tmp_path / "run", "half", size=(48, 64), pairs=8, epochs=6, batch_size=4, lr=1e-3, log_every=1000
    )
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    first, last = (float(r.split(",")[rows[0].split(",").index("train_epe")]) for r in (rows[1], rows[-1]))
    assert last < first  # it learns
    loaded = load_flownet(tmp_path / "run" / "model.safetensors")
    frame1 = np.array(Image.open(photos / "0.png").convert("RGB"))[:48, :64]
    flow = FlowNetFlow(loaded).dense(frame1, frame1)
    assert flow.shape == (48, 64, 2) and np.isfinite(flow).all()
    with torch.no_grad():
        x = torch.from_numpy(frame1).permute(2, 0, 1)[None].float() / 255
        expected = model.eval()(x, x).flow
        torch.testing.assert_close(FlowNetFlow(loaded)(x, x).flow, expected, atol=0.05, rtol=0.05)  # fp16 file


def test_a_saved_flow_network_can_gain_a_fresh_scale_field(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_flownet("half").eval()
    path = save_flownet(model, tmp_path / "f.safetensors", {"pairs": 0})
    widened = load_flownet(path, scale_channels=16)
    current, key = torch.rand(2, 1, 3, 32, 48)
    with torch.no_grad():
        got, expected = widened(current, key), model(current, key)
    assert got.scale.shape == (1, 16, 4, 6) and torch.equal(got.scale, torch.ones_like(got.scale))  # S ≡ 1 (§3)
    torch.testing.assert_close(got.flow, expected.flow, atol=1e-3, rtol=1e-2)  # the trained flow, from fp16
    assert load_flownet(path).scale_channels == 0 and load_flownet(path).name == "half"
    pooled = load_flownet(path, scale_channels=16, scale_head="pooled")
    with torch.no_grad():
        got = pooled(current, key)
    assert pooled.scale_head == "pooled" and got.scale.shape == (1, 16, 2, 3)  # S at stride 16 of the frame
    assert torch.equal(got.scale, torch.ones_like(got.scale))
    torch.testing.assert_close(got.flow, expected.flow, atol=1e-3, rtol=1e-2)
    again = load_flownet(save_flownet(pooled, tmp_path / "p.safetensors", {}))
    assert (again.scale_head, again.scale_channels) == ("pooled", 16)  # the head travels in the file


def test_a_malformed_header_is_named(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "f.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), {"semvis.flownet": json.dumps({"name": "giant", "scale_channels": 0})})
    with pytest.raises(WeightsError, match=r"f\.safetensors: malformed flownet config \(ValueError"):
        load_flownet(path)


def test_an_unknown_network_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown flow network 'giant'"):
        train_flownet(_photos(tmp_path / "photos"), tmp_path / "run", "giant", pairs=2)


def test_the_bundled_flownet_beats_zero_flow_on_held_out_synthetic_pairs() -> None:
    from semvis.bundled import FLOWNET, MODELS_DIR, bundled_model

    model = load_flownet(bundled_model(FLOWNET))
    assert model.name == "half" and model.scale_channels == 0
    pairs = SyntheticPairs(MODELS_DIR.parent / "samples", (192, 256), 8, seed=1)  # photos it never saw
    frame1, frame2, flow = (torch.stack(parts) for parts in zip(*pairs))
    with torch.no_grad():
        loss, _ = flow_loss(model, (frame1, frame2, flow))
    zero_epe = resize_flow(flow, (24, 32)).norm(dim=1).mean()  # the stride-8 grid the loss is on
    assert loss < 0.6 * zero_epe, (float(loss), float(zero_epe))
