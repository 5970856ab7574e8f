"""Routing suite: does the offline planner send each buyer message to the right skill?"""

from __future__ import annotations

from collections import Counter
from importlib import resources

from pydantic import BaseModel

from sourcing.agents.router import IntentRouter

ROUTING_DATASET = "routing.jsonl"


class RoutingCase(BaseModel):
    id: str
    text: str
    intent: str


class RoutingMiss(BaseModel):
    id: str
    text: str
    expected: str
    got: str
    by: str


class RoutingReport(BaseModel):
    cases: int
    accuracy: float
    by_intent: dict[str, float]
    misses: list[RoutingMiss]


def load_routing_cases() -> list[RoutingCase]:
    text = resources.files("sourcing.eval").joinpath("datasets", ROUTING_DATASET).read_text("utf-8")
    return [RoutingCase.model_validate_json(line) for line in text.splitlines() if line.strip()]


def run_routing_suite(router: IntentRouter, cases: list[RoutingCase]) -> RoutingReport:
    misses = []
    right: Counter[str] = Counter()
    total: Counter[str] = Counter(case.intent for case in cases)
    for case in cases:
        route = router.route(case.text)
        if route.intent == case.intent:
            right[case.intent] += 1
        else:
            misses.append(
                RoutingMiss(
                    id=case.id, text=case.text, expected=case.intent, got=route.intent, by=route.by
                )
            )
    return RoutingReport(
        cases=len(cases),
        accuracy=round(sum(right.values()) / max(len(cases), 1), 3),
        by_intent={name: round(right[name] / count, 3) for name, count in sorted(total.items())},
        misses=misses,
    )
