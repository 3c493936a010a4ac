"""The one model file: header round trip, strict loading, pre-v1 files, foreign files, bundled models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import run_cli
from safetensors.torch import save_file

from semvis.bundled import bundled_models
from semvis.colorize import SemanticColorizer, load_colorizer, save_colorizer
from semvis.data import LabelSpec
from semvis.errors import WeightsError
from semvis.segment import build_segmenter, load_segmenter, save_segmenter
from semvis.weights import read_header


def test_header_holds_kind_config_labels_and_provenance(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_segmenter("gridnet", 3, in_channels=1, depths=(4, 8))
    labels = LabelSpec(("a", "b", "c"), ((1, 2, 3), (4, 5, 6), (7, 8, 9)), 255)
    path = save_segmenter(model, tmp_path / "g.safetensors", labels, half=False, provenance={"data": "toy"})
    header = read_header(path)
    assert (header.kind, header.version, header.config["depths"]) == ("gridnet", 1, [4, 8])
    assert header.labels == labels.to_dict() and header.provenance["data"] == "toy"
    assert header.provenance["torch"] == torch.__version__ and "command" in header.provenance  # the run's facts
    loaded, loaded_labels = load_segmenter(str(path))  # a str path works as well as a Path
    assert loaded_labels == labels
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_a_file_of_another_kind_is_refused_by_name(tmp_path: Path) -> None:
    path = save_colorizer(SemanticColorizer(num_classes=3, width=4), tmp_path / "c.safetensors")
    with pytest.raises(WeightsError, match=r"c\.safetensors: not a segmenter weight file: it holds a colorizer model"):
        load_segmenter(path)


def test_missing_and_unexpected_tensors_are_named(tmp_path: Path) -> None:
    model = SemanticColorizer(num_classes=3, width=4)
    path = save_colorizer(model, tmp_path / "c.safetensors")
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    state = load_file(str(path))
    del state["to_ab.bias"]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(path), meta)
    with pytest.raises(WeightsError, match=r"missing 1 keys \(first: \['to_ab.bias'\]\), unexpected 1 keys"):
        load_colorizer(path)


def test_files_written_before_the_v1_header_still_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SemanticColorizer(num_classes=3, width=4).eval()
    config = {"num_classes": 3, "width": 4, "instance_norm": True, "semantic": "scalar"}
    path = tmp_path / "old.safetensors"
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(path), {"semvis.colorizer": json.dumps(config)}
    )
    assert read_header(path).kind == "colorizer"
    luma, labels = torch.rand(1, 1, 32, 32), torch.randint(0, 3, (1, 32, 32))
    torch.testing.assert_close(load_colorizer(path)(luma, labels), model(luma, labels))


def test_a_pickle_named_safetensors_is_called_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(
        WeightsError, match=r"model\.safetensors: not a readable safetensors file: it is a Python pickle"
    ):
        load_colorizer(path)
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(WeightsError, match=r"it is a zip archive \(a PyTorch torch\.save checkpoint"):
        load_colorizer(path)


def test_bundled_models_are_v1_files_whose_cards_give_their_sha256(tmp_path: Path, capsys) -> None:
    models = bundled_models()
    assert {m.name for m in models} >= {"segmenter-camvid-gray.safetensors", "colorizer-camvid.safetensors"}
    for model in models:
        assert model.sha256 is not None and read_header(model.path).version == 1
        assert read_header(model.path).provenance["model_card"] == model.card.name
    code, out, _ = run_cli(capsys, "weights", "verify", models[0].name)
    assert code == 0 and f"✓ {models[0].name}: sha256 matches" in out


def test_verify_reports_a_bundled_file_that_does_not_match_its_card(monkeypatch, capsys, tmp_path: Path) -> None:
    import semvis.bundled

    original = bundled_models()[0]
    copy = tmp_path / original.name
    copy.write_bytes(original.path.read_bytes() + b" ")
    card = tmp_path / original.card.name
    card.write_text(original.card.read_text())
    monkeypatch.setattr(semvis.bundled, "MODELS_DIR", tmp_path)
    code, out, _ = run_cli(capsys, "weights", "verify", original.name)
    assert code == 1 and f"✗ {original.name}: sha256" in out and f"{card.name} records {original.sha256}" in out
