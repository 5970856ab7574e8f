"""The retrieval suite end to end: demo catalog, real USE embedder, Edge index, ProductSearch."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sourcing.eval import retrieval_suite
from sourcing.eval.catalog_search import below_baselines
from sourcing.eval.queries import QueryType, load_queries
from sourcing.eval.report import (
    RealSetReport,
    RetrievalReport,
    compare_to_baseline,
    load_baseline,
)
from sourcing.eval.retrieval_suite import (
    DemoEnvironment,
    build_demo_environment,
    judge_queries,
    run_retrieval_suite,
)
from sourcing.retrieval.embedders import Embedder
from tests.eval.beirfiles import write_beir


@pytest.fixture(scope="module")
def environment(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[DemoEnvironment]:
    env = build_demo_environment(tmp_path_factory.mktemp("retrieval-eval"), embedder=use_embedder)
    yield env
    env.close()


@pytest.fixture(scope="module")
def report(environment: DemoEnvironment) -> RetrievalReport:
    return run_retrieval_suite(environment, load_queries())


def test_every_query_has_a_relevant_product(environment: DemoEnvironment) -> None:
    grades = judge_queries(load_queries(), environment.listings())
    assert [query_id for query_id, found in grades.items() if not found] == []


def test_the_report_covers_every_mode_and_type(report: RetrievalReport) -> None:
    queries = load_queries()
    assert set(report.modes) == {"hybrid", "dense", "sparse"}
    assert len(report.rows) == 3 * len(queries)
    for mode in report.modes.values():
        assert list(mode.by_type) == [str(kind) for kind in QueryType]
        assert mode.overall.queries == len(queries)
        for metrics in (mode.overall, *mode.by_type.values()):
            for value in (metrics.ndcg_at_10, metrics.recall_at_50, metrics.mrr_at_10):
                assert 0.0 <= value <= 1.0


def test_parse_query_reads_the_constraints_each_query_states(report: RetrievalReport) -> None:
    found = [
        f"{m.id} {m.text!r}: expected {m.expected}, parsed {m.parsed}"
        for m in report.parse_mismatches
    ]
    assert found == []


def test_hybrid_hits_break_no_stated_constraint(report: RetrievalReport) -> None:
    broken = [
        f"{row.id} {row.text!r}: {row.violations}"
        for row in report.rows
        if row.mode == "hybrid" and row.violations
    ]
    assert broken == []


def test_hybrid_beats_dense_and_sparse(report: RetrievalReport) -> None:
    ndcg = {mode: result.overall.ndcg_at_10 for mode, result in report.modes.items()}
    assert ndcg["hybrid"] > ndcg["dense"]
    assert ndcg["hybrid"] > ndcg["sparse"]


def test_no_regression_against_the_committed_baseline(report: RetrievalReport) -> None:
    assert compare_to_baseline(report, load_baseline()) == []


def test_main_writes_reports_with_beir_and_gates_on_the_baseline(
    environment: DemoEnvironment,
    report: RetrievalReport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = dataclasses.replace(environment)
    monkeypatch.setattr(shared, "close", lambda: None)  # the module fixture closes it
    monkeypatch.setattr(retrieval_suite, "build_demo_environment", lambda _workdir: shared)
    beir = write_beir(tmp_path / "beir")
    out = tmp_path / "out"

    status = retrieval_suite.main(["--beir", str(beir), "--out", str(out)])

    written = json.loads((out / "retrieval.json").read_text(encoding="utf-8"))
    real = RealSetReport.model_validate(written["real_sets"][0])
    failing = compare_to_baseline(report, load_baseline()) + below_baselines(real)
    assert status == (1 if failing else 0)
    assert [real["name"] for real in written["real_sets"]] == ["beir"]
    assert {"BM25", "RRF", "product: + reranker"} <= set(written["real_sets"][0]["methods"])
    markdown = (out / "retrieval.md").read_text(encoding="utf-8")
    assert "| hybrid | " in markdown
    assert "## Real catalogs" in markdown
    assert "### beir" in markdown
