"""The API page at /docs: served from the package, so it works with no network."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
with warnings.catch_warnings():  # starlette 1.x asks for httpx2 instead of httpx; both work
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

#: src="…" and href="…" in HTML, fetch("…") in scripts.
REFERENCE = re.compile(r"""(?:src|href)="([^"]*)"|fetch\("([^"]*)"\)""")


def test_docs_page_and_its_assets_are_local(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app())
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    scripts = [client.get(src).text for src in re.findall(r'<script src="([^"]+)"', page.text)]
    assert scripts and all("/openapi.json" in script for script in scripts)
    text = "\n".join([page.text, *scripts])
    references = {a or b for a, b in REFERENCE.findall(text)}
    assert {"/static/docs.js", "/static/docs.css", "/openapi.json"} <= references
    assert not re.search(r"https?://", text)  # nothing from a CDN
    for reference in references - {"data:,"}:
        assert reference.startswith("/") and client.get(reference).status_code == 200, reference
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN page is off
