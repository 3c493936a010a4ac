"""Each library entry point's ``device=``: resolved by semvis.device, the model moved there, results on the CPU.

This machine has no GPU, so the resolver is spied on: it records what it was asked and answers the CPU,
and every ``Module.to`` is recorded. Real resolution is checked too: an absent device is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from helpers import tiny_pspnet
from PIL import Image
from torch import nn

import semvis.classify as classify_module
import semvis.colorize.pipeline as pipeline
import semvis.device
from semvis.app.search import IndexSearcher
from semvis.classify import classify
from semvis.colorize import SemanticColorizer, colorize
from semvis.colorize.evaluate import evaluate_colorizer
from semvis.data import LabelSpec
from semvis.errors import DeviceError
from semvis.hashing import ImageEncoder, SemanticHashNet
from semvis.segment import evaluate, segment

CPU = torch.device("cpu")


@pytest.fixture
def placement(monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], list[object]]:
    """(specs the resolver was asked, devices modules were moved to); every spec resolves to the CPU."""
    asked: list[object] = []
    moved: list[object] = []
    monkeypatch.setattr(semvis.device, "resolve_device", lambda spec: asked.append(spec) or CPU)
    real_to = nn.Module.to

    def to(self: nn.Module, *args: object, **kwargs: object) -> nn.Module:
        moved.append(args[0] if args else kwargs.get("device"))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "to", to)
    return asked, moved


def tiny_colorizer() -> SemanticColorizer:
    torch.manual_seed(0)
    return SemanticColorizer(num_classes=3, width=4).eval()


def tiny_classifier() -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))


def test_segment_and_evaluate_move_the_segmenter(placement) -> None:
    asked, moved = placement
    labels = segment(tiny_pspnet(), torch.rand(3, 32, 40), device="cuda:1")
    assert asked == ["cuda:1"] and moved == [CPU] and labels.device == CPU and labels.shape == (32, 40)
    data = [(torch.rand(3, 32, 40), torch.zeros(32, 40, dtype=torch.long))]
    result = evaluate(tiny_pspnet(), data, 3, 255, device="mps")
    assert asked == ["cuda:1", "mps"] and moved == [CPU, CPU] and result["confusion"].sum() == 32 * 40


def test_none_leaves_the_model_where_it_is(placement) -> None:
    asked, moved = placement
    segment(tiny_pspnet(), torch.rand(3, 32, 40))
    assert asked == [] and moved == []


def test_colorize_and_its_evaluation_move_the_colorizer(placement) -> None:
    asked, moved = placement
    rgb = colorize(torch.rand(3, 32, 32), torch.zeros(32, 32, dtype=torch.long), tiny_colorizer(), 32, "cuda:1")
    assert asked == ["cuda:1"] and moved == [CPU] and rgb.device == CPU and rgb.shape == (3, 32, 32)
    samples = [(torch.rand(3, 32, 32), torch.randint(0, 3, (32, 32)))]
    evaluate_colorizer(tiny_colorizer(), samples, 3, 32, device="cuda:0")
    assert asked[1] == "cuda:0" and moved[1] == CPU


def test_the_image_encoder_moves_the_hash_network(placement, tmp_path) -> None:
    asked, moved = placement
    model = SemanticHashNet(num_classes=3, hidden=32, pool_grid=4)
    encoder = ImageEncoder(model, input_size=32, device="cuda:1")
    assert asked == ["cuda:1"] and moved == [CPU] and encoder.device == CPU
    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "a.png")
    assert encoder.encode([tmp_path / "a.png"]).packed.shape == (1, model.bits // 8)


def test_classify_moves_the_backbone(placement, monkeypatch) -> None:
    asked, moved = placement
    monkeypatch.setattr(classify_module, "require_classifier", lambda model: None)
    predictions = classify(tiny_classifier(), Image.new("RGB", (20, 20)), 8, top_k=2, device="cuda:1")
    assert asked == ["cuda:1"] and moved == [CPU] and len(predictions) == 2


def test_the_pipeline_loads_both_models_on_the_resolved_device(monkeypatch) -> None:
    loaded: list[tuple[str, object]] = []
    monkeypatch.setattr(pipeline, "resolve_device", lambda spec: torch.device("cuda", 3))
    monkeypatch.setattr(
        pipeline, "load_segmenter", lambda path, device: loaded.append(("segmenter", device)) or (None, LABELS)
    )
    monkeypatch.setattr(
        pipeline, "load_colorizer", lambda path, device: loaded.append(("colorizer", device)) or tiny_colorizer()
    )
    pipeline.load_colorization_models("s.safetensors", "c.safetensors", device="cuda:3")
    assert loaded == [("segmenter", torch.device("cuda", 3)), ("colorizer", torch.device("cuda", 3))]


def test_the_search_encoder_gets_the_device(monkeypatch, tmp_path) -> None:
    import semvis.app.search as search_module

    asked: list[object] = []
    monkeypatch.setattr(search_module.HashIndex, "open", lambda path, **kwargs: FakeIndex())
    monkeypatch.setattr(search_module, "encoder_for", lambda index, weights, device: asked.append(device))
    IndexSearcher(tmp_path, device="cuda:2").close()
    assert asked == ["cuda:2"]


class FakeIndex:
    """Stands in for an opened HashIndex."""

    def close(self) -> None:
        pass


LABELS = LabelSpec(("a", "b", "c"))
PIXEL = torch.rand(3, 32, 32)
ABSENT: dict[str, Callable[[], object]] = {
    "segment": lambda: segment(tiny_pspnet(), PIXEL, device="cuda"),
    "colorize": lambda: colorize(PIXEL, torch.zeros(32, 32, dtype=torch.long), tiny_colorizer(), 32, "cuda"),
    "encoder": lambda: ImageEncoder(SemanticHashNet(num_classes=3, hidden=32, pool_grid=4), device="cuda"),
    "classify": lambda: classify(tiny_classifier(), Image.new("RGB", (20, 20)), 8, device="cuda"),
    "pipeline": lambda: pipeline.load_colorization_models("s", "c", device="cuda"),
}


@pytest.mark.parametrize("entry", ABSENT)
def test_an_absent_device_is_refused(monkeypatch, entry) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(classify_module, "require_classifier", lambda model: None)
    with pytest.raises(DeviceError, match=r"cuda requested but torch\.cuda\.is_available\(\) is False"):
        ABSENT[entry]()
