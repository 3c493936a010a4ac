from fractions import Fraction

import numpy as np
import pytest

from semvis.hashing import (
    average_precision_at_k,
    hamming_distance,
    mean_average_precision,
    pack_codes,
    per_class_map,
    per_class_table,
    precision_at_k,
    precision_recall_curve,
    rank_by_hamming,
    relevance,
)
from semvis.hashing.metrics import average_precisions

# Two queries over six database items. Query A (label 0) has ties at distance 1 (items
# 1, 2, 5) and 2 (items 0, 4); query B (label 1) at 0 (items 0, 1), 1 (4, 5) and 3 (2, 3).
DB_LABELS = np.array([0, 1, 0, 1, 0, 0])
QUERY_LABELS = np.array([0, 1])
DISTANCES = np.array([[2, 1, 1, 0, 2, 1], [0, 0, 3, 3, 1, 1]])


def test_ties_are_ranked_by_database_index() -> None:
    assert rank_by_hamming(DISTANCES).tolist() == [[3, 1, 2, 5, 0, 4], [0, 1, 4, 5, 2, 3]]
    assert rank_by_hamming(DISTANCES, k=2).tolist() == [[3, 1], [0, 1]]


def test_the_tie_rule_holds_on_large_tie_heavy_rankings_and_never_changes() -> None:
    rng = np.random.default_rng(0)
    d = rng.integers(0, 4, size=(3, 20_000))  # thousands of ties per distance
    expected = np.stack([np.lexsort((np.arange(d.shape[1]), row)) for row in d])
    for _ in range(3):
        assert np.array_equal(rank_by_hamming(d), expected)


def test_ap_at_k_by_hand() -> None:
    # ranked relevance 1 0 1 1 0: precisions at the hits 1, 2/3, 3/4
    assert average_precision_at_k([1, 0, 1, 1, 0], 5) == pytest.approx(float((1 + Fraction(2, 3) + Fraction(3, 4)) / 3))
    assert average_precision_at_k([1, 0, 1, 1, 0], 2) == 1.0  # R_2 = 1
    assert average_precision_at_k([0, 0, 1], 2) == 0.0  # nothing relevant in the top 2
    assert average_precision_at_k([1, 0, 1], None) == pytest.approx((1 + 2 / 3) / 2)


def test_map_with_ties_by_hand() -> None:
    # A: ranking 3 1 2 5 0 4 → relevance 0 0 1 1 1 1 → AP = (1/3 + 2/4 + 3/5 + 4/6) / 4 = 21/40
    # B: ranking 0 1 4 5 2 3 → relevance 0 1 0 0 0 1 → AP = (1/2 + 2/6) / 2 = 5/12
    ap = average_precisions(QUERY_LABELS, DB_LABELS, DISTANCES)
    assert ap.tolist() == pytest.approx([21 / 40, 5 / 12])
    assert mean_average_precision(QUERY_LABELS, DB_LABELS, DISTANCES) == pytest.approx((21 / 40 + 5 / 12) / 2)
    # AP@3: A has one hit, at rank 3; B one, at rank 2
    assert average_precisions(QUERY_LABELS, DB_LABELS, DISTANCES, k=3).tolist() == pytest.approx([1 / 3, 1 / 2])
    # the tie rule matters: ranking A's ties by descending index (3 5 2 1 4 0) would give 73/120
    assert average_precision_at_k(DB_LABELS[[3, 5, 2, 1, 4, 0]] == 0) == pytest.approx(73 / 120)


def test_codes_give_the_same_map_as_their_distances() -> None:
    rng = np.random.default_rng(1)  # 300 queries: more than one chunk of 256
    q, db = pack_codes(rng.choice([-1, 1], (300, 16))), pack_codes(rng.choice([-1, 1], (50, 16)))
    q_labels, db_labels = rng.integers(0, 3, 300), rng.integers(0, 3, 50)
    d = hamming_distance(q, db)
    by_codes = mean_average_precision(q_labels, db_labels, (q, db), k=10)
    assert by_codes == mean_average_precision(q_labels, db_labels, d, k=10)
    naive = [
        average_precision_at_k(db_labels[np.argsort(row, kind="stable")] == lab, 10) for row, lab in zip(d, q_labels)
    ]
    assert by_codes == pytest.approx(np.mean(naive))


def test_precision_at_k() -> None:
    # top 3 — A: 3 1 2 (one relevant), B: 0 1 4 (one relevant)
    assert precision_at_k(QUERY_LABELS, DB_LABELS, DISTANCES, 3) == pytest.approx(1 / 3)


def test_precision_recall_per_hamming_radius() -> None:
    curve = precision_recall_curve(QUERY_LABELS[:1], DB_LABELS, DISTANCES[:1], bits=3)
    # radius 0: item 3 (not relevant); 1: items 3 1 2 5 (2 of 4 relevant); 2 and 3: all six
    assert curve.radius.tolist() == [0, 1, 2, 3]
    assert curve.precision.tolist() == pytest.approx([0, 2 / 4, 4 / 6, 4 / 6])
    assert curve.recall.tolist() == pytest.approx([0, 2 / 4, 1, 1])
    # a query that retrieves nothing within a radius counts precision 0 there
    both = precision_recall_curve(QUERY_LABELS, DB_LABELS, np.array([[2, 1, 1, 0, 2, 1], [3, 3, 3, 3, 3, 3]]), bits=3)
    assert both.precision[0] == 0 and both.precision[3] == pytest.approx((4 / 6 + 2 / 6) / 2)


def test_multi_label_relevance_shares_a_label() -> None:
    q = np.array([[1, 0, 1]])
    db = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 1]])
    assert relevance(q, db).tolist() == [[True, False, True]]
    with pytest.raises(ValueError, match="single-label"):
        relevance(np.array([1]), db)


def test_per_class_table() -> None:
    table = per_class_map(QUERY_LABELS, DB_LABELS, DISTANCES, class_names=["bg", "fg"])
    assert table == pytest.approx({"bg": 21 / 40, "fg": 5 / 12})
    md = per_class_table({"ours": table, "Lin et al.": {"bg": 0.5, "fg": 0.25}})
    lines = md.splitlines()
    assert lines[0] == "| class | ours | Lin et al. |"
    assert lines[2] == "| bg | 0.525 | 0.500 |"
    assert lines[-1] == f"| **mean** | **{(21 / 40 + 5 / 12) / 2:.3f}** | **0.375** |"
