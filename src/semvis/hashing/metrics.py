"""Retrieval metrics over Hamming rankings, with one documented tie order.

**Tie rule.** Database items are ranked by Hamming distance, and items at equal distance
by **database index, ascending** (a stable sort). Hamming distances take only
``bits + 1`` values, so ties are the rule, not the exception; an unstable sort (as in
some public hashing code) makes mAP change between runs and machines. With this rule it
cannot, and :class:`~semvis.hashing.index.HashIndex` returns results in the same order
(ids ascending within a distance).

**Relevance.** Single-label data (``labels`` of shape ``[n]``): an item is relevant to a
query with the same label. Multi-label data (``[n, classes]`` 0/1): relevant when they
share at least one label.

**AP@K** (the usual hashing definition): over the top ``K`` of the ranking,
``AP@K = (1 / R_K) · Σ_{i ≤ K} P(i) · rel(i)`` where ``P(i)`` is the precision of the top
``i`` and ``R_K`` the number of relevant items in the top ``K``; ``AP@K = 0`` when
``R_K = 0``. ``K = None`` ranks the whole database (mAP@all). mAP is the mean over queries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from semvis.hashing.codes import hamming_distance

Distances = np.ndarray | tuple[np.ndarray, np.ndarray]
#: Queries processed together (bounds the [queries, database] temporaries).
CHUNK = 256


def rank_by_hamming(distances: np.ndarray, k: int | None = None) -> np.ndarray:
    """Database indices per query, nearest first, ties by index ascending: ``[n, m] → [n, k]``."""
    d = np.atleast_2d(np.asarray(distances))
    order = np.argsort(d, axis=1, kind="stable")
    return order if k is None else order[:, :k]


def relevance(query_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """Boolean ``[n, m]`` relevance of every database item to every query."""
    q, db = np.asarray(query_labels), np.asarray(db_labels)
    if q.ndim != db.ndim or q.ndim not in (1, 2):
        raise ValueError(
            f"labels must both be [n] (single-label) or [n, classes] (multi-label), got {q.shape}, {db.shape}"
        )
    if q.ndim == 1:
        return q[:, None] == db[None, :]
    return (q.astype(np.int64) @ db.astype(np.int64).T) > 0


def average_precision_at_k(ranked_relevance: Sequence[bool] | np.ndarray, k: int | None = None) -> float:
    """AP@K of one ranking given as relevance flags in rank order (see the module docstring)."""
    rel = np.asarray(ranked_relevance, dtype=bool)[None]
    return float(_ap(rel, k)[0])


def _ap(ranked: np.ndarray, k: int | None) -> np.ndarray:
    """AP@K of each row of a boolean ``[n, m]`` matrix in rank order."""
    rel = ranked[:, :k] if k is not None else ranked
    hits = np.cumsum(rel, axis=1)
    precision = hits / np.arange(1, rel.shape[1] + 1)
    r_k = hits[:, -1] if rel.shape[1] else np.zeros(len(rel))
    total = (precision * rel).sum(axis=1)
    return np.divide(total, r_k, out=np.zeros(len(rel)), where=r_k > 0)


def _chunk_distances(distances: Distances, rows: slice) -> np.ndarray:
    """The distance rows of a chunk of queries, computed from codes when given codes."""
    if isinstance(distances, tuple):
        return hamming_distance(distances[0][rows], distances[1])
    return np.asarray(distances)[rows]


def _ranked_relevance(
    query_labels: np.ndarray, db_labels: np.ndarray, distances: Distances, k: int | None
) -> Iterator[tuple[slice, np.ndarray]]:
    """Per chunk of queries: the relevance flags of their rankings, ``[chunk, k]``."""
    q_labels = np.asarray(query_labels)
    for start in range(0, len(q_labels), CHUNK):
        rows = slice(start, start + CHUNK)
        order = rank_by_hamming(_chunk_distances(distances, rows), k)
        rel = relevance(q_labels[rows], db_labels)
        yield rows, np.take_along_axis(rel, order, axis=1)


def average_precisions(
    query_labels: np.ndarray, db_labels: np.ndarray, distances: Distances, k: int | None = None
) -> np.ndarray:
    """AP@K of every query. ``distances``: ``[n, m]`` array or ``(query_codes, db_codes)`` packed."""
    out = np.empty(len(query_labels))
    for rows, rel in _ranked_relevance(query_labels, db_labels, distances, k):
        out[rows] = _ap(rel, None)
    return out


def mean_average_precision(
    query_labels: np.ndarray, db_labels: np.ndarray, distances: Distances, k: int | None = None
) -> float:
    """mAP@K over all queries (``k=None``: the whole database)."""
    return float(average_precisions(query_labels, db_labels, distances, k).mean())


def precision_at_k(query_labels: np.ndarray, db_labels: np.ndarray, distances: Distances, k: int) -> float:
    """Mean fraction of relevant items in the top ``k`` (ties by index)."""
    hits = [rel.sum(axis=1) for _, rel in _ranked_relevance(query_labels, db_labels, distances, k)]
    return float(np.concatenate(hits).mean() / k)


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall of retrieving everything within Hamming radius ``radius[i]``."""

    radius: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


def precision_recall_curve(query_labels: np.ndarray, db_labels: np.ndarray, distances: Distances, bits: int) -> PRCurve:
    """Precision/recall per Hamming radius ``0..bits``, averaged over queries.

    A query that retrieves nothing within a radius counts precision 0 there; a query
    with no relevant item in the database counts recall 0.
    """
    q_labels = np.asarray(query_labels)
    precision, recall = np.zeros(bits + 1), np.zeros(bits + 1)
    for start in range(0, len(q_labels), CHUNK):
        rows = slice(start, start + CHUNK)
        d = _chunk_distances(distances, rows)
        rel = relevance(q_labels[rows], db_labels)
        n = len(d)
        # histograms of distances over all / relevant items, cumulated over radius
        retrieved = np.cumsum(_histogram(d, np.ones_like(rel), bits), axis=1)
        relevant = np.cumsum(_histogram(d, rel, bits), axis=1)
        total_rel = rel.sum(axis=1, keepdims=True)
        precision += np.divide(relevant, retrieved, out=np.zeros((n, bits + 1)), where=retrieved > 0).sum(0)
        recall += np.divide(relevant, total_rel, out=np.zeros((n, bits + 1)), where=total_rel > 0).sum(0)
    return PRCurve(np.arange(bits + 1), precision / len(q_labels), recall / len(q_labels))


def _histogram(distances: np.ndarray, mask: np.ndarray, bits: int) -> np.ndarray:
    """Per row, the number of masked items at each distance ``0..bits``."""
    n = len(distances)
    flat = (np.arange(n)[:, None] * (bits + 1) + distances)[mask.astype(bool)]
    return np.bincount(flat, minlength=n * (bits + 1)).reshape(n, bits + 1)


def per_class_map(
    query_labels: np.ndarray,
    db_labels: np.ndarray,
    distances: Distances,
    k: int | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, float]:
    """mAP@K per query class (single-label data), keyed by class name (default: the label)."""
    labels = np.asarray(query_labels)
    if labels.ndim != 1:
        raise ValueError("per-class mAP needs single-label queries")
    ap = average_precisions(labels, db_labels, distances, k)
    names = class_names or [str(c) for c in range(int(labels.max()) + 1)]
    return {names[c]: float(ap[labels == c].mean()) for c in np.unique(labels)}


def per_class_table(results: Mapping[str, Mapping[str, float]], digits: int = 3) -> str:
    """Markdown table in the style of the paper's Tables II/III: a row per class, a column per
    method (``results[method][class] = mAP``), and the class-balanced mean as the last row."""
    methods = list(results)
    classes = list(dict.fromkeys(c for m in methods for c in results[m]))
    lines = ["| class | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for name in classes:
        cells = [f"{results[m][name]:.{digits}f}" if name in results[m] else "—" for m in methods]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    means = [f"**{np.mean(list(results[m].values())):.{digits}f}**" for m in methods]
    lines.append("| **mean** | " + " | ".join(means) + " |")
    return "\n".join(lines)
