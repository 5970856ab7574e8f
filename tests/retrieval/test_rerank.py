"""Reranker features per (query, product) pair, the packaged model, and business bands."""

from __future__ import annotations

import math

import pytest

from sourcing.domain.errors import ConfigurationError
from sourcing.eval.train_reranker import Groups, train
from sourcing.retrieval.lexical import tokenize
from sourcing.retrieval.ranking import BUSINESS_SPAN, business_score, diversify
from sourcing.retrieval.rerank import (
    FEATURES,
    Evidence,
    PoolItem,
    QueryTerms,
    Reranker,
    pool_features,
)


def _item(product_id: str, title: str, details: str = "") -> PoolItem:
    terms = tuple(dict.fromkeys(tokenize(title)))
    return PoolItem(product_id, title, terms, frozenset(tokenize(details)))


POOL = [
    _item("a", "Belkin F8N065BLK laptop sleeve black"),
    _item("b", "Targus laptop sleeve black", "fits 15 inch laptops"),
    _item("c", "不锈钢保温杯 500ml"),
]
EVIDENCE = Evidence(
    fused={"a": 0.03, "b": 0.02, "c": 0.01},
    sparse={"a": 9.0, "b": 4.5},
    dense={"b": 0.8, "a": 0.6},
    sparse_best=9.0,
    dense_best=0.8,
)


def _rows(query: str) -> list[dict[str, float]]:
    rows = pool_features(QueryTerms.of(query), EVIDENCE, POOL)
    assert all(len(row) == len(FEATURES) for row in rows)
    return [dict(zip(FEATURES, row, strict=True)) for row in rows]


def test_scores_and_ranks_come_from_each_ranking_and_are_missing_where_it_did_not_rank() -> None:
    a, b, c = _rows("belkin laptop sleeve")
    assert a["sparse_ratio"] == 1.0
    assert b["sparse_ratio"] == 0.5
    assert b["dense_rank"] == pytest.approx(math.log1p(1))
    assert a["dense_rank"] == pytest.approx(math.log1p(2))
    assert math.isnan(c["sparse_ratio"])
    assert math.isnan(c["dense_rank"])
    assert c["fused_rank"] == pytest.approx(math.log1p(3))


def test_a_model_code_is_matched_whichever_way_it_is_written() -> None:
    a, b, _ = _rows("f8n-065blk sleeve")
    assert a["code_match"] == 1.0
    assert b["code_match"] == 0.0
    assert math.isnan(_rows("laptop sleeve")[0]["code_match"])  # no code asked for


def test_a_term_the_whole_pool_shares_weighs_less_than_a_rare_one() -> None:
    a, b, _ = _rows("belkin laptop sleeve")
    # Plain coverage: b lacks one term of three; weighted by pool IDF, the missing term
    # (belkin, in one title only) weighs more than a third.
    assert b["title_coverage"] == pytest.approx(2 / 3)
    assert b["title_weighted_coverage"] < b["title_coverage"]
    assert a["title_weighted_coverage"] == 1.0


def test_coverage_reads_the_details_and_language_mismatch_is_marked() -> None:
    a, b, c = _rows("sleeve 15 inch")
    assert b["document_coverage"] > b["title_coverage"]
    assert a["cross_lingual"] == 0.0
    assert c["cross_lingual"] == 1.0
    assert _rows("保温杯")[2]["cjk_character_coverage"] == 1.0


def test_the_packaged_model_loads_and_ranks_a_full_match_above_a_miss() -> None:
    reranker = Reranker.packaged()
    assert reranker.meta["features"] == list(FEATURES)
    assert set(reranker.meta["trained_on"]["sets"]) >= {"abt_buy", "zh_titles_dev"}  # type: ignore[index]
    scores = reranker.score(pool_features(QueryTerms.of("belkin f8n065blk sleeve"), EVIDENCE, POOL))
    assert scores[0] > scores[1] > scores[2]


def test_a_model_trained_on_other_features_is_refused() -> None:
    text = Reranker.packaged().to_text().replace('"cross_lingual"', '"something_else"', 1)
    with pytest.raises(ConfigurationError, match="train-reranker"):
        Reranker.from_text(text)


def test_training_is_deterministic_and_round_trips_through_the_model_file() -> None:
    groups = Groups([], [], [])
    for shift in range(30):
        rows = pool_features(QueryTerms.of("belkin laptop sleeve"), EVIDENCE, POOL)
        groups.extend([[value + shift * 0.01 for value in row] for row in rows], [1, 0, 0])
    first, second = train(groups, ["toy"]), train(groups, ["toy"])
    assert first.to_text() == second.to_text()
    loaded = Reranker.from_text(first.to_text())
    assert loaded.score(groups.rows[:3]).tolist() == first.score(groups.rows[:3]).tolist()
    assert loaded.meta["queries"] == 30


def test_business_signals_reorder_only_within_their_band() -> None:
    best_trust = business_score(0.80, quality=1.0, fit=1.0, in_stock=True)
    worst_trust = business_score(0.80 + BUSINESS_SPAN / 2, quality=0.0, fit=0.5, in_stock=False)
    assert best_trust > worst_trust  # close in relevance: trust, price and stock decide
    clearly_better = business_score(0.80 + BUSINESS_SPAN * 1.01, 0.0, 0.5, in_stock=False)
    assert clearly_better > best_trust  # clearly more relevant: nothing lifts the other above


def test_diversity_weighs_relevance_not_position() -> None:
    items = ["a1", "a2", *"bcdefghi"]  # a deep pool: a2 repeats a1, the rest barely relevant
    relevance = dict.fromkeys(items, 0.05) | {"a1": 1.0, "a2": 0.98}
    chosen = diversify(
        items,
        relevance=relevance.__getitem__,
        group=lambda item: item,
        similarity=lambda left, right: float(left[0] == right[0]),
        limit=5,
    )
    assert chosen[:2] == ["a1", "a2"]  # far more relevant than the rest: it stays second
    by_position = diversify(
        items, group=lambda item: item, similarity=lambda x, y: float(x[0] == y[0]), limit=5
    )
    assert "a2" not in by_position  # by position, a step is 1/9 and the repeat sinks
