"""The bundle suite on a small demo: our bundles never overrun silently, the naive pick does."""

from __future__ import annotations

import pytest

from sourcing.eval.bundle_suite import regressions, run_bundle_suite
from sourcing.eval.retrieval_suite import build_demo_environment
from sourcing.retrieval.embedders import Embedder


def test_bundles_keep_budget_and_moq_and_cover_the_required_shelves(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> None:
    env = build_demo_environment(
        tmp_path_factory.mktemp("bundles"), products=800, embedder=use_embedder
    )
    try:
        report = run_bundle_suite(env)
    finally:
        env.close()
    ours, naive = report.methods["build_bundle"], report.methods["naive top hit"]
    assert ours.cases == naive.cases == 5 * 4 * 3
    assert ours.budget_compliance == 1.0
    assert ours.moq_compliance == 1.0
    assert ours.wrong_shelf == 0
    assert ours.required_coverage >= 0.9
    assert naive.budget_compliance < 1.0  # the suite can tell a silent overrun when it sees one
    assert naive.moq_compliance < 1.0
    assert regressions(report, {"required_coverage": 0.0, "slot_coverage": 0.0}) == []
    assert regressions(report, {"required_coverage": 1.5, "slot_coverage": 0.0}) != []
