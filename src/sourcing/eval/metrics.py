"""Metrics as small pure functions: nDCG@k, Recall@k, MRR@k, their means, judge agreement."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")


def dcg(gains: Iterable[int]) -> float:
    """Discounted cumulative gain with exponential gain 2^grade - 1 (grade 0 adds nothing)."""
    return sum((2.0**grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(gains, start=1))


def ndcg_at_k(ranked_ids: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """DCG of the top `k` over the DCG of the ideal top `k`; 0.0 when nothing is relevant."""
    _check_k(k)
    ideal = dcg(sorted((g for g in grades.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg(grades.get(item, 0) for item in _unique(ranked_ids)[:k]) / ideal


def recall_at_k(ranked_ids: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Share of the relevant ids found in the top `k`; 0.0 when nothing is relevant."""
    _check_k(k)
    if not relevant_ids:
        return 0.0
    found = sum(1 for item in _unique(ranked_ids)[:k] if item in relevant_ids)
    return found / len(relevant_ids)


def mrr_at_k(ranked_ids: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """1 / rank of the first relevant id in the top `k`, else 0.0."""
    _check_k(k)
    for rank, item in enumerate(_unique(ranked_ids)[:k], start=1):
        if item in relevant_ids:
            return 1.0 / rank
    return 0.0


def relevant(grades: Mapping[str, int]) -> set[str]:
    """The ids with a positive grade."""
    return {item for item, grade in grades.items() if grade > 0}


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 for no values, so an empty group reads as nothing found."""
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def rate(numerator: int, denominator: int) -> float:
    """numerator / denominator, 0.0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def group_by(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    """Items grouped by `key`, groups and members in first-seen order."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _unique(ranked_ids: Sequence[str]) -> list[str]:
    # A duplicate id must not be credited twice.
    return list(dict.fromkeys(ranked_ids))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def agreement(pairs: Sequence[tuple[bool, bool]]) -> float:
    """Share of (judge, human) pairs that agree; 0.0 for no pairs."""
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0


def cohen_kappa(pairs: Sequence[tuple[bool, bool]]) -> float:
    """Agreement beyond chance, (p_o - p_e) / (1 - p_e); 1.0 when both always say the same."""
    if not pairs:
        return 0.0
    observed = agreement(pairs)
    yes_a = sum(a for a, _ in pairs) / len(pairs)
    yes_b = sum(b for _, b in pairs) / len(pairs)
    chance = yes_a * yes_b + (1 - yes_a) * (1 - yes_b)
    if chance == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - chance) / (1 - chance)
