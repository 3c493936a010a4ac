"""The page in a real headless Chromium (Debian's ``chromium``, driven by Playwright): upload, paint, undo; search."""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.colorize import rgb_to_lab
from semvis.data import image_to_tensor, load_image
from tests.app.conftest import LABELS, SAMPLE, SearchIndex, brightness_bands

pytestmark = pytest.mark.slow
uvicorn = pytest.importorskip("uvicorn", reason="the app needs the web extra: pip install 'semvis[web]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (make test)")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed: apt-get install chromium (make test does, as root)",
        allow_module_level=True,
    )
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
#: Brush diameter in map pixels for the test stroke.
BRUSH = 31
#: The chroma (Lab a, b) the test colorizer gives the painted class.
PAINT_AB = (-60.0, 50.0)
#: Least mean chroma change (ΔE_ab over a and b, Lab units) inside the stroke that counts as visible.
VISIBLE = 10.0


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a free local port, served by uvicorn in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app_server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not app_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        app_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def server(make_app: Callable[..., Any]) -> Iterator[str]:
    """The app without a hash index."""
    with serving(make_app()) as url:
        yield url


@pytest.fixture
def painting_server() -> Iterator[str]:
    """The app on a width-4 colorizer whose class 3 ("paint") carries a strong green per-class prior:
    the page's edit must reach the model, and the model's answer the result, inside the stroke."""
    pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
    from semvis.app import create_app
    from semvis.colorize import SemanticColorizer
    from semvis.colorize.bins import gamut_bins

    torch.manual_seed(0)
    model = SemanticColorizer(len(LABELS.classes), width=4, head="classification", class_prior=True).eval()
    green = int((gamut_bins() * 110 - torch.tensor(PAINT_AB)).norm(dim=1).argmin())
    with torch.no_grad():
        model.prior.weight[3, green] = 50.0
    with serving(create_app(brightness_bands, LABELS, model)) as url:
        yield url


@pytest.fixture
def search_server(make_app: Callable[..., Any], searcher: Any) -> Iterator[str]:
    """The app with the six-image test index."""
    with serving(make_app(search=searcher)) as url:
        yield url


@contextmanager
def browser_page(errors: list[str]) -> Iterator[Any]:
    """A page in headless Chromium that appends its script errors and console errors to ``errors``."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            yield page
        finally:
            browser.close()


def fetch_array(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return np.array(Image.open(io.BytesIO(reply.read())))


def chroma(rgb: np.ndarray) -> np.ndarray:
    """Lab a, b (H×W×2) of an 8-bit RGB image."""
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)[1:].permute(1, 2, 0).numpy() * 110


def test_upload_paint_a_stroke_and_undo_in_chromium(painting_server: str) -> None:
    server = painting_server
    predicted = brightness_bands(image_to_tensor(load_image(SAMPLE))).numpy()
    errors: list[str] = []
    with browser_page(errors) as page:
        page.goto(server)
        page.wait_for_selector("body[data-state=ready]")
        assert page.is_hidden("#tab-search")  # no index loaded
        page.set_input_files("#file", str(SAMPLE))
        page.wait_for_selector('#result[data-version="0"]')
        page.wait_for_selector("body[data-state=ready]")
        image = f"{server}/api/images/{page.get_attribute('body', 'data-image')}"
        original_result = fetch_array(f"{image}/result.png")

        # the map canvas shows the predicted classes in their colours, pixel for pixel
        shown = page.evaluate(
            "() => { const c = document.getElementById('map');"
            " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
        )
        palette = np.array(LABELS.palette, dtype=np.uint8)
        expected = np.concatenate([palette[predicted], np.full((*predicted.shape, 1), 255, np.uint8)], axis=-1)
        assert np.array_equal(np.array(shown, dtype=np.uint8).reshape(expected.shape), expected)

        # paint a horizontal stroke of class 3 ("paint", never predicted) across the map
        page.select_option("#label", "3")
        page.locator("#size").fill(str(BRUSH))
        box = page.locator("#map").bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 0.2 * box["width"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.8 * box["width"], y, steps=12)
        page.mouse.up()
        page.wait_for_selector('#result[data-version="1"]')
        page.wait_for_selector("body[data-state=ready]")

        painted = fetch_array(f"{image}/labels.png")
        rows = np.flatnonzero((painted == 3).any(axis=1))
        columns = np.flatnonzero((painted == 3).any(axis=0))
        width = predicted.shape[1]
        assert len(rows) == BRUSH and abs(rows.mean() - predicted.shape[0] / 2) < 2  # one band, centred
        assert abs(columns[0] - 0.2 * width) < BRUSH and abs(columns[-1] - 0.8 * width) < BRUSH
        assert np.array_equal(np.where(painted == 3, predicted, painted), predicted)  # nothing else changed
        assert set(np.unique(painted)) <= {0, 1, 2, 3}  # no blended values at the stroke's edge
        recoloured = fetch_array(f"{image}/result.png")
        change = np.linalg.norm(chroma(recoloured) - chroma(original_result), axis=-1)
        stroke = painted == 3
        # the stroke is visibly recoloured, towards the painted class's colour, and the change stays in it
        assert change[stroke].mean() > VISIBLE and change[stroke].mean() > 5 * change[~stroke].mean()
        assert np.linalg.norm(np.median(chroma(recoloured)[stroke], axis=0) - PAINT_AB) < VISIBLE
        assert page.evaluate("document.getElementById('result').naturalWidth") == width

        # Ctrl+Z: the map and the result are the original ones again
        page.keyboard.press("Control+z")
        page.wait_for_selector('#result[data-version="2"]')
        page.wait_for_selector("body[data-state=ready]")
        assert np.array_equal(fetch_array(f"{image}/labels.png"), predicted)
        assert np.array_equal(fetch_array(f"{image}/result.png"), original_result)

        # Ctrl+Y brings the stroke back, Reset the predicted map
        page.keyboard.press("Control+y")
        page.wait_for_selector('#result[data-version="3"]')
        page.wait_for_selector("body[data-state=ready]")
        assert np.array_equal(fetch_array(f"{image}/labels.png"), painted)
        page.click("#reset")
        page.wait_for_selector('#result[data-version="4"]')
        page.wait_for_selector("body[data-state=ready]")
        assert np.array_equal(fetch_array(f"{image}/labels.png"), predicted)

        # the picker takes the label under the pointer and returns to the brush
        page.check('input[name="tool"][value="picker"]')
        page.mouse.click(box["x"] + 5, box["y"] + 5)
        corner = int(5 * width / box["width"])
        assert page.input_value("#label") == str(predicted[corner, corner])
        assert page.is_checked('input[name="tool"][value="brush"]')
    assert errors == []


def test_search_tab_shows_the_query_and_ranked_thumbnails_in_chromium(
    search_server: str, search_index: SearchIndex
) -> None:
    query = search_index.images[4]
    errors: list[str] = []
    with browser_page(errors) as page:
        page.goto(search_server)
        page.wait_for_selector("body[data-state=ready]")
        assert page.is_hidden("#search-view")
        page.click("#tab-search")
        assert page.is_visible("#search-view") and page.is_hidden("#colorize-view")
        assert page.text_content("#search-info") == "6 images · 48-bit codes · flat"
        page.set_input_files("#search-file", str(query))
        page.wait_for_selector("#hits li")
        page.wait_for_selector("#search-view[data-state=ready]")
        page.wait_for_function("() => [...document.querySelectorAll('#hits img')].every((i) => i.naturalWidth > 0)")
        hits = page.locator("#hits li")
        assert hits.count() == 6  # k = 12 asked, six indexed
        assert hits.nth(0).locator(".distance").text_content() == "#1 · distance 0"
        assert hits.nth(0).locator(".name").text_content() == query.name
        distances = [int(t.rsplit(" ", 1)[1]) for t in page.locator("#hits .distance").all_text_contents()]
        assert distances == sorted(distances)
        sizes = page.evaluate("() => [...document.querySelectorAll('#hits img')].map((i) => i.naturalWidth)")
        assert sizes == [160] * 6
        assert page.evaluate("document.getElementById('query').naturalWidth") == 48  # the query, shown locally
        timing = page.text_content("#search-timing") or ""
        assert timing.startswith("· 6 of 6 · server ") and timing.endswith(" s")
        assert page.text_content("#search-status") == ""

        page.click("#tab-colorize")  # the colorize view is still there
        assert page.is_visible("#tools") and page.is_hidden("#search-view")
    assert errors == []


def test_docs_page_renders_every_endpoint_offline_in_chromium(server: str) -> None:
    errors: list[str] = []
    with browser_page(errors) as page:
        outside: list[str] = []
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else (
            outside.append(route.request.url), route.abort()))  # fmt: skip
        page.goto(f"{server}/docs")
        page.wait_for_selector("#status", state="hidden")
        with urllib.request.urlopen(f"{server}/openapi.json", timeout=30) as reply:
            spec = json.load(reply)
        operations = sum(len(item) for item in spec["paths"].values())
        assert page.locator("section.op").count() == operations
        assert page.locator("section.schema").count() == len(spec["components"]["schemas"])
        assert "ImageState" in page.inner_text("#operations")  # response types link to their schema
    assert not errors and not outside
