"""The JSON API through FastAPI's TestClient, with tiny random models."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image

from semvis.colorize import SemanticColorizer, luma, save_colorizer
from semvis.data import image_to_tensor, load_image
from semvis.errors import WeightsError
from tests.app.conftest import LABELS, SAMPLE, brightness_bands

pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
with warnings.catch_warnings():  # starlette 1.x asks for httpx2 instead of httpx; both work
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

JPEG = {"Content-Type": "image/jpeg"}
PNG = {"Content-Type": "image/png"}


def png(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "PNG")
    return buffer.getvalue()


def picture(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.fixture
def client(make_app: Callable[..., Any]) -> TestClient:
    return TestClient(make_app())


def upload(client: TestClient, data: bytes | None = None) -> dict[str, Any]:
    reply = client.post("/api/images", content=SAMPLE.read_bytes() if data is None else data, headers=JPEG)
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_upload_gives_the_predicted_map_and_a_colorization_that_keeps_the_photo_lightness(client: TestClient) -> None:
    info = upload(client)
    photo = load_image(SAMPLE)
    assert (info["width"], info["height"], info["version"]) == (*photo.size, 0)
    assert info["seconds"] > 0
    labels = picture(client.get(info["labels_url"]).content)
    assert labels.mode == "P" and labels.size == photo.size
    assert np.array_equal(np.array(labels), brightness_bands(image_to_tensor(photo)).numpy())
    assert labels.getpalette()[: 3 * 4] == [c for colour in LABELS.palette for c in colour]
    served = picture(client.get(info["photo_url"]).content)
    assert np.array_equal(np.array(served), np.array(photo))
    result = picture(client.get(info["result_url"]).content)
    assert result.mode == "RGB" and result.size == photo.size
    difference = luma(image_to_tensor(result)) - luma(image_to_tensor(photo))
    assert difference.abs().max() * 50 < 0.6  # L units: 8-bit rounding only
    assert client.get(f"/api/images/{info['id']}").json() == info


def test_an_edited_map_recolours_the_photo_and_round_trips_exactly(client: TestClient) -> None:
    info = upload(client)
    first = np.array(picture(client.get(info["result_url"]).content))
    predicted_png = client.get(info["labels_url"]).content
    edited = np.array(picture(predicted_png))
    edited[100:160, 50:300] = 3
    reply = client.post(f"/api/images/{info['id']}/colorize", content=png(edited), headers=PNG)
    assert reply.status_code == 200, reply.text
    state = reply.json()
    assert state["version"] == 1 and state["result_url"] != info["result_url"]
    assert np.array_equal(np.array(picture(client.get(state["labels_url"]).content)), edited)
    second = np.array(picture(client.get(state["result_url"]).content))
    assert np.abs(second.astype(int) - first).max() > 0
    # the server's own palette PNG is accepted too, and the predicted map gives the first result back
    reply = client.post(f"/api/images/{info['id']}/colorize", content=predicted_png)
    assert reply.status_code == 200, reply.text
    assert reply.json()["version"] == 2
    assert np.array_equal(np.array(picture(client.get(reply.json()["result_url"]).content)), first)


def test_a_large_photo_is_scaled_down_to_the_longest_side_limit(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app(max_side=256))
    gradient = np.broadcast_to(np.linspace(0, 255, 1000, dtype=np.uint8)[None, :, None], (500, 1000, 3))
    info = upload(client, png(np.ascontiguousarray(gradient), "RGB"))
    assert (info["width"], info["height"]) == (256, 128)
    assert picture(client.get(info["result_url"]).content).size == (256, 128)


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_size_limit_is_413(make_app: Callable[..., Any], streamed: bool) -> None:
    client = TestClient(make_app(max_upload_bytes=10_000))
    data = SAMPLE.read_bytes()
    body = iter([data[i : i + 4096] for i in range(0, len(data), 4096)]) if streamed else data
    reply = client.post("/api/images", content=body, headers=JPEG)
    assert reply.status_code == 413
    assert reply.json()["detail"] == "the request body is larger than the limit of 10,000 bytes"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"hello, world", "text/plain", 415, "send the image file itself as the request body"),
        (b"hello, world", "image/png", 415, "not an image of a supported format"),
        (b"hello, world", "application/octet-stream", 415, "not an image of a supported format"),
        (b"", "image/jpeg", 400, "the request body is empty"),
        (SAMPLE.read_bytes()[:5000], "image/jpeg", 400, "truncated or corrupt"),
    ],
    ids=["text-type", "text-as-png", "text-untyped", "empty", "truncated"],
)
def test_bad_uploads_get_one_clear_message(
    client: TestClient, body: bytes, content_type: str, status: int, message: str
) -> None:
    reply = client.post("/api/images", content=body, headers={"Content-Type": content_type})
    assert reply.status_code == status
    assert message in reply.json()["detail"]


def test_multipart_is_refused_with_a_hint(client: TestClient) -> None:
    reply = client.post("/api/images", files={"file": ("photo.jpg", SAMPLE.read_bytes(), "image/jpeg")})
    assert reply.status_code == 415
    assert "not multipart/form-data" in reply.json()["detail"]


def test_too_many_pixels_are_refused_before_decoding(make_app: Callable[..., Any]) -> None:
    reply = TestClient(make_app(max_pixels=10_000)).post("/api/images", content=SAMPLE.read_bytes(), headers=JPEG)
    assert reply.status_code == 400
    assert reply.json()["detail"] == "the upload is too large to decode: 384x255 = 97,920 pixels, limit 10,000"


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    unknown = "A" * 22
    for suffix in ("", "/result.png", "/labels.png", "/photo.png"):
        reply = client.get(f"/api/images/{unknown}{suffix}")
        assert reply.status_code == 404 and unknown in reply.json()["detail"]
    assert client.post(f"/api/images/{unknown}/colorize", content=png(np.zeros((2, 2), np.uint8))).status_code == 404
    for bad in ("short", "A" * 21 + ".", "..%2F..%2Fetc"):
        assert client.get(f"/api/images/{bad}/result.png").status_code in (404, 422)
    assert client.get("/api/images/short").status_code == 422


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (lambda m: png(m[:, 1:]), 422, "the label map is 383x255 but the image is 384x255"),
        (lambda m: png(np.where(m == 0, 4, m).astype(np.uint8)), 422, "holds class 4, but the classes are 0…3"),
        (lambda m: png(np.stack([m] * 3, axis=-1), "RGB"), 422, "mode L or P), not RGB"),
        (lambda m: SAMPLE.read_bytes(), 415, "not an image of a supported format (PNG)"),
    ],
    ids=["wrong-size", "out-of-range", "rgb", "jpeg"],
)
def test_bad_label_maps_are_refused(
    client: TestClient, change: Callable[[np.ndarray], bytes], status: int, message: str
) -> None:
    info = upload(client)
    predicted = np.array(picture(client.get(info["labels_url"]).content))
    reply = client.post(f"/api/images/{info['id']}/colorize", content=change(predicted), headers=PNG)
    assert reply.status_code == status
    assert message in reply.json()["detail"]
    assert client.get(f"/api/images/{info['id']}").json()["version"] == 0


def test_sessions_are_a_bounded_lru(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app(max_sessions=2))
    first, second = upload(client), upload(client)
    assert client.get(f"/api/images/{first['id']}").status_code == 200  # now the most recently used
    upload(client)
    assert client.get(f"/api/images/{second['id']}").status_code == 404
    assert client.get(f"/api/images/{first['id']}").status_code == 200
    assert client.get("/api/health").json()["sessions"] == 2


def test_classes_health_page_and_static_files(client: TestClient) -> None:
    classes = client.get("/api/classes").json()
    assert [c["name"] for c in classes] == list(LABELS.classes)
    assert [c["color"] for c in classes] == ["#{:02x}{:02x}{:02x}".format(*c) for c in LABELS.palette]
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["classes"] == 4 and health["work_size"] == 352
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js"' in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/%2e%2e/server.py").status_code == 404


def test_openapi_documents_the_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/health",
        "/api/classes",
        "/api/images",
        "/api/images/{image_id}",
        "/api/images/{image_id}/colorize",
        "/api/images/{image_id}/result.png",
        "/api/images/{image_id}/labels.png",
        "/api/images/{image_id}/photo.png",
        "/api/search/info",
        "/api/search",
        "/api/search/thumbs/{thumb_id}.jpg",
    }
    assert "image/*" in schema["paths"]["/api/images"]["post"]["requestBody"]["content"]
    assert "image/png" in schema["paths"]["/api/images/{image_id}/colorize"]["post"]["requestBody"]["content"]
    assert {"ImageState", "ClassInfo", "Health"} <= set(schema["components"]["schemas"])


def test_models_must_agree_on_the_classes() -> None:
    from semvis.app import create_app

    with pytest.raises(ValueError, match="4 classes but the colorizer expects 11"):
        create_app(brightness_bands, LABELS, SemanticColorizer(11, width=4))


@pytest.fixture
def weight_files(tmp_path: Path) -> dict[str, Path]:
    from semvis.segment import build_segmenter, save_segmenter

    torch.manual_seed(0)
    segmenter = save_segmenter(build_segmenter("gridnet", 4, in_channels=1), tmp_path / "seg.safetensors", LABELS)
    return {
        "segmenter": segmenter,
        "colorizer": save_colorizer(SemanticColorizer(4, width=4), tmp_path / "col4.safetensors"),
        "colorizer11": save_colorizer(SemanticColorizer(11, width=4), tmp_path / "col11.safetensors"),
    }


def test_load_models_from_files(weight_files: dict[str, Path]) -> None:
    from semvis.colorize.pipeline import load_colorization_models as load_models

    segmenter, labels, colorizer = load_models(weight_files["segmenter"], weight_files["colorizer"])
    assert labels == LABELS and colorizer.config["num_classes"] == 4
    predicted = segmenter(torch.rand(3, 24, 40))
    assert predicted.shape == (24, 40) and 0 <= int(predicted.min()) and int(predicted.max()) < 4
    with pytest.raises(WeightsError, match="predicts 4 classes but the colorizer .* expects 11"):
        load_models(weight_files["segmenter"], weight_files["colorizer11"])


def test_missing_bundled_models_give_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, weight_files: dict[str, Path]
) -> None:
    from semvis import bundled
    from semvis.colorize.pipeline import load_colorization_models as load_models

    monkeypatch.setattr(bundled, "MODELS_DIR", tmp_path / "no-models")
    with pytest.raises(WeightsError, match="deeplab-camvid-gray.safetensors: bundled model missing"):
        load_models()
    with pytest.raises(WeightsError, match="colorizer-camvid.safetensors: bundled model missing"):
        load_models(segmenter=weight_files["segmenter"])
    code, _, err = run_cli(capsys, "serve", "--segmenter", str(weight_files["segmenter"]))
    assert code == 2 and "semvis serve: error:" in err and "bundled model missing" in err
    code, _, err = run_cli(capsys, "serve", "--segmenter", str(tmp_path / "none.safetensors"), "--colorizer", "x")
    assert code == 2 and "none.safetensors" in err


def test_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "serve", "--help")
    assert code == 0
    for option in ("--host", "--port", "--segmenter", "--colorizer", "--work-size", "--index", "--hash-weights"):
        assert option in out


def test_auto_runs_the_colorizer_in_pytorch_and_onnx_forces_onnxruntime(weight_files: dict[str, Path]) -> None:
    from semvis.colorize.pipeline import load_colorization_models as load_models
    from semvis.nn.runtime import onnxruntime_available

    _, _, colorizer = load_models(weight_files["segmenter"], weight_files["colorizer"], runtime="auto")
    assert isinstance(colorizer, SemanticColorizer)  # measured faster than its onnxruntime export
    if onnxruntime_available():
        _, _, forced = load_models(weight_files["segmenter"], weight_files["colorizer"], runtime="onnx")
        assert not isinstance(forced, SemanticColorizer) and forced.runtime == "onnx"
