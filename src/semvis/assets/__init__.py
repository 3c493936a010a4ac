"""Small files that ship with semvis: sample photos, a public-domain painting and ImageNet class names."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ASSETS = Path(__file__).parent
SAMPLES = ("astronaut", "cameraman", "chelsea", "coffee", "rocket", "starry_night")


def sample_path(name: str) -> Path:
    """Path of a bundled sample image (see ``assets/README.md`` for sources and terms)."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; available: {', '.join(SAMPLES)}")
    return ASSETS / "samples" / f"{name}.jpg"


@cache
def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names (first WordNet lemma) in training-index order."""
    rows = [
        line.split("\t")
        for line in (ASSETS / "imagenet_classes.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return [lemmas.split(",")[0].strip() for _, lemmas in rows]
