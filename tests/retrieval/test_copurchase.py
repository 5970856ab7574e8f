"""Co-purchase rules: known support, confidence and lift; thresholds, exclusions, rows."""

from __future__ import annotations

import pytest

from sourcing.retrieval.copurchase import CoPurchase

BASKETS = [["a", "b"], ["a", "b", "b"], ["a", "c"], ["b", "c"], ["d"], []]
CATEGORY = {"a": "T/m/x", "b": "T/m/y", "c": "T/n/z", "d": "T/n/z"}


def test_support_confidence_and_lift_match_hand_counts() -> None:
    stats = CoPurchase.build(BASKETS, CATEGORY)
    assert stats.basket_count == 5  # the empty basket does not count
    [rule] = stats.complements(["a"])
    assert (rule.item, rule.count, rule.because) == ("b", 2, ["a"])
    assert rule.support == pytest.approx(2 / 5)
    assert rule.confidence == pytest.approx(2 / 3)
    assert rule.lift == pytest.approx((2 / 3) / (3 / 5))
    assert rule.score == pytest.approx(rule.confidence * rule.lift, abs=1e-6)


def test_min_pair_count_keeps_rarer_pairs_only_when_lowered() -> None:
    strict = CoPurchase.build(BASKETS, CATEGORY, min_pair_count=2)
    loose = CoPurchase.build(BASKETS, CATEGORY, min_pair_count=1)
    assert [c.item for c in strict.complements(["c"])] == []
    assert [c.item for c in loose.complements(["a"])] == ["b", "c"]
    with pytest.raises(ValueError, match="min_pair_count"):
        CoPurchase.build(BASKETS, CATEGORY, min_pair_count=0)


def test_inputs_and_exclusions_are_never_suggested() -> None:
    stats = CoPurchase.build(BASKETS, CATEGORY, min_pair_count=1)
    together = stats.complements(["a", "b"])
    assert {c.item for c in together} == {"c"}
    assert sorted(together[0].because) == ["a", "b"]
    assert stats.complements(["a"], exclude=["b"])[0].item == "c"
    assert stats.complements(["a"], limit=1)[0].item == "b"


def test_category_complements_and_back_off() -> None:
    baskets = [["a", "c"], ["b", "d"], ["a", "c"], ["e"]]
    category = {"a": "A/a/a", "b": "A/a/a", "c": "C/c/c", "d": "C/c/c", "e": "E/e/e"}
    stats = CoPurchase.build(baskets, category)
    [leaf] = stats.category_complements(["A/a/a"])
    assert (leaf.item, leaf.count, leaf.confidence) == ("C/c/c", 3, 1.0)
    assert leaf.lift == pytest.approx(4 / 3, abs=1e-6)
    assert stats.complements(["b"]) == []  # b-d was bought together once only
    backed = stats.recommend(["b"], limit=5)
    assert [(c.item, c.level) for c in backed] == [("c", "category"), ("d", "category")]


def test_popular_and_thin() -> None:
    stats = CoPurchase.build(BASKETS, CATEGORY)
    assert stats.popular(2) == ["a", "b"]
    assert stats.popular(2, exclude=["a"]) == ["b", "c"]
    assert not stats.is_thin(["a"])
    assert stats.is_thin(["d"])
    assert stats.is_thin(["unknown"])
    assert stats.is_thin([])


def test_rows_round_trip() -> None:
    stats = CoPurchase.build(BASKETS, CATEGORY, min_pair_count=1)
    pairs, items = stats.to_rows()
    assert {(p.level, p.item_a, p.item_b) for p in pairs} >= {
        ("product", "a", "b"),
        ("product", "b", "a"),
        ("category", "T/m/x", "T/m/y"),
    }
    again = CoPurchase.from_rows(pairs, items, CATEGORY, min_pair_count=1)
    assert again.basket_count == stats.basket_count
    assert again.popular(4) == stats.popular(4)
    assert again.complements(["a", "c"]) == stats.complements(["a", "c"])
    assert again.category_complements(["T/m/x"]) == stats.category_complements(["T/m/x"])
