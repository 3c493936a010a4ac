"""Showcase: photo search with the bundled hash model over a small index of bundled photos.

Each bundled photo enters a real :class:`~semvis.hashing.HashIndex` four times (as it is, mirrored,
a 70 % centre crop, and darker and turned by 8°). Three edited photos then query it, as
``semvis search`` does; each row of the picture shows a query and its five nearest codes, with the
Hamming distance (ties by index order).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from PIL import Image, ImageEnhance, ImageOps

from semvis.assets import SAMPLES, sample_path
from semvis.bundled import HASHNET, bundled_model
from semvis.data import load_image, save_image
from semvis.device import DeviceSpec
from semvis.hashing import HashIndex, ImageEncoder
from semvis.hashing.sheet import THUMB, captioned
from semvis.viz import labelled_grid

TITLE = "Semantic deep hashing"
Edit = Callable[[Image.Image], Image.Image]


def _crop(image: Image.Image, fraction: float, anchor: tuple[float, float] = (0.5, 0.5)) -> Image.Image:
    w, h = image.size
    cw, ch = round(w * fraction), round(h * fraction)
    left, top = round((w - cw) * anchor[0]), round((h - ch) * anchor[1])
    return image.crop((left, top, left + cw, top + ch))


#: How each photo enters the index.
VARIANTS: dict[str, Edit] = {
    "original": lambda im: im,
    "mirrored": ImageOps.mirror,
    "crop": lambda im: _crop(im, 0.7),
    "dark-turned": lambda im: ImageEnhance.Brightness(im.rotate(8, Image.Resampling.BILINEAR)).enhance(0.6),
}
#: The queries: a photo under an edit the index has not seen.
QUERIES: dict[str, tuple[str, Edit]] = {
    "chelsea, top-left crop": ("chelsea", lambda im: _crop(im, 0.6, (0.0, 0.0))),
    "rocket, mirrored + crop": ("rocket", lambda im: _crop(ImageOps.mirror(im), 0.75, (1.0, 0.5))),
    "coffee, brighter": ("coffee", lambda im: ImageEnhance.Brightness(im).enhance(1.4)),
}


def run(out_dir: Path, device: DeviceSpec | None = None) -> list[Path]:
    encoder = ImageEncoder(bundled_model(HASHNET), device=device)
    rows = []
    with TemporaryDirectory() as tmp:
        gallery = Path(tmp)
        paths = []
        for name in SAMPLES:
            photo = load_image(sample_path(name))
            for variant, edit in VARIANTS.items():
                paths.append(gallery / f"{name}-{variant}.jpg")
                edit(photo).save(paths[-1], quality=92)
        with HashIndex.create(gallery / "photos.index", encoder.bits, encoder.fingerprint) as index:
            index.add(paths, encoder.encode(paths))
            for name, edit in QUERIES.values():
                query = gallery / f"query-{name}.jpg"
                edit(load_image(sample_path(name))).save(query, quality=92)
                hits = index.search(encoder.encode([query]), k=5)[0]
                rows.append(
                    [captioned(query, "query")]
                    + [captioned(h.path, f"d={h.distance} {Path(h.path).stem}") for h in hits]
                )
        panel = labelled_grid(
            rows,
            (THUMB, THUMB),
            row_labels=list(QUERIES),
            title=f"Search by {encoder.bits}-bit codes (bundled hash model): "
            f"{len(paths)} indexed photos, 5 nearest per query",
        )
    target = out_dir / "search.png"
    save_image(panel, target, {"semvis": "demo search"})
    return [target]
