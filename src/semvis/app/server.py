"""FastAPI app: upload a photo, get its semantic map and colorization, repaint the map, colorize again.

Request data never reaches the filesystem: bodies are read into memory under a byte cap (no
multipart, whose parser spools large files to disk) and decoded by Pillow from memory, limited to
a fixed list of formats and a pixel count checked before decoding. Sessions live in a bounded
in-memory LRU, and image ids are random tokens matched against :data:`ID_PATTERN` before lookup.
"""

from __future__ import annotations

import io
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, Field

from semvis import __version__
from semvis.colorize import SemanticColorizer, colorize
from semvis.colorize.data import Segmenter
from semvis.data import image_to_tensor, tensor_to_image
from semvis.data.images import DECODE_ERRORS, to_mode
from semvis.errors import ImageError
from semvis.segment import LabelSpec, label_image

STATIC_DIR = Path(__file__).parent / "static"
#: Image ids: :func:`secrets.token_urlsafe` of 16 random bytes.
ID_PATTERN = r"^[A-Za-z0-9_-]{22}$"
#: Pillow formats an uploaded photo may have; label maps must be PNG.
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_PIXELS = 40_000_000

ImageId = Annotated[str, PathParam(pattern=ID_PATTERN, description="id returned by POST /api/images")]


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


class ImageState(BaseModel):
    """An uploaded photo: its size at work, the latest colorization and where to fetch the pictures."""

    id: str = Field(pattern=ID_PATTERN)
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


class SessionStore:
    """The ``capacity`` most recently used sessions, in memory, under random url-safe ids."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: Session) -> str:
        image_id = secrets.token_urlsafe(16)
        with self._lock:
            self._sessions[image_id] = session
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
        return image_id

    def get(self, image_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(image_id)
            if session is None:
                raise HTTPException(
                    404, f"no image {image_id}: unknown, or dropped after {self.capacity} more recent uploads"
                )
            self._sessions.move_to_end(image_id)
            return session


async def read_body(request: Request) -> bytes:
    """The raw request body, read into memory, refused past the app's ``max_upload_bytes``."""
    limit: int = request.app.state.max_upload_bytes
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind and not kind.startswith("image/") and kind != "application/octet-stream":
        raise HTTPException(415, f"send the image file itself as the request body (Content-Type image/…), not {kind}")
    too_large = HTTPException(413, f"the request body is larger than the limit of {limit:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    if not body:
        raise HTTPException(400, "the request body is empty: send the image file")
    return bytes(body)


Body = Annotated[bytes, Depends(read_body)]


def _open(data: bytes, formats: tuple[str, ...], max_pixels: int, what: str) -> Image.Image:
    """Open in-memory image bytes and check their pixel count; nothing is decoded yet."""
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        raise HTTPException(415, f"the {what} is not an image of a supported format ({', '.join(formats)})") from None
    except Image.DecompressionBombError as exc:
        raise HTTPException(400, f"the {what} is too large to decode safely ({exc})") from None
    except DECODE_ERRORS as exc:
        raise HTTPException(400, f"the {what} cannot be read ({exc})") from None
    width, height = img.size
    if width * height > max_pixels:
        raise HTTPException(
            400,
            f"the {what} is too large to decode: {width}x{height} = {width * height:,} pixels, limit {max_pixels:,}",
        )
    return img


def _decode(img: Image.Image, what: str) -> Image.Image:
    try:
        img.load()
    except DECODE_ERRORS as exc:
        raise HTTPException(400, f"the {what} is truncated or corrupt ({exc})") from None
    return img


def _photo(data: bytes, max_side: int, max_pixels: int) -> Image.Image:
    """The uploaded photo upright, in RGB, with its longest side at most ``max_side``."""
    img = _open(data, PHOTO_FORMATS, max_pixels, "upload")
    scale = min(1.0, max_side / max(img.size))
    img.draft("RGB", (math.ceil(img.width * scale), math.ceil(img.height * scale)))  # JPEG: decode smaller
    try:
        photo = to_mode(ImageOps.exif_transpose(_decode(img, "upload")), "RGB", Path("upload"))
    except ImageError as exc:
        raise HTTPException(415, str(exc)) from None
    if max(photo.size) > max_side:
        photo = ImageOps.contain(photo, (max_side, max_side), Image.Resampling.LANCZOS)
    return photo


def _label_map(data: bytes, size: tuple[int, int], num_classes: int, max_pixels: int) -> torch.Tensor:
    """An uploaded PNG of class indices (mode L or P) as an H×W uint8 tensor, checked against the photo."""
    img = _open(data, ("PNG",), max_pixels, "label map")
    if img.size != size:
        raise HTTPException(422, f"the label map is {img.width}x{img.height} but the image is {size[0]}x{size[1]}")
    if img.mode not in ("L", "P"):
        raise HTTPException(422, f"the label map must be an 8-bit PNG of class indices (mode L or P), not {img.mode}")
    labels = np.array(_decode(img, "label map"), dtype=np.uint8)
    if labels.max() >= num_classes:
        raise HTTPException(422, f"the label map holds class {labels.max()}, but the classes are 0…{num_classes - 1}")
    return torch.from_numpy(labels)


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG", compress_level=1)  # fast: sent over a local connection
    return buffer.getvalue()


def _png_response(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def _binary_body(media_type: str, description: str) -> dict[str, Any]:
    """OpenAPI description of a raw binary request body (read by :func:`read_body`)."""
    schema = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "description": description, "content": {media_type: {"schema": schema}}}}


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
) -> FastAPI:
    """The app: the page at ``/``, its files under ``/static`` and the JSON API under ``/api``.

    ``segmenter(rgb 3×H×W in [0, 1]) -> labels H×W`` predicts the classes of ``labels``; the
    colorizer must know as many classes. Uploads are scaled down to a longest side of ``max_side``,
    and the colorizer predicts chroma at a shorter side of ``work_size`` (as :func:`colorize` does).
    One model call runs at a time.
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
    store = SessionStore(max_sessions)
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
        "Images travel as raw request bodies; label maps are PNGs whose pixel values are class indices.",
    )
    app.state.max_upload_bytes = max_upload_bytes
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

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
        )

    @app.get("/api/classes")
    def get_classes() -> list[ClassInfo]:
        """The classes of the label maps, in index order."""
        return classes

    @app.post(
        "/api/images",
        status_code=201,
        openapi_extra=_binary_body("image/*", "the photo file (JPEG, PNG, WebP, BMP, GIF or TIFF) as the body"),
        responses={413: {"description": "body over the size limit"}, 415: {"description": "not a supported image"}},
    )
    def upload(data: Body) -> ImageState:
        """Segment a photo and colorize it under the predicted map; starts a session."""
        photo = _photo(data, max_side, max_pixels)
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
        openapi_extra=_binary_body("image/png", "the edited label map: PNG (mode L or P) of class indices"),
        responses={422: {"description": "label map of another size, or with a class out of range"}},
    )
    def recolorize(image_id: ImageId, data: Body) -> ImageState:
        """Colorize the photo again under an edited label map, which becomes the session's map."""
        session = store.get(image_id)
        edited = _label_map(data, session.photo.size, num_classes, max_pixels)
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
