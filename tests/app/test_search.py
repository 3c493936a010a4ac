"""Search from the app: ``/api/search`` over a six-image index built with a tiny random network."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import random_net, run_cli
from PIL import Image

from semvis.data import load_image
from semvis.errors import SemvisError
from semvis.hashing import HashIndex, encoder_for, square_crop
from semvis.hashing.sheet import THUMB
from tests.app.conftest import SAMPLE, SearchIndex

pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
with warnings.catch_warnings():  # starlette 1.x asks for httpx2 instead of httpx; both work
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

from semvis.app import IndexSearcher  # noqa: E402  (needs the web extra)
from semvis.app.search import MAX_K, MAX_PROBE, NO_INDEX  # noqa: E402

PNG = {"Content-Type": "image/png"}
THUMB_URL = re.compile(r"^/api/search/thumbs/[A-Za-z0-9_-]{22}\.jpg$")


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second random network: another model than the index's."""
    return random_net(tmp_path_factory.mktemp("other"), seed=1)


@pytest.fixture
def client(make_app: Callable[..., Any], searcher: IndexSearcher) -> TestClient:
    return TestClient(make_app(search=searcher))


def query(client: TestClient, image: Path, k: int = 10) -> dict[str, Any]:
    reply = client.post(f"/api/search?k={k}", content=image.read_bytes(), headers=PNG)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_info_describes_the_loaded_index(client: TestClient, search_index: SearchIndex) -> None:
    with HashIndex.open(search_index.path) as index:
        fingerprint = index.fingerprint
    info = client.get("/api/search/info").json()
    assert info == {"items": 6, "bits": 48, "kind": "flat", "fingerprint": fingerprint, "input_size": 32, "max_k": 100}
    assert client.get("/api/health").json()["search_index"] is True


def test_an_indexed_image_finds_itself_first_and_the_ranking_matches_the_cli(
    client: TestClient, search_index: SearchIndex
) -> None:
    with HashIndex.open(search_index.path) as index:
        encoder = encoder_for(index, search_index.weights)
        expected = index.search(encoder.encode(search_index.images), k=6)
    for image, direct in zip(search_index.images, expected):
        result = query(client, image)
        hits = result["hits"]
        assert (result["k"], result["items"], len(hits)) == (10, 6, 6)
        assert result["seconds"] > 0
        assert hits[0]["name"] == image.name and hits[0]["distance"] == 0
        assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5, 6]
        distances = [h["distance"] for h in hits]
        assert distances == sorted(distances)
        assert [(h["name"], h["distance"]) for h in hits] == [(Path(d.path).name, d.distance) for d in direct]
        assert sorted(h["name"] for h in hits) == sorted(p.name for p in search_index.images)  # names only
        assert all(THUMB_URL.match(h["thumb_url"]) for h in hits)


def test_thumbnails_are_the_centred_squares_of_the_hits(client: TestClient, search_index: SearchIndex) -> None:
    first = query(client, search_index.images[3])["hits"][0]
    reply = client.get(first["thumb_url"])
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(reply.content))
    assert thumb.format == "JPEG" and thumb.size == (THUMB, THUMB)
    expected = np.array(square_crop(load_image(search_index.images[3]), THUMB), dtype=int)
    assert np.abs(np.array(thumb, dtype=int) - expected).mean() < 8  # JPEG loss only


def test_k_is_bounded(client: TestClient) -> None:
    body = SAMPLE.read_bytes()
    for k in (0, -1, MAX_K + 1, "ten"):
        reply = client.post(f"/api/search?k={k}", content=body, headers={"Content-Type": "image/jpeg"})
        assert reply.status_code == 422 and reply.json()["detail"][0]["loc"] == ["query", "k"]
    assert len(client.post("/api/search?k=1", content=body).json()["hits"]) == 1
    assert client.post(f"/api/search?k={MAX_K}", content=body).json()["k"] == MAX_K
    assert len(client.post("/api/search", content=body).json()["hits"]) == 6  # default k=10, six images


def test_nprobe_and_ef_search_are_bounded_query_options(client: TestClient) -> None:
    body = SAMPLE.read_bytes()
    for name in ("nprobe", "ef_search"):
        for value in (0, MAX_PROBE + 1, "many"):
            reply = client.post(f"/api/search?{name}={value}", content=body, headers={"Content-Type": "image/jpeg"})
            assert reply.status_code == 422 and reply.json()["detail"][0]["loc"] == ["query", name]
        assert len(client.post(f"/api/search?k=3&{name}=2", content=body).json()["hits"]) == 3


def test_thumbnail_ids_are_random_tokens_and_nothing_else_is_served(
    client: TestClient, search_index: SearchIndex
) -> None:
    image = search_index.images[0]
    first, again = query(client, image)["hits"][0], query(client, image)["hits"][0]
    assert first["thumb_url"] != again["thumb_url"]  # fresh random tokens, not index ids or names
    assert client.get(first["thumb_url"]).status_code == 200
    unknown = client.get(f"/api/search/thumbs/{'A' * 22}.jpg")
    assert unknown.status_code == 404 and "unknown" in unknown.json()["detail"]
    for bad in (
        "1",
        image.name,
        str(image),
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..",
        "A" * 21 + ".",
        "A" * 23,
    ):
        reply = client.get(f"/api/search/thumbs/{bad}.jpg")
        assert reply.status_code in (404, 422), bad
        assert str(image.parent) not in reply.text


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"hello, world", "text/plain", 415, "send the image file itself as the request body"),
        (b"hello, world", "image/png", 415, "the query is not an image of a supported format"),
        (b"", "image/jpeg", 400, "the request body is empty"),
        (SAMPLE.read_bytes()[:5000], "image/jpeg", 400, "the query is truncated or corrupt"),
    ],
    ids=["text-type", "text-as-png", "empty", "truncated"],
)
def test_bad_queries_get_one_clear_message(
    client: TestClient, body: bytes, content_type: str, status: int, message: str
) -> None:
    reply = client.post("/api/search", content=body, headers={"Content-Type": content_type})
    assert reply.status_code == status
    assert message in reply.json()["detail"]


def test_query_limits_are_the_uploads(make_app: Callable[..., Any], searcher: IndexSearcher) -> None:
    body = SAMPLE.read_bytes()
    reply = TestClient(make_app(search=searcher, max_upload_bytes=10_000)).post("/api/search", content=body)
    assert reply.status_code == 413 and "limit of 10,000 bytes" in reply.json()["detail"]
    reply = TestClient(make_app(search=searcher, max_pixels=10_000)).post("/api/search", content=body)
    assert reply.status_code == 400 and "384x255 = 97,920 pixels, limit 10,000" in reply.json()["detail"]
    with pytest.raises(ValueError, match="max_thumbs must hold one search of 100 results"):
        make_app(search=searcher, max_thumbs=99)


def test_without_an_index_search_answers_404_with_a_hint(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app())
    assert client.get("/api/health").json()["search_index"] is False
    for reply in (
        client.get("/api/search/info"),
        client.post("/api/search?k=3", content=SAMPLE.read_bytes(), headers={"Content-Type": "image/jpeg"}),
        client.get(f"/api/search/thumbs/{'A' * 22}.jpg"),
    ):
        assert reply.status_code == 404 and reply.json()["detail"] == NO_INDEX
    assert "semvis serve --index" in NO_INDEX


def test_openapi_documents_the_search_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/search/info", "/api/search", "/api/search/thumbs/{thumb_id}.jpg"} <= set(schema["paths"])
    search = schema["paths"]["/api/search"]["post"]
    assert "image/*" in search["requestBody"]["content"]
    k = search["parameters"][0]
    assert k["name"] == "k" and k["in"] == "query"
    assert {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}.items() <= k["schema"].items()
    assert "image/jpeg" in schema["paths"]["/api/search/thumbs/{thumb_id}.jpg"]["get"]["responses"]["200"]["content"]
    assert {"SearchInfo", "SearchResult", "RankedImage"} <= set(schema["components"]["schemas"])


def test_the_searcher_takes_the_recorded_weights_or_refuses_others(
    search_index: SearchIndex, other_weights: Path, tmp_path: Path
) -> None:
    with IndexSearcher(search_index.path, search_index.weights) as searcher:
        assert len(searcher) == 6
    with pytest.raises(SemvisError, match="is not the one .* was built with"):
        IndexSearcher(search_index.path, other_weights)
    bare = HashIndex.create(tmp_path / "bare.index", 48, "sha256:x")
    bare.close()
    with pytest.raises(SemvisError, match="does not record its weights file"):
        IndexSearcher(bare.root)
    with pytest.raises(SemvisError, match="not a hash index"):
        IndexSearcher(tmp_path / "none.index")


def test_serve_reports_a_bad_index_in_one_line(
    capsys: pytest.CaptureFixture[str], search_index: SearchIndex, other_weights: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "serve", "--index", str(tmp_path / "none.index"))
    assert code == 2 and err.count("\n") == 1 and "none.index: not a hash index" in err
    code, _, err = run_cli(capsys, "serve", "--index", str(search_index.path), "--hash-weights", str(other_weights))
    assert code == 2 and err.count("\n") == 1 and "is not the one" in err
    code, _, err = run_cli(capsys, "serve", "--hash-weights", str(other_weights))
    assert code == 2 and "--hash-weights needs --index" in err
