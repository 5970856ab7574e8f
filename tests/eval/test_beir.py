"""BEIR-format loading, and a real catalog synced, searched and scored beside the baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sourcing.domain.errors import BadInputError
from sourcing.eval.beir import load_beir
from sourcing.eval.catalog_search import SERVED, below_baselines, evaluate_set, is_dev_query
from sourcing.eval.report import (
    ABLATION_END,
    ABLATION_START,
    Figures,
    RealSetReport,
    RetrievalReport,
    write_ablation,
)
from sourcing.retrieval.embedders import Embedder
from tests.eval.beirfiles import write_beir


def test_load_beir(tmp_path: Path) -> None:
    dataset = load_beir(write_beir(tmp_path))
    assert [doc.id for doc in dataset.corpus] == ["d1", "d2", "d3", "d4", "d5"]
    assert dataset.queries["q2"] == "wireless earphones"
    assert dataset.qrels == {"q1": {"d1": 2}, "q2": {"d3": 1}, "q3": {"d2": 1, "d5": 0}}


@pytest.fixture(scope="module")
def real_set(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> RealSetReport:
    folder = write_beir(tmp_path_factory.mktemp("beir") / "tiny")
    return evaluate_set(folder, tmp_path_factory.mktemp("work"), use_embedder)


def test_every_baseline_and_stage_is_scored_on_every_slice(real_set: RealSetReport) -> None:
    assert set(real_set.slices) == {"all", "dev", "test"}
    assert sorted(real_set.slices["all"]) == ["q1", "q2", "q3"]
    assert set(real_set.slices["dev"]) == {q for q in ("q1", "q2", "q3") if is_dev_query(q)}
    assert {"BM25", "dense", "RRF", SERVED, "product: + reranker"} <= set(real_set.methods)
    for figures in real_set.methods.values():
        assert figures["all"].queries == 3


def test_the_product_finds_each_query_s_document_first(real_set: RealSetReport) -> None:
    # Each query names its document's words: synced, indexed and searched as served.
    served = real_set.methods[SERVED]["all"]
    assert served.ndcg_at_10 == pytest.approx(1.0)
    assert served.recall_at_50 == pytest.approx(1.0)


def _with(report: RealSetReport, method: str, ndcg: float, recall: float) -> RealSetReport:
    methods = dict(report.methods)
    methods[method] = {"all": Figures(queries=3, ndcg_at_10=ndcg, recall_at_50=recall)}
    return report.model_copy(update={"methods": methods})


def test_below_baselines_names_each_shortfall(real_set: RealSetReport) -> None:
    report = _with(_with(_with(real_set, "BM25", 0.8, 1.0), "RRF", 0.7, 0.9), SERVED, 0.9, 0.95)
    assert below_baselines(report) == []
    worse = _with(report, SERVED, 0.75, 0.85)
    assert below_baselines(worse) == [
        "tiny: nDCG@10 0.750 not above BM25's 0.800",
        "tiny: Recall@50 0.850 below RRF's 0.900",
    ]


def _report(real_set: RealSetReport) -> RetrievalReport:
    return RetrievalReport(
        dataset="d", catalog={}, embedder="e", machine="m", seconds=0.0, modes={},
        parse_mismatches=[], rows=[], real_sets=[real_set],
    )  # fmt: skip


def test_the_ablation_section_is_rewritten_in_place(
    real_set: RealSetReport, tmp_path: Path
) -> None:
    page = tmp_path / "retrieval.md"
    page.write_text(f"# Retrieval\n\n{ABLATION_START}\nold\n{ABLATION_END}\n\nafter\n", "utf-8")
    write_ablation(page, _report(real_set))
    text = page.read_text("utf-8")
    assert "old" not in text
    assert text.startswith("# Retrieval\n\n")
    assert text.endswith(f"{ABLATION_END}\n\nafter\n")
    assert "### tiny" in text
    assert f"| {SERVED} | 1.000 / 1.000 |" in text


def test_a_page_without_the_markers_is_refused(real_set: RealSetReport, tmp_path: Path) -> None:
    page = tmp_path / "plain.md"
    page.write_text("# Retrieval\n", "utf-8")
    with pytest.raises(BadInputError, match="ablation:start"):
        write_ablation(page, _report(real_set))
    assert page.read_text("utf-8") == "# Retrieval\n"
