"""The conversation suite offline: scenario files validate, gated scenarios pass, checks bite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sourcing.eval.conversation_suite import (
    SKILLS,
    ConversationEnvironment,
    ConversationReport,
    Expect,
    Scenario,
    ScenarioTurn,
    build_conversation_environment,
    load_scenarios,
    pass_hat_k,
    run_conversation_suite,
)
from sourcing.retrieval.embedders import Embedder


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[ConversationEnvironment]:
    folder = Path(tmp_path_factory.mktemp("conversations"))
    with build_conversation_environment(folder, products=600, embedder=use_embedder) as built:
        yield built


@pytest.fixture(scope="module")
def report(env: ConversationEnvironment) -> ConversationReport:
    return run_conversation_suite(env, repeat=2)


def test_scenario_files_cover_every_skill_both_languages_and_adversarial_cases() -> None:
    scenarios = load_scenarios()
    gated = [s for s in scenarios if s.gated]
    assert len(gated) >= 40
    assert {s.language for s in gated} == {"zh", "en"}
    assert set().union(*(s.skills for s in scenarios)) == set(SKILLS)
    tags = {tag for s in gated for tag in s.tags}
    assert {"adversarial", "injection", "privacy", "impossible-budget", "multi-turn"} <= tags
    assert any(s.owner.startswith("merchant:") for s in gated)
    assert all(s.note for s in scenarios if not s.gated)  # every known gap says what is wrong


def test_every_gated_scenario_passes_both_runs(report: ConversationReport) -> None:
    assert report.failed == []
    gated = report.gated
    assert gated.scenario_pass_rate == 1.0
    assert gated.pass_hat_k == {1: 1.0, 2: 1.0}
    assert gated.tool_accuracy == gated.argument_accuracy == 1.0
    assert gated.constraint_violations == gated.hallucinated_products == gated.error_turns == 0
    assert gated.must_pass_rate == gated.must_not_pass_rate == 1.0
    assert 0 < gated.p50_latency_ms <= gated.p95_latency_ms
    assert gated.tokens_per_turn == 0  # offline: no model, no tokens
    assert report.mode == "offline"
    assert report.known_gaps is not None
    assert report.known_gaps.scenario_pass_rate < 1.0


def test_a_wrong_expectation_fails(env: ConversationEnvironment) -> None:
    wrong = Scenario(
        id="wrong-tool",
        persona="test",
        owner="b-0001",
        language="zh",
        turns=[
            ScenarioTurn(
                user="s-0003这家供应商靠谱吗",
                expect=Expect(tool="build_bundle", must_not_contain=["诚信分"]),
            )
        ],
    )
    result = run_conversation_suite(env, scenarios=[wrong]).scenarios[0]
    turn = result.runs[0].turns[0]
    assert (turn.tool, turn.tool_ok, turn.must_not_found) == ("supplier_profile", False, ["诚信分"])
    assert result.passes == 0


def test_pass_hat_k_is_the_share_passing_every_draw() -> None:
    assert pass_hat_k([2, 1, 0], trials=2, k=2) == pytest.approx(1 / 3, abs=1e-4)
    assert pass_hat_k([2, 1, 0], trials=2, k=1) == 0.5
