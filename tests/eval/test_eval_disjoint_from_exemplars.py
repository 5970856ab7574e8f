"""No buyer message or query an eval scores is also a phrase the agents were written from."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

EVAL_DATA = Path(str(resources.files("sourcing.eval").joinpath("datasets")))
AGENT_DATA = Path(str(resources.files("sourcing.agents").joinpath("data")))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> str:
    """Lower-cased words with punctuation dropped: 有什么需要补货的？ is 有什么需要补货的."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def _exemplars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from (item if key == "exemplars" else _exemplars(item))
    elif isinstance(value, list):
        for item in value:
            yield from _exemplars(item)


def _agent_exemplars() -> set[str]:
    found: set[str] = set()
    for path in AGENT_DATA.glob("*.json"):
        found |= {_words(s) for s in _exemplars(json.loads(path.read_text("utf-8")))}
    return found - {""}


def _agent_phrases() -> set[str]:
    phrases: set[str] = set()
    for path in AGENT_DATA.glob("*.json"):
        phrases |= {_normalised(s) for s in _strings(json.loads(path.read_text("utf-8")))}
    return phrases


def _eval_messages() -> Iterator[tuple[str, str]]:
    for path in sorted((EVAL_DATA / "conversations").glob("*.yaml")):
        for scenario in yaml.safe_load(path.read_text("utf-8"))["scenarios"]:
            for turn in scenario["turns"]:
                yield f"{path.name}:{scenario['id']}", turn["user"]
                # An expected query equal to an exemplar would score recall of the exemplar.
                query = turn.get("expect", {}).get("arguments", {}).get("query")
                if query:
                    yield f"{path.name}:{scenario['id']}:query", query
    english = json.loads((EVAL_DATA / "assortment_english.json").read_text("utf-8"))
    for leaf, name in english["leaves"].items():
        yield f"assortment_english.json:{leaf}", name
    messages = (
        ("routing.jsonl", "text"),
        ("judge_calibration.jsonl", "question"),
        ("retrieval_queries.jsonl", "text"),
    )
    for name, key in messages:
        for line in (EVAL_DATA / name).read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                yield f"{name}:{row['id']}", row[key]


def test_the_eval_sets_have_messages_to_check() -> None:
    assert sum(1 for _ in _eval_messages()) > 100
    assert len(_agent_phrases()) > 50


def test_no_eval_message_is_an_exemplar_or_a_phrase_the_planner_was_written_from() -> None:
    phrases = _agent_phrases()
    shared = [
        f"{where}: {message}"
        for where, message in _eval_messages()
        if _normalised(message) in phrases
    ]
    assert shared == []


def test_no_eval_message_holds_a_whole_exemplar() -> None:
    # "宠物出行场景配齐一整套货，预算2000" is the exemplar with a budget added: it still measures
    # recall of the exemplar. Cues are words and may appear; an exemplar is a whole request.
    exemplars = _agent_exemplars()
    assert len(exemplars) > 20
    shared = [
        f"{where}: {message}"
        for where, message in _eval_messages()
        for exemplar in exemplars
        if f" {exemplar} " in f" {_words(message)} "
    ]
    assert shared == []
