"""Retrieval scores of a set of codes, as the paper reports them (Tables II/III) and more.

mAP@10 and mAP@50 (relevant = same class, ties by database index: see
:mod:`semvis.hashing.metrics`), precision@K, the precision–recall curve over Hamming radii,
and per-class mAP. :func:`retrieval_report` writes them as Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from semvis.hashing.codes import unpack_codes
from semvis.hashing.metrics import (
    PRCurve,
    mean_average_precision,
    per_class_map,
    per_class_table,
    precision_at_k,
    precision_recall_curve,
)
from semvis.viz import line_chart

#: Cut-offs of the paper's tables.
MAP_CUTOFFS = (10, 50)


@dataclass(frozen=True)
class RetrievalScores:
    """``map_at[k]``, ``precision_at[k]``, the PR curve and ``per_class[k][class]`` mAP@k."""

    bits: int
    map_at: dict[int, float]
    precision_at: dict[int, float]
    pr: PRCurve
    per_class: dict[int, dict[str, float]]

    def summary(self) -> dict[str, float]:
        """Flat ``{"map@10": …, "p@10": …}`` for logs and JSON."""
        return {f"map@{k}": v for k, v in self.map_at.items()} | {f"p@{k}": v for k, v in self.precision_at.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_dict` reads it back."""
        return {
            "bits": self.bits,
            "map_at": self.map_at,
            "precision_at": self.precision_at,
            "pr": {"radius": self.pr.radius.tolist(), "precision": self.pr.precision.tolist(),
                   "recall": self.pr.recall.tolist()},
            "per_class": self.per_class,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetrievalScores:
        def by_cutoff(table: Mapping[str, Any]) -> dict[int, Any]:
            return {int(k): v for k, v in table.items()}

        pr = PRCurve(*(np.asarray(data["pr"][key]) for key in ("radius", "precision", "recall")))
        return cls(
            int(data["bits"]), by_cutoff(data["map_at"]), by_cutoff(data["precision_at"]), pr,
            by_cutoff(data["per_class"]),
        )  # fmt: skip


def evaluate_retrieval(
    query_codes: np.ndarray,
    query_labels: np.ndarray,
    db_codes: np.ndarray,
    db_labels: np.ndarray,
    bits: int,
    class_names: Sequence[str] | None = None,
    cutoffs: Sequence[int] = MAP_CUTOFFS,
) -> RetrievalScores:
    """Every score of :class:`RetrievalScores` for packed ``query_codes`` against ``db_codes``."""
    codes = (query_codes, db_codes)
    return RetrievalScores(
        bits,
        {k: mean_average_precision(query_labels, db_labels, codes, k) for k in cutoffs},
        {k: precision_at_k(query_labels, db_labels, codes, k) for k in cutoffs},
        precision_recall_curve(query_labels, db_labels, codes, bits),
        {k: per_class_map(query_labels, db_labels, codes, k, class_names) for k in cutoffs},
    )


def float_ranking_scores(
    query_features: np.ndarray,
    query_labels: np.ndarray,
    db_features: np.ndarray,
    db_labels: np.ndarray,
    cutoffs: Sequence[int] = MAP_CUTOFFS,
) -> dict[str, float]:
    """mAP@k and P@k of ranking by cosine similarity of float features (the bar codes must clear),
    keyed as :meth:`RetrievalScores.summary`."""

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    distances = -(unit(query_features) @ unit(db_features).T)  # nearest first; ties by index as for codes
    maps = {f"map@{k}": mean_average_precision(query_labels, db_labels, distances, k) for k in cutoffs}
    return maps | {f"p@{k}": precision_at_k(query_labels, db_labels, distances, k) for k in cutoffs}


def code_statistics(packed: np.ndarray, bits: int) -> dict[str, float]:
    """How well a set of codes uses its bits: ``distinct`` codes (and their ``distinct_fraction``),
    ``bit_balance`` (mean over bits of |fraction of ones − 0.5|; 0 is perfectly balanced) with the
    worst bit (``worst_bit_balance``), and ``bit_correlation`` (mean |Pearson r| over pairs of bits;
    a constant bit counts as uncorrelated)."""
    bits01 = (unpack_codes(np.asarray(packed), bits) > 0).astype(np.float64)
    n = len(bits01)
    ones = bits01.mean(axis=0)
    centred = bits01 - ones
    std = np.sqrt((centred**2).mean(axis=0))
    live = std > 0
    corr = np.zeros((bits, bits))
    if live.any():
        z = centred[:, live] / std[live]
        corr[np.ix_(live, live)] = z.T @ z / n
    off = ~np.eye(bits, dtype=bool)
    distinct = len(np.unique(np.asarray(packed), axis=0))
    return {
        "distinct": distinct,
        "distinct_fraction": distinct / n,
        "bit_balance": float(np.abs(ones - 0.5).mean()),
        "worst_bit_balance": float(np.abs(ones - 0.5).max()),
        "bit_correlation": float(np.abs(corr[off]).mean()),
    }


def comparison_table(scores: Mapping[str, RetrievalScores]) -> str:
    """Markdown: a row per method with every mAP@k and P@k."""
    first = next(iter(scores.values()))
    keys = list(first.summary())
    lines = ["| method | bits | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for method, s in scores.items():
        summary = s.summary()
        lines.append(f"| {method} | {s.bits} | " + " | ".join(f"{summary[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines)


def pr_chart(scores: Mapping[str, RetrievalScores], title: str = "") -> Image.Image:
    """Precision against recall over Hamming radii 0…bits, one line per method."""
    series = {m: list(zip(s.pr.recall.tolist(), s.pr.precision.tolist(), strict=True)) for m, s in scores.items()}
    return line_chart(series, "recall", "precision", title)


def per_class_tables(scores: Mapping[str, RetrievalScores]) -> dict[int, str]:
    """Per cut-off, the Table II/III-style per-class comparison of the methods."""
    cutoffs = next(iter(scores.values())).per_class
    return {k: per_class_table({m: s.per_class[k] for m, s in scores.items()}) for k in cutoffs}
