"""A bounded fuzz of the server (loopback only: FastAPI's TestClient) and of ``semvis search``.

The app runs a real, tiny PSPNet (whose pooling fails on images under 16 px a side) and a hash
index. Malformed, unusual and randomly mutated request bodies, wrong content types and garbage
paths must each get an answer below 500: a 2xx for an input that is fine, else a 4xx whose
``detail`` is one message. Server errors are answered as 500 here, not raised.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import CLASSES, tiny_pspnet
from PIL import Image

from semvis.colorize import SemanticColorizer
from semvis.segment import segment
from tests.app.conftest import SearchIndex
from tests.cli.fuzzing import BAD_FILES, GOOD_IMAGES, SIZE, TOO_SMALL, gradient, refused, write_images

pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
with warnings.catch_warnings():  # starlette 1.x asks for httpx2 instead of httpx; both work
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

PNG = {"Content-Type": "image/png"}
#: Random bodies and byte-flipped copies of a valid JPEG and PNG sent to each endpoint.
MUTANTS = 24


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("fuzz") / "images")


@pytest.fixture(scope="module")
def client(searcher: Any) -> Iterator[TestClient]:
    from semvis.app import create_app

    torch.manual_seed(0)
    colorizer = SemanticColorizer(len(CLASSES.classes), width=4).eval()
    app = create_app(partial(segment, tiny_pspnet()), CLASSES, colorizer, work_size=32, search=searcher)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def answer(reply: Any, *allowed: int) -> str:
    """The reply's ``detail`` (or "" for a success), checking its status is ``allowed``: one line of the
    app's own, or FastAPI's list of what failed validation (422)."""
    assert reply.status_code in allowed, (reply.status_code, reply.text)
    if reply.status_code < 400:
        return ""
    detail = reply.json()["detail"]
    if reply.status_code == 422 and isinstance(detail, list):
        detail = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in detail)
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, detail
    return detail


def image_files(images: Path, names: Any) -> list[tuple[str, bytes]]:
    return [(name, (images / name).read_bytes()) for name in names if (images / name).is_file()]


def test_malformed_uploads_and_queries_are_refused_with_one_message(client: TestClient, images: Path) -> None:
    for _, data in image_files(images, BAD_FILES):
        for url in ("/api/images", "/api/search?k=2"):
            answer(client.post(url, content=data, headers=PNG), 400, 415)


def test_images_too_small_for_the_segmenter_are_400_not_500(client: TestClient, images: Path) -> None:
    for _, data in image_files(images, TOO_SMALL):
        detail = answer(client.post("/api/images", content=data, headers=PNG), 400)
        assert detail.endswith("px; every side must be at least 16 px"), detail
        answer(client.post("/api/search?k=2", content=data, headers=PNG), 200)  # the hash net resizes: fine
    detail = answer(client.post("/api/images", content=(images / "wide.png").read_bytes(), headers=PNG), 400)
    assert detail == "the upload, scaled to a longest side of 1024 px, is 1024×1 px; every side must be at least 16 px"


def test_unusual_but_valid_images_are_converted_and_accepted(client: TestClient, images: Path) -> None:
    for name, data in image_files(images, GOOD_IMAGES):
        state = client.post("/api/images", content=data, headers=PNG).json()
        assert (state["width"], state["height"]) == SIZE, (name, state)
        photo = Image.open(io.BytesIO(client.get(state["photo_url"]).content))
        assert photo.mode == "RGB" and photo.size == SIZE
        answer(client.post("/api/search?k=2", content=data, headers=PNG), 200)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def mutants(seed: int = 0) -> Iterator[bytes]:
    """Random bytes, and a valid JPEG and PNG with a few random bytes overwritten or cut short."""
    rng = np.random.default_rng(seed)
    photo = Image.fromarray(gradient(*SIZE))
    valid = []
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        photo.save(buffer, fmt)
        valid.append(np.frombuffer(buffer.getvalue(), np.uint8))
    for i in range(MUTANTS):
        if i % 3 == 0:
            yield rng.bytes(int(rng.integers(1, 2048)))
            continue
        data = valid[i % 2].copy()
        spots = rng.integers(0, len(data), int(rng.integers(1, 8)))
        data[spots] = rng.integers(0, 256, len(spots), dtype=np.uint8)
        yield data[: int(rng.integers(len(data) // 2, len(data) + 1))].tobytes()


def test_random_and_mutated_bodies_never_get_a_server_error(client: TestClient) -> None:
    image_id = client.post("/api/images", content=_png(gradient(*SIZE)), headers=PNG).json()["id"]
    statuses = set()
    for body in mutants():
        statuses.add(client.post("/api/images", content=body, headers=PNG).status_code)
        answer(client.post("/api/search?k=3", content=body, headers=PNG), 200, 400, 415)
        answer(client.post(f"/api/images/{image_id}/colorize", content=body, headers=PNG), 400, 415, 422)
    assert statuses <= {201, 400, 415} and {400, 415} <= statuses  # some mutants decode, most do not


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("post", "/api/images", {"content": b""}, 400),
        ("post", "/api/images", {"json": {"photo": "x"}}, 415),
        ("post", "/api/images", {"data": {"photo": "x"}}, 415),
        (
            "post",
            "/api/images",
            {"content": b"--zz--", "headers": {"Content-Type": "multipart/form-data; boundary=zz"}},
            415,
        ),
        ("post", "/api/images", {"content": b"\x00" * 64, "headers": {"Content-Type": b"\x00\xff"}}, 415),
        ("post", "/api/images", {"content": b"\x00" * 64, "headers": {**PNG, "Content-Encoding": "gzip"}}, 415),
        ("post", "/api/search?k=0", {"content": b"x", "headers": PNG}, 422),
        ("post", "/api/search?k=abc", {"content": b"x", "headers": PNG}, 422),
        ("post", "/api/search?k=99999999999999999999", {"content": b"x", "headers": PNG}, 422),
        ("get", "/api/images/" + "a" * 22, {}, 404),
        ("get", "/api/images/%00", {}, 422),
        ("get", "/api/images/../../etc/passwd", {}, 404),
        ("post", "/api/images/" + "a" * 22 + "/colorize", {"content": b"x", "headers": PNG}, 404),
        ("get", "/api/search/thumbs/" + "a" * 22 + ".jpg", {}, 404),
        ("get", "/api/search/thumbs/..%2f..%2fx.jpg", {}, 404),
        ("get", "/static/%2e%2e/server.py", {}, 404),
        ("delete", "/api/images", {}, 405),
        ("put", "/docs", {"content": b"x"}, 405),
    ],
)
def test_malformed_requests_get_a_4xx(
    client: TestClient, method: str, url: str, kwargs: dict[str, Any], status: int
) -> None:
    answer(client.request(method.upper(), url, **kwargs), status)


def test_search_command_refuses_bad_queries_and_k_in_one_line(
    capsys: pytest.CaptureFixture[str], search_index: SearchIndex, images: Path
) -> None:
    for name in BAD_FILES:
        line = refused(capsys, "search", str(search_index.path), str(images / name))
        assert name in line and BAD_FILES[name] in line, line
    for k in ("0", "-1", "many"):
        assert "argument -k" in refused(capsys, "search", str(search_index.path), str(images / "palette.png"), "-k", k)
    sheet = refused(capsys, "search", str(search_index.path), str(search_index.images[0]), "--sheet", "s.txt")
    assert "cannot tell an image format" in sheet
