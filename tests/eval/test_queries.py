"""The labelled query dataset: shape, coverage per type, and the claims its labels make."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from sourcing.eval.queries import EvalQuery, QueryType, load_queries, parse_queries

QUERIES = load_queries()


def test_at_least_150_queries_covering_every_type() -> None:
    counts = Counter(query.type for query in QUERIES)
    assert len(QUERIES) >= 150
    assert set(counts) == set(QueryType)
    assert min(counts.values()) >= 20


@pytest.mark.parametrize(
    "query", [q for q in QUERIES if q.disjoint_from], ids=lambda q: f"{q.id}-{q.text}"
)
def test_synonyms_share_no_character_with_the_words_they_claim(query: EvalQuery) -> None:
    for word in query.disjoint_from:
        assert not set(query.text) & set(word), f"{query.text} shares characters with {word}"


@pytest.mark.parametrize(
    "query", [q for q in QUERIES if q.type is QueryType.TYPO], ids=lambda q: f"{q.id}-{q.text}"
)
def test_typos_differ_from_the_intended_text(query: EvalQuery) -> None:
    assert query.text != query.intended
    if len(query.text) == len(query.intended):  # a wrong character, not a respelling
        assert sum(a != b for a, b in zip(query.text, query.intended, strict=True)) == 1


def test_english_types_are_english() -> None:
    for query in QUERIES:
        if query.type in (QueryType.EN, QueryType.CROSS_LINGUAL):
            assert query.text.isascii(), query.id


def test_only_constraint_queries_state_constraints() -> None:
    line = {"id": "z", "text": "保温杯", "type": "zh", "relevance": {"leaf": ["保温杯"]}}
    with pytest.raises(ValidationError, match="state constraints"):
        EvalQuery.model_validate(line | {"expect": {"moq_max": 5}})
    with pytest.raises(ValidationError, match="state constraints"):
        EvalQuery.model_validate(line | {"type": "constraint"})


def test_typo_queries_name_the_intended_text() -> None:
    with pytest.raises(ValidationError, match="intended"):
        EvalQuery.model_validate(
            {"id": "t", "text": "保温被", "type": "typo", "relevance": {"leaf": ["保温杯"]}}
        )


def test_loader_rejects_duplicate_ids_and_skips_blank_lines(tmp_path: Path) -> None:
    row = {"id": "a", "text": "保温杯", "type": "zh", "relevance": {"leaf": ["保温杯"]}}
    path = tmp_path / "queries.jsonl"
    path.write_text(json.dumps(row) + "\n\n", encoding="utf-8")
    assert [query.id for query in load_queries(path)] == ["a"]
    with pytest.raises(ValueError, match="duplicate query id a"):
        parse_queries([json.dumps(row), json.dumps(row)])
