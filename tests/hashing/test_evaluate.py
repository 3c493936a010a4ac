"""Retrieval reports: every score of a code set, its JSON round trip, tables and the PR chart."""

from __future__ import annotations

import json

import numpy as np

from semvis.hashing import pack_codes
from semvis.hashing.evaluate import (
    RetrievalScores,
    code_statistics,
    comparison_table,
    evaluate_retrieval,
    float_ranking_scores,
    per_class_tables,
    pr_chart,
)


def _scores() -> RetrievalScores:
    # 8-bit codes: class 0 items all-zero, class 1 items all-one except db item 3 (one bit off)
    db = np.array([[0] * 8, [0] * 8, [1] * 8, [1] * 7 + [0]])
    query = np.array([[0] * 8, [1] * 8])
    return evaluate_retrieval(
        pack_codes(query), np.array([0, 1]), pack_codes(db), np.array([0, 0, 1, 1]), 8, ["cat", "dog"], (1, 2, 4)
    )


def test_scores_match_the_rankings_by_hand() -> None:
    s = _scores()
    # query cat ranks db 0, 1 (d 0), 3 (d 7), 2 (d 8): AP@4 = 1; query dog ranks 2 (d 0), 3 (d 1), 0, 1: AP@4 = 1
    assert s.map_at == {1: 1.0, 2: 1.0, 4: 1.0}
    assert s.precision_at == {1: 1.0, 2: 1.0, 4: 0.5}
    assert s.per_class[2] == {"cat": 1.0, "dog": 1.0}
    # radius 0: cat retrieves 0, 1 (both right); dog retrieves 2 (right, half of its class)
    assert s.pr.precision[0] == 1.0 and s.pr.recall[0] == 0.75
    assert s.pr.recall[8] == 1.0 and s.pr.precision[8] == 0.5


def test_scores_survive_json() -> None:
    s = _scores()
    back = RetrievalScores.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back.summary() == s.summary() and back.per_class == s.per_class and back.bits == 8
    assert np.array_equal(back.pr.precision, s.pr.precision) and np.array_equal(back.pr.radius, s.pr.radius)


def test_tables_and_chart() -> None:
    s = _scores()
    table = comparison_table({"PSP": s, "baseline": s})
    assert table.splitlines()[0] == "| method | bits | map@1 | map@2 | map@4 | p@1 | p@2 | p@4 |"
    assert "| baseline | 8 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 0.500 |" in table
    per_class = per_class_tables({"PSP": s})
    assert set(per_class) == {1, 2, 4} and "| dog | 1.000 |" in per_class[4]
    chart = pr_chart({"PSP": s}, "title")
    assert chart.size == (640, 420) and len(np.unique(np.asarray(chart).reshape(-1, 3), axis=0)) > 2


def test_float_ranking_is_by_cosine_not_length() -> None:
    # query 0 points along x; db 1 is along x but short, db 0 is long and off-axis: cosine prefers db 1
    db = np.array([[10.0, 8.0], [0.1, 0.0], [0.0, 1.0]])
    scores = float_ranking_scores(np.array([[1.0, 0.0]]), np.array([1]), db, np.array([0, 1, 0]), (1, 3))
    assert scores["map@1"] == 1.0 and scores["p@1"] == 1.0
    assert scores["p@3"] == 1 / 3
    assert float_ranking_scores(np.array([[0.0, 1.0]]), np.array([1]), db, np.array([0, 1, 0]), (1,))["map@1"] == 0


def test_code_statistics_of_known_codes() -> None:
    # bit 0 always 1 (balance 0.5, constant), bits 1 and 2 equal (r = 1), bit 3 the opposite of bit 1
    # (r = -1); bits 4-7 always 0 (constant)
    b = np.array([[1, 0, 0, 1], [1, 1, 1, 0], [1, 0, 0, 1], [1, 1, 1, 0]])
    stats = code_statistics(pack_codes(np.hstack([b, np.zeros((4, 4), int)])), 8)
    assert stats["distinct"] == 2 and stats["distinct_fraction"] == 0.5
    assert stats["worst_bit_balance"] == 0.5 and stats["bit_balance"] == (0.5 + 0 + 0 + 0 + 4 * 0.5) / 8
    # |r| of the 56 ordered off-diagonal pairs: the 6 among bits 1-3 are 1, every pair with a constant bit 0
    assert np.isclose(stats["bit_correlation"], 6 / 56)
