"""Request bodies → images, in memory: the byte-capped body reader and the photo and label-map decoders.

No multipart (its parser spools large files to disk): images are raw request bodies, read into
memory under the app's ``max_upload_bytes`` and decoded by Pillow from memory, limited to a fixed
list of formats and to a pixel count checked before decoding. Every refusal is an
:class:`~fastapi.HTTPException` with one clear message.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import Depends, HTTPException, Request
from PIL import Image, ImageOps, UnidentifiedImageError

from semvis.data.images import DECODE_ERRORS, check_sides, open_image, to_mode
from semvis.errors import ImageError

#: Pillow formats an uploaded photo may have; label maps must be PNG.
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_PIXELS = 40_000_000


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


def binary_body(media_type: str, description: str) -> dict[str, Any]:
    """OpenAPI description of a raw binary request body (read by :func:`read_body`)."""
    schema = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "description": description, "content": {media_type: {"schema": schema}}}}


def _open(data: bytes, formats: tuple[str, ...], max_pixels: int, what: str) -> Image.Image:
    """Open in-memory image bytes and check their pixel count; nothing is decoded yet."""
    try:
        img = open_image(io.BytesIO(data), formats)
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


def decode_photo(
    data: bytes, max_side: int | None, max_pixels: int, what: str = "upload", min_side: int = 1
) -> Image.Image:
    """The uploaded photo upright, in RGB, with its longest side at most ``max_side`` (None: as it is);
    a 400 when a side is then under ``min_side`` px (the networks' :data:`~semvis.data.images.MIN_SIDE`)."""
    img = _open(data, PHOTO_FORMATS, max_pixels, what)
    if max_side is not None:
        scale = min(1.0, max_side / max(img.size))
        img.draft("RGB", (math.ceil(img.width * scale), math.ceil(img.height * scale)))  # JPEG: decode smaller
    try:
        photo = to_mode(ImageOps.exif_transpose(_decode(img, what)), "RGB", Path(what))
    except ImageError as exc:
        raise HTTPException(415, str(exc)) from None
    if max_side is not None and max(photo.size) > max_side:
        photo = ImageOps.contain(photo, (max_side, max_side), Image.Resampling.LANCZOS)
        what = f"{what}, scaled to a longest side of {max_side} px,"
    try:
        check_sides(photo.size, f"the {what} is", min_side=min_side)
    except ImageError as exc:
        raise HTTPException(400, str(exc)) from None
    return photo


def decode_label_map(data: bytes, size: tuple[int, int], num_classes: int, max_pixels: int) -> torch.Tensor:
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
