"""The evaluation platform: one run's report folder, run diffs, the baseline gate, feedback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from sourcing.app.cli import app
from sourcing.domain.kinds import MessageRole
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.eval.conversation_suite import ScenarioFile
from sourcing.eval.platform import (
    EvalRun,
    compare_runs,
    import_feedback,
    load_run,
    resolve_suites,
    run_evaluation,
)
from sourcing.eval.platform_report import trend_chart
from sourcing.eval.routing_suite import load_routing_cases
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.search import ProductSearch, SearchRequest, SearchResult

PNG = b"\x89PNG\r\n\x1a\n"
FAST_SUITES = ["retrieval", "routing", "baskets"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> EvalRun:
    out = tmp_path_factory.mktemp("runs")
    return run_evaluation(FAST_SUITES, products=400, out_dir=out, embedder=use_embedder)


def test_groups_expand_in_registry_order() -> None:
    assert resolve_suites(["proactive", "retrieval"]) == [
        "retrieval",
        "replenishment",
        "opportunities",
    ]
    assert resolve_suites(["assortment"]) == ["substitutes", "baskets", "bundles"]
    with pytest.raises(ValueError, match="no eval suite"):
        resolve_suites(["nope"])


def test_a_run_writes_json_markdown_html_and_charts(small_run: EvalRun) -> None:
    folder = small_run.directory
    assert folder is not None
    assert [s.name for s in small_run.suites] == FAST_SUITES
    assert small_run.regressions == []
    markdown = (folder / "report.md").read_text("utf-8")
    assert markdown.startswith("# Evaluation run")
    assert "| suite | metric | value | baseline | Δ | status |" in markdown.splitlines()[2]
    for name in FAST_SUITES:
        assert f"| {name} |" in markdown
    png = (folder / "headlines.png").read_bytes()
    assert png.startswith(PNG)
    assert (folder / "latency.png").read_bytes().startswith(PNG)
    page = (folder / "report.html").read_text("utf-8")
    assert page.count("data:image/png;base64,") >= 2
    assert "<table>" in page


def test_the_json_report_keeps_every_case(small_run: EvalRun) -> None:
    assert small_run.directory is not None
    saved = load_run(small_run.directory)
    retrieval = saved.suite("retrieval")
    assert "hybrid/" + retrieval.report["rows"][0]["id"] in retrieval.cases
    assert len(retrieval.cases) == len(retrieval.report["rows"])
    assert len(retrieval.latencies_ms) == len(retrieval.cases)
    routing = saved.suite("routing")
    assert routing.metrics[0].name == "accuracy"
    assert routing.comparable
    assert len(routing.cases) == len(load_routing_cases())
    # 400 products is not the baselines' catalog: only catalog-independent checks gate.
    assert not retrieval.comparable
    assert retrieval.metrics[0].baseline is None


def _worse_copy(run: EvalRun, folder: Path) -> Path:
    assert run.directory is not None
    data = json.loads((run.directory / "report.json").read_text("utf-8"))
    for suite in data["suites"]:
        if suite["name"] == "routing":
            suite["metrics"][0]["value"] -= 0.1
            first = next(iter(suite["cases"]))
            suite["cases"][first]["correct"] = 0.0
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_compare_flags_a_drop_beyond_tolerance(small_run: EvalRun, tmp_path: Path) -> None:
    assert small_run.directory is not None
    worse = _worse_copy(small_run, tmp_path / "worse")
    comparison = compare_runs(small_run.directory, worse)
    assert [(d.suite, d.metric) for d in comparison.regressions] == [("routing", "accuracy")]
    assert [(c.suite, c.metric, c.a, c.b) for c in comparison.cases] == [
        ("routing", "correct", 1.0, 0.0)
    ]
    assert compare_runs(small_run.directory, worse, {"routing.accuracy": 0.2}).regressions == []
    assert compare_runs(small_run.directory, small_run.directory).regressions == []

    runner = CliRunner()
    failed = runner.invoke(app, ["eval", "compare", str(small_run.directory), str(worse)])
    assert failed.exit_code == 1, failed.output
    assert "REGRESSION" in failed.output
    same = [str(small_run.directory), str(small_run.directory)]
    assert runner.invoke(app, ["eval", "compare", *same]).exit_code == 0
    tolerant = runner.invoke(
        app, ["eval", "compare", str(small_run.directory), str(worse), "--tolerance=accuracy=0.5"]
    )
    assert tolerant.exit_code == 0, tolerant.output


def test_the_trend_chart_spans_saved_runs(small_run: EvalRun, tmp_path: Path) -> None:
    worse = load_run(_worse_copy(small_run, tmp_path / "worse"))
    png = trend_chart([small_run, worse])
    assert png is not None
    assert png.startswith(PNG)
    assert trend_chart([small_run]) is None


def test_a_broken_ranking_fails_eval_run_against_the_baseline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    healthy = ProductSearch.search

    def reversed_ranking(self: ProductSearch, request: SearchRequest) -> SearchResult:
        result = healthy(self, request)
        return result.model_copy(update={"hits": list(reversed(result.hits))})

    monkeypatch.setattr(ProductSearch, "search", reversed_ranking)
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        app, ["eval", "run", "--suite", "retrieval", "--products", "2000", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    (folder,) = out.iterdir()
    run = load_run(folder)
    retrieval = run.suite("retrieval")
    assert retrieval.comparable
    assert retrieval.status == "fail"
    assert any("nDCG@10 fell" in line for line in retrieval.regressions)
    assert "FAIL" in (folder / "report.md").read_text("utf-8").splitlines()[0]


def test_thumbs_down_becomes_a_draft_scenario(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(sqlite_engine) as session:
        repository = ConversationRepository(session)
        owner = "buyer:b-0001"
        conversation = repository.create(owner, "找货")
        repository.add_message(owner, conversation.id, MessageRole.USER, "找义乌的保温杯")
        good = repository.add_message(owner, conversation.id, MessageRole.ASSISTANT, "p-0001 …")
        repository.add_feedback(owner, good.id, 1)
        repository.add_message(owner, conversation.id, MessageRole.USER, "要便宜一点的，100个")
        bad = repository.add_message(owner, conversation.id, MessageRole.ASSISTANT, "p-9999 ¥1")
        repository.add_feedback(owner, bad.id, -1, "这个商品不存在")
        session.commit()
        bad_id = bad.id

    out = tmp_path / "drafts"
    assert import_feedback(sqlite_engine, out) == 1
    (path,) = out.glob("*.yaml")
    loaded = ScenarioFile.model_validate(yaml.safe_load(path.read_text("utf-8")))
    (scenario,) = loaded.scenarios
    assert scenario.owner == "buyer:b-0001"
    assert scenario.language == "zh"
    assert [turn.user for turn in scenario.turns] == ["找义乌的保温杯", "要便宜一点的，100个"]
    assert not scenario.gated
    assert "draft" in scenario.tags
    assert "p-9999 ¥1" in scenario.note
    assert "这个商品不存在" in scenario.note
    assert bad_id.lower() in scenario.id
    assert import_feedback(sqlite_engine, out) == 0  # a draft under review is never rewritten

    shutil.rmtree(out)
    monkeypatch.setenv("SOURCING_DATABASE_URL", sqlite_engine.url.render_as_string(False))
    result = CliRunner().invoke(app, ["eval", "import-feedback", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 new draft scenarios" in result.output
    assert len(list(out.glob("*.yaml"))) == 1
