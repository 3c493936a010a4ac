"""Photo search in the app: upload a query, get the nearest images of a hash index as thumbnails.

The index is opened once, for reading only, with the encoder of the model that built it
(:func:`~semvis.hashing.encoder_for`). Its SQLite connection belongs to the thread that opened
it, so :class:`IndexSearcher` runs every index call in one worker thread of its own. Hits name
their file only (no folder), and their thumbnails are fetched by random tokens that map to the
hits' index entries in a bounded in-memory table: no value from a request is used as a path.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path, PurePath
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from PIL import Image
from pydantic import BaseModel, Field

from semvis.app.tokens import TOKEN_PATTERN, TokenStore
from semvis.app.uploads import Body, binary_body, decode_photo
from semvis.data import load_image
from semvis.device import DeviceSpec
from semvis.errors import ImageError
from semvis.hashing import HashCodes, HashIndex, SearchHit, encoder_for, square_crop
from semvis.hashing.sheet import THUMB

#: Most results one search may ask for.
MAX_K = 100
#: Largest ``nprobe`` / ``ef_search`` a request may ask for (bounds its cost).
MAX_PROBE = 4096
NO_INDEX = "no index loaded: start semvis serve --index INDEX to search"

R = TypeVar("R")
ThumbId = Annotated[str, PathParam(pattern=TOKEN_PATTERN, description="the id in a search hit's thumb_url")]


class SearchInfo(BaseModel):
    """The loaded index."""

    items: int = Field(description="images in the index")
    bits: int = Field(description="code length")
    kind: str = Field(description="faiss index: flat (exact), hnsw or ivf (approximate)")
    fingerprint: str = Field(description="the model whose codes the index holds")
    input_size: int = Field(description="side of the centred square a query is resized to before encoding")
    max_k: int = Field(description="most results one search may ask for")


class RankedImage(BaseModel):
    """One search result."""

    rank: int = Field(description="1 for the nearest")
    distance: int = Field(description="Hamming distance between the query's code and the image's")
    name: str = Field(description="the indexed file's name, without its folder")
    thumb_url: str = Field(description=f"a {THUMB}×{THUMB} JPEG of the image's centred square")


class SearchResult(BaseModel):
    """The nearest images to a query, by (Hamming distance, index id)."""

    k: int
    items: int = Field(description="images in the index")
    seconds: float = Field(description="server time: decoding, encoding and searching the query")
    hits: list[RankedImage]


class IndexSearcher:
    """A hash index opened read-only with the encoder of its model; close it (or use ``with``) when done.

    ``weights`` defaults to the file the index was built with; the encoder runs on ``device``
    (see :mod:`semvis.device`; ``None``: the CPU).
    """

    def __init__(self, path: str | Path, weights: str | Path | None = None, device: DeviceSpec | None = None) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semvis-index")
        try:
            self._index = self._call(HashIndex.open, path)
        except BaseException:
            self._worker.shutdown()
            raise
        try:
            self.encoder = encoder_for(self._index, weights, device=device)
        except BaseException:
            self.close()
            raise

    def _call(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(*args)`` in the thread that owns the index."""
        return self._worker.submit(fn, *args).result()

    def __len__(self) -> int:
        return self._call(len, self._index)

    def info(self) -> SearchInfo:
        """Size, code length, kind and model of the index."""

        def read(index: HashIndex) -> SearchInfo:
            return SearchInfo(
                items=len(index),
                bits=index.bits,
                kind=index.kind,
                fingerprint=index.fingerprint,
                input_size=self.encoder.input_size,
                max_k=MAX_K,
            )

        return self._call(read, self._index)

    def encode(self, photo: Image.Image) -> HashCodes:
        """The code of one RGB photo, preprocessed as the index's images were (centred square crop)."""
        return self.encoder.encode_images([photo])

    def search(
        self, codes: HashCodes, k: int, nprobe: int | None = None, ef_search: int | None = None
    ) -> list[SearchHit]:
        """The ``k`` nearest items to one code, by (distance, id); ``nprobe``/``ef_search`` tune IVF/HNSW."""
        return self._call(partial(self._index.search, codes, k, nprobe=nprobe, ef_search=ef_search))[0]

    def close(self) -> None:
        self._call(self._index.close)
        self._worker.shutdown()

    def __enter__(self) -> IndexSearcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def thumbnail(path: str) -> bytes:
    """A JPEG of the centred square of an indexed image, as the encoder sees it."""
    buffer = io.BytesIO()
    square_crop(load_image(path), THUMB).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def loaded(request: Request) -> IndexSearcher:
    """The app's searcher (``app.state.search``); 404 with :data:`NO_INDEX` when it has none."""
    searcher: IndexSearcher | None = request.app.state.search
    if searcher is None:
        raise HTTPException(404, NO_INDEX)
    return searcher


Loaded = Annotated[IndexSearcher, Depends(loaded)]


def search_router(model_lock: threading.Lock, max_pixels: int, max_thumbs: int) -> APIRouter:
    """The ``/api/search`` routes, searching with the app's ``state.search`` (404 while it is None).

    Thumbnail tokens of the ``max_thumbs`` most recent hits stay valid (at least one full search).
    """
    if max_thumbs < MAX_K:
        raise ValueError(f"max_thumbs must hold one search of {MAX_K} results, got {max_thumbs}")
    thumbs: TokenStore[str] = TokenStore(max_thumbs, "thumbnail")
    router = APIRouter(prefix="/api/search", tags=["search"])
    not_loaded: dict[int | str, dict[str, Any]] = {404: {"description": "no index loaded"}}

    @router.get("/info", responses=not_loaded)
    def info(index: Loaded) -> SearchInfo:
        """The loaded index: size, code length, kind and model."""
        return index.info()

    @router.post(
        "",
        openapi_extra=binary_body("image/*", "the query photo (JPEG, PNG, WebP, BMP, GIF or TIFF) as the body"),
        responses={
            **not_loaded,
            413: {"description": "body over the size limit"},
            415: {"description": "not a supported image"},
        },
    )
    def search(
        index: Loaded,
        data: Body,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="number of results")] = 10,
        nprobe: Annotated[int | None, Query(ge=1, le=MAX_PROBE, description="IVF: inverted lists visited")] = None,
        ef_search: Annotated[int | None, Query(ge=1, le=MAX_PROBE, description="HNSW: candidate list size")] = None,
    ) -> SearchResult:
        """The ``k`` indexed images nearest to the query photo, with thumbnail URLs."""
        start = time.perf_counter()
        photo = decode_photo(data, None, max_pixels, "query")  # full size: decoded as the indexed files were
        with model_lock:
            codes = index.encode(photo)
        hits = index.search(codes, k, nprobe, ef_search)
        ranked = [
            RankedImage(
                rank=rank,
                distance=hit.distance,
                name=PurePath(hit.path).name,
                thumb_url=f"{router.prefix}/thumbs/{thumbs.add(hit.path)}.jpg",
            )
            for rank, hit in enumerate(hits, start=1)
        ]
        return SearchResult(k=k, items=len(index), seconds=round(time.perf_counter() - start, 4), hits=ranked)

    @router.get(
        "/thumbs/{thumb_id}.jpg",
        dependencies=[Depends(loaded)],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, **not_loaded},
    )
    def get_thumbnail(thumb_id: ThumbId) -> Response:
        """The square thumbnail of a search hit, by the id in its ``thumb_url``."""
        try:
            data = thumbnail(thumbs.get(thumb_id))
        except ImageError:
            raise HTTPException(404, f"thumbnail {thumb_id}: the indexed image cannot be read any more") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return router
