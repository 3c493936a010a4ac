"""``semvis export onnx``: the file onnxruntime loads answers like the model; bad paths are one line, exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import run_cli, save_tiny_segmenter
from PIL import Image

from semvis.cli.main import build_parser
from semvis.colorize.unet import SemanticColorizer, save_colorizer
from semvis.video.flow_train import save_flownet
from semvis.video.flownet import build_flownet
from semvis.weights import load_model

ort = pytest.importorskip("onnxruntime")
#: fp32 in two runtimes: kernels and summation orders differ, nothing more.
ATOL = 1e-5


def _ort_outputs(path, *inputs: torch.Tensor) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {arg.name: x.numpy() for arg, x in zip(session.get_inputs(), inputs)})


@pytest.mark.parametrize("static", [True, False])
def test_a_colorizer_exports_and_matches(tmp_path, capsys, static):
    torch.manual_seed(0)
    weights = save_colorizer(SemanticColorizer(num_classes=3, width=4), tmp_path / "c.safetensors", half=False)
    out = tmp_path / "c.onnx"
    size = ["--size", "24", "40"] + (["--static"] if static else [])
    code, stdout, _ = run_cli(capsys, "export", "onnx", str(weights), "-o", str(out), *size)
    shape = "fixed 1×1×24×40 and 1×24×40" if static else "dynamic batch/H/W"
    assert code == 0 and shape in stdout and "onnxruntime matches torch" in stdout
    model = load_model(weights).model.eval()
    luma, labels = torch.rand(1, 1, 24, 40), torch.randint(0, 3, (1, 24, 40))
    with torch.no_grad():
        want = model(luma, labels).numpy()
    np.testing.assert_allclose(_ort_outputs(out, luma, labels)[0], want, atol=ATOL, rtol=0)


def test_a_flownet_exports_with_dynamic_sizes(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_flownet("half").eval()
    weights = save_flownet(model, tmp_path / "f.safetensors", {})
    out = tmp_path / "f.onnx"
    code, stdout, _ = run_cli(capsys, "export", "onnx", str(weights), "-o", str(out), "--size", "64", "64")
    assert code == 0 and "dynamic batch/H/W" in stdout
    model = load_model(weights).model.eval()
    a, b = torch.rand(2, 3, 96, 80), torch.rand(2, 3, 96, 80)
    with torch.no_grad():
        want = model(a, b).flow.numpy()
    got = _ort_outputs(out, a, b)[0]
    np.testing.assert_allclose(got, want, atol=ATOL * max(1.0, float(np.abs(want).max())), rtol=0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.safetensors", "-o", "{tmp}/x.onnx"], "missing.safetensors: no such weight file"),
        (["colorizer-camvid", "-o", "{tmp}/x.pt"], "x.pt: the output must be a .onnx file"),
        (["colorizer-camvid", "-o", "{tmp}/blocker/x.onnx"], "blocker"),
        (["colorizer-camvid", "-o", "{tmp}/x.onnx", "--size", "8", "8"], "at least 16 px"),
    ],
)
def test_bad_paths_and_sizes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code, _, stderr = run_cli(capsys, "export", "onnx", *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and message in stderr and stderr.startswith("semvis export: error:")
    assert len(stderr.strip().splitlines()) == 1 and not list(tmp_path.glob("*.onnx"))


def test_a_file_that_is_not_a_model_is_refused(tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    code, _, stderr = run_cli(capsys, "export", "onnx", str(junk), "-o", str(tmp_path / "x.onnx"))
    assert code == 2 and str(junk) in stderr and len(stderr.strip().splitlines()) == 1


def test_runtime_default_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEMVIS_RUNTIME", "torch")
    assert build_parser().parse_args(["segment", "x.png", "-o", "out"]).runtime == "torch"
    monkeypatch.setenv("SEMVIS_RUNTIME", "tensorrt")
    assert build_parser().parse_args(["classify", "x.png", "--weights", "w"]).runtime == "auto"


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["torch", "auto"])
def test_segment_runs_in_the_runtime_asked_for(tmp_path, capsys, isolated_home, runtime):
    weights = save_tiny_segmenter(tmp_path / "seg.safetensors")
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(image)
    argv = ["segment", str(image), "--weights", str(weights), "-o", str(tmp_path / "out"), "--runtime", runtime]
    code, _, stderr = run_cli(capsys, *argv)
    cache = {p.suffix for p in (isolated_home / "onnx").glob("*")}
    assert code == 0, stderr
    assert (tmp_path / "out_labels.png").is_file()
    assert cache == ({".onnx"} if runtime != "torch" else set())  # PSPNet exports, dynamic in H/W
