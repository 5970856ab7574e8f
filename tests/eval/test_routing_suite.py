"""The routing suite: offline routing of varied buyer messages, both languages."""

from __future__ import annotations

import json

from sourcing.agents.router import IntentRouter
from sourcing.eval.platform import routing_baseline_path
from sourcing.eval.routing_suite import load_routing_cases, run_routing_suite
from sourcing.retrieval.embedders import Embedder


def test_offline_routing_holds_its_committed_accuracy_on_unseen_phrasings(
    use_embedder: Embedder,
) -> None:
    cases = load_routing_cases()
    assert len(cases) >= 10
    assert {"zh", "en"} <= {"en" if case.text.isascii() else "zh" for case in cases}
    report = run_routing_suite(IntentRouter(use_embedder), cases)
    baseline = json.loads(routing_baseline_path().read_text("utf-8"))
    print(f"routing accuracy {report.accuracy} on {report.cases} cases: {report.misses}")
    assert report.cases == baseline["cases"]
    assert report.accuracy >= baseline["accuracy"]


def test_messages_without_cues_fall_back_to_exemplars(use_embedder: Embedder) -> None:
    router = IntentRouter(use_embedder)
    route = router.route("质量纠纷平台怎么判")
    assert (route.intent, route.by) == ("guide", "exemplar")
