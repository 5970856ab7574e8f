"""Ranking metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from sourcing.eval.metrics import (
    dcg,
    group_by,
    mean,
    mrr_at_k,
    ndcg_at_k,
    rate,
    recall_at_k,
    relevant,
)


def test_dcg_uses_exponential_gain_and_log2_discount() -> None:
    # (2^2-1)/log2(2) + (2^0-1)/log2(3) + (2^1-1)/log2(4) = 3 + 0 + 0.5
    assert dcg([2, 0, 1]) == pytest.approx(3.5)


def test_ndcg_of_the_ideal_order_is_one() -> None:
    grades = {"a": 2, "b": 1, "c": 1}
    assert ndcg_at_k(["a", "b", "c", "x"], grades, 10) == pytest.approx(1.0)


def test_ndcg_hand_computed() -> None:
    grades = {"a": 2, "b": 1}
    # ranked x, b, a: DCG = 0 + 1/log2(3) + 3/log2(4); ideal = 3 + 1/log2(3)
    expected = (1 / math.log2(3) + 3 / 2) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "b", "a"], grades, 3) == pytest.approx(expected)


def test_ndcg_cuts_both_ranking_and_ideal_at_k() -> None:
    grades = {"a": 1, "b": 1, "c": 1}
    # top 1 is relevant and the ideal top 1 holds one relevant item
    assert ndcg_at_k(["a", "x", "y"], grades, 1) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], grades, 1) == 0.0


def test_ndcg_without_relevant_items_is_zero() -> None:
    assert ndcg_at_k(["a"], {}, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0


def test_duplicates_are_credited_once() -> None:
    assert ndcg_at_k(["a", "a"], {"a": 1, "b": 1}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert recall_at_k(["a", "a", "a"], {"a", "b"}, 3) == 0.5


def test_recall_at_k() -> None:
    assert recall_at_k(["a", "x", "b", "c"], {"a", "b", "c", "d"}, 3) == 0.5
    assert recall_at_k([], {"a"}, 5) == 0.0
    assert recall_at_k(["a"], set(), 5) == 0.0


def test_mrr_at_k() -> None:
    assert mrr_at_k(["x", "y", "a"], {"a"}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a"], {"a"}, 2) == 0.0
    assert mrr_at_k(["a", "b"], {"a", "b"}, 1) == 1.0


@pytest.mark.parametrize("metric", [recall_at_k, mrr_at_k])
def test_k_must_be_positive(metric: object) -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        metric(["a"], {"a"}, 0)  # type: ignore[operator]
    with pytest.raises(ValueError, match="k must be at least 1"):
        ndcg_at_k(["a"], {"a": 1}, 0)


def test_aggregation_helpers() -> None:
    assert mean([1.0, 0.0, 0.5]) == pytest.approx(0.5)
    assert mean([]) == 0.0
    assert rate(1, 4) == 0.25
    assert rate(3, 0) == 0.0
    assert relevant({"a": 2, "b": 0, "c": 1}) == {"a", "c"}
    assert group_by(["b1", "a1", "b2"], lambda item: item[0]) == {"b": ["b1", "b2"], "a": ["a1"]}
