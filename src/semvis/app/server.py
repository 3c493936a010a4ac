"""FastAPI app: upload a photo, get its semantic map and colorization, repaint the map, colorize again.

Request data never reaches the filesystem: bodies are read into memory under a byte cap and
decoded from memory (:mod:`semvis.app.uploads`). Sessions live in a bounded in-memory LRU, and
image ids are random tokens matched against :data:`~semvis.app.tokens.TOKEN_PATTERN` before lookup
(:mod:`semvis.app.tokens`). With a hash index, the page searches it too (:mod:`semvis.app.search`).
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from fastapi import FastAPI
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field

from semvis import __version__
from semvis.app.search import IndexSearcher, search_router
from semvis.app.tokens import TOKEN_PATTERN, TokenStore
from semvis.app.uploads import MAX_PIXELS, MAX_UPLOAD_BYTES, Body, binary_body, decode_label_map, decode_photo
from semvis.colorize import SemanticColorizer, colorize
from semvis.colorize.data import Segmenter
from semvis.data import LabelSpec, image_to_tensor, tensor_to_image
from semvis.data.images import MIN_SIDE
from semvis.segment import label_image

STATIC_DIR = Path(__file__).parent / "static"

ImageId = Annotated[str, PathParam(pattern=TOKEN_PATTERN, description="id returned by POST /api/images")]


class ClassInfo(BaseModel):
    """One class of the label maps."""

    index: int = Field(description="the class's pixel value in label maps")
    name: str
    color: str = Field(pattern="^#[0-9a-f]{6}$", description="display colour, #rrggbb")


class Health(BaseModel):
    """The server's state and limits."""

    status: Literal["ok"] = "ok"
    version: str
    classes: int
    work_size: int = Field(description="shorter side the colorizer predicts chroma at")
    max_side: int = Field(description="uploads are scaled down to this longest side")
    max_upload_bytes: int
    max_pixels: int = Field(description="largest pixel count an upload may decode to")
    sessions: int
    max_sessions: int
    search_index: bool = Field(description="whether a hash index is loaded, so that /api/search answers")


class ImageState(BaseModel):
    """An uploaded photo: its size at work, the latest colorization and where to fetch the pictures."""

    id: str = Field(pattern=TOKEN_PATTERN)
    width: int = Field(description="width of the photo as worked on (label map, result)")
    height: int
    version: int = Field(description="0 after the upload, +1 per colorization of an edited map")
    seconds: float = Field(description="server time of the last model run (upload: segmentation + colorization)")
    photo_url: str = Field(description="the photo as worked on (PNG)")
    labels_url: str = Field(description="the current label map: palette PNG, pixel value = class index")
    result_url: str = Field(description="the latest colorization (PNG)")


@dataclass
class Session:
    """One uploaded photo at working size, its current label map and its latest colorization."""

    photo: Image.Image
    labels: torch.Tensor  # H×W uint8 class indices
    result: bytes  # PNG
    seconds: float
    version: int = 0


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG", compress_level=1)  # fast: sent over a local connection
    return buffer.getvalue()


def _png_response(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


PNG_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}


def create_app(
    segmenter: Segmenter,
    labels: LabelSpec,
    colorizer: SemanticColorizer,
    work_size: int = 352,
    max_side: int = 1024,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_sessions: int = 32,
    search: IndexSearcher | None = None,
    max_thumbs: int = 1000,
) -> FastAPI:
    """The app: the page at ``/``, its files under ``/static`` and the JSON API under ``/api``.

    ``segmenter(rgb 3×H×W in [0, 1]) -> labels H×W`` predicts the classes of ``labels``; the
    colorizer must know as many classes. Uploads are scaled down to a longest side of ``max_side``,
    and the colorizer predicts chroma at a shorter side of ``work_size`` (as :func:`colorize` does).
    One model call runs at a time. With ``search``, the page and ``/api/search`` search its hash
    index; thumbnails of the ``max_thumbs`` most recent hits can be fetched.
    """
    num_classes = len(labels.classes)
    if colorizer.config["num_classes"] != num_classes:
        raise ValueError(f"{num_classes} classes but the colorizer expects {colorizer.config['num_classes']}")
    if num_classes > 256:
        raise ValueError(f"label maps are 8-bit: at most 256 classes, got {num_classes}")
    palette = labels.palette
    classes = [
        ClassInfo(index=i, name=name, color="#{:02x}{:02x}{:02x}".format(*colour))
        for i, (name, colour) in enumerate(zip(labels.classes, palette))
    ]
    store: TokenStore[Session] = TokenStore(max_sessions, "image")
    model_lock = threading.Lock()

    def colorized(photo: Image.Image, label_map: torch.Tensor) -> bytes:
        return _png(tensor_to_image(colorize(image_to_tensor(photo), label_map, colorizer, work_size)))

    def state(image_id: str, session: Session) -> ImageState:
        base = f"/api/images/{image_id}"
        return ImageState(
            id=image_id,
            width=session.photo.width,
            height=session.photo.height,
            version=session.version,
            seconds=round(session.seconds, 4),
            photo_url=f"{base}/photo.png",
            labels_url=f"{base}/labels.png?v={session.version}",
            result_url=f"{base}/result.png?v={session.version}",
        )

    app = FastAPI(
        title="semvis colorization",
        version=__version__,
        description="Semantic-driven colorization: upload a photo, repaint its semantic map, colorize again. "
        "Images travel as raw request bodies; label maps are PNGs whose pixel values are class indices. "
        "With a hash index loaded (semvis serve --index), /api/search finds the indexed images nearest to a photo.",
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN; /docs is served from the package
        redoc_url=None,
    )
    app.state.max_upload_bytes = max_upload_bytes
    app.state.search = search
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(search_router(model_lock, max_pixels, max_thumbs))

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        """The API described from /openapi.json by a page with no external assets (it works offline)."""
        return FileResponse(STATIC_DIR / "docs.html")

    @app.get("/api/health")
    def health() -> Health:
        return Health(
            version=__version__,
            classes=num_classes,
            work_size=work_size,
            max_side=max_side,
            max_upload_bytes=max_upload_bytes,
            max_pixels=max_pixels,
            sessions=len(store),
            max_sessions=max_sessions,
            search_index=search is not None,
        )

    @app.get("/api/classes")
    def get_classes() -> list[ClassInfo]:
        """The classes of the label maps, in index order."""
        return classes

    @app.post(
        "/api/images",
        status_code=201,
        openapi_extra=binary_body("image/*", "the photo file (JPEG, PNG, WebP, BMP, GIF or TIFF) as the body"),
        responses={413: {"description": "body over the size limit"}, 415: {"description": "not a supported image"}},
    )
    def upload(data: Body) -> ImageState:
        """Segment a photo and colorize it under the predicted map; starts a session."""
        photo = decode_photo(data, max_side, max_pixels, min_side=MIN_SIDE)
        with model_lock:
            start = time.perf_counter()
            image = image_to_tensor(photo)
            predicted = segmenter(image)
            if predicted.shape != image.shape[1:] or predicted.min() < 0 or predicted.max() >= num_classes:
                raise ValueError(f"the segmenter gave a map of shape {tuple(predicted.shape)} outside 0…{num_classes}")
            predicted = predicted.to(torch.uint8)
            result = colorized(photo, predicted)
            session = Session(photo, predicted, result, time.perf_counter() - start)
        image_id = store.add(session)
        return state(image_id, session)

    @app.post(
        "/api/images/{image_id}/colorize",
        openapi_extra=binary_body("image/png", "the edited label map: PNG (mode L or P) of class indices"),
        responses={422: {"description": "label map of another size, or with a class out of range"}},
    )
    def recolorize(image_id: ImageId, data: Body) -> ImageState:
        """Colorize the photo again under an edited label map, which becomes the session's map."""
        session = store.get(image_id)
        edited = decode_label_map(data, session.photo.size, num_classes, max_pixels)
        with model_lock:
            start = time.perf_counter()
            session.result = colorized(session.photo, edited)
            session.labels, session.seconds = edited, time.perf_counter() - start
            session.version += 1
            return state(image_id, session)

    @app.get("/api/images/{image_id}", summary="Image state")
    def get_image(image_id: ImageId) -> ImageState:
        return state(image_id, store.get(image_id))

    @app.get("/api/images/{image_id}/result.png", response_class=Response, responses=PNG_RESPONSE)
    def get_result(image_id: ImageId) -> Response:
        """The latest colorization."""
        return _png_response(store.get(image_id).result)

    @app.get("/api/images/{image_id}/labels.png", response_class=Response, responses=PNG_RESPONSE)
    def get_labels(image_id: ImageId) -> Response:
        """The current label map: a palette PNG whose pixel values are the class indices."""
        return _png_response(_png(label_image(store.get(image_id).labels, palette)))

    @app.get("/api/images/{image_id}/photo.png", response_class=Response, responses=PNG_RESPONSE)
    def get_photo(image_id: ImageId) -> Response:
        """The photo as worked on: upright, RGB, scaled down to the longest side limit."""
        return _png_response(_png(store.get(image_id).photo))

    return app
