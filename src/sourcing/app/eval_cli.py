"""`sourcing eval` and `sourcing bench`: the only commands that load the eval code, inside them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp

from sourcing.app.console import console
from sourcing.app.container import ModelClients, System, build_container, build_model
from sourcing.app.local_model import (
    DEFAULT_MODEL,
    MODELS,
    assemble_model,
    model_spec,
    serve_model,
)
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.retrieval.embedders import Embedder, build_embedder

if TYPE_CHECKING:
    from sourcing.eval.bench_chat import AppFactory
    from sourcing.eval.platform import EvalRun

eval_app = typer.Typer(help="Offline evaluation suites.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Performance benchmarks (they print the machine).", no_args_is_help=True
)
LOCAL_EVAL_PORT = 8091  # apart from `sourcing model serve`'s 8081, so both can run


@eval_app.command("bundles")
def eval_bundles(
    products: Annotated[int, typer.Option(min=100)] = 2000,
    update_baseline: Annotated[bool, typer.Option(help="commit this run as the baseline")] = False,
) -> None:
    """Bundle budget/MOQ compliance and shelf coverage beside a naive pick; 1 on a regression."""
    from sourcing.eval import bundle_suite

    argv = [f"--products={products}"] + (["--update-baseline"] if update_baseline else [])
    raise typer.Exit(bundle_suite.main(argv))


@eval_app.command("replenishment")
def eval_replenishment(products: Annotated[int, typer.Option(min=100)] = 2000) -> None:
    """Forecast backtest (WAPE, MASE beside naive baselines) and the reorder policy's
    stock-out and overstock rates; 1 on a regression."""
    from sourcing.eval import replenishment_suite

    raise typer.Exit(replenishment_suite.main([f"--products={products}"]))


@eval_app.command("opportunities")
def eval_opportunities(products: Annotated[int, typer.Option(min=100)] = 2000) -> None:
    """Planted trends recovered (precision@10, recall) and no passed festival; 1 on a
    regression."""
    from sourcing.eval import opportunity_suite

    raise typer.Exit(opportunity_suite.main([f"--products={products}"]))


@eval_app.command("assortment")
def eval_assortment(products: Annotated[int, typer.Option(min=100)] = 2000) -> None:
    """Substitutes precision@5 (also cross-lingual) and 平替 price checks; 1 on a regression."""
    from sourcing.eval import assortment_suite

    raise typer.Exit(assortment_suite.main([f"--products={products}"]))


@eval_app.command("baskets")
def eval_baskets(products: Annotated[int, typer.Option(min=100)] = 2000) -> None:
    """Leave-one-out complete-the-basket hit-rate@10 beside most-popular; 1 on a regression."""
    from sourcing.eval import basket_suite

    raise typer.Exit(basket_suite.main([f"--products={products}"]))


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[
        list[Path] | None,
        typer.Option(help="also a real catalog in BEIR layout with a catalog.csv (repeatable)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="where the JSON and Markdown reports go")] = Path(
        "data/eval"
    ),
    ablation_doc: Annotated[
        Path | None, typer.Option(help="rewrite this page's ablation section (docs/retrieval.md)")
    ] = None,
    update_baseline: Annotated[bool, typer.Option(help="commit this run as the baseline")] = False,
) -> None:
    """The labelled query set over the demo catalog, and real catalogs beside BM25, dense and
    RRF stage by stage: nDCG, recall, MRR, violations.

    Exits 1 when a demo metric falls below the committed baseline by more than the tolerance,
    or the product falls below BM25 or RRF on a real catalog.
    """
    from sourcing.eval import retrieval_suite

    argv = ["--out", str(out)]
    for folder in beir or []:
        argv += ["--beir", str(folder)]
    argv += ["--ablation-doc", str(ablation_doc)] if ablation_doc else []
    argv += ["--update-baseline"] if update_baseline else []
    raise typer.Exit(retrieval_suite.main(argv))


@eval_app.command("train-reranker")
def eval_train_reranker(
    sets: Annotated[list[Path], typer.Argument(help="BEIR folders with a catalog.csv")],
) -> None:
    """Train the search reranker on the dev half of each real catalog and write the model
    file that ships with the code (src/sourcing/retrieval/models)."""
    from sourcing.eval import train_reranker

    raise typer.Exit(train_reranker.main([str(folder) for folder in sets]))


# --- evaluation platform: eval run / compare / import-feedback (issue 8) -------------------


class EvalModel(StrEnum):
    OFFLINE = "offline"
    ENDPOINT = "endpoint"
    LOCAL = "local"


@contextmanager
def _eval_chat(model: EvalModel, local_model: str) -> Iterator[ModelClients | None]:
    """The chat model an eval run talks to (None: the offline planner); a local model is
    assembled, verified, served on 127.0.0.1 for the run and stopped after it."""
    if model is EvalModel.OFFLINE:
        yield None
        return
    settings = Settings()
    if model is EvalModel.LOCAL:
        path = assemble_model(local_model, settings.data_dir / "models")
        with serve_model(path, port=LOCAL_EVAL_PORT, model=local_model) as server:
            # A small model on 2 cores: a minute for a first prompt, and answers kept brief.
            local = settings.model_copy(
                update={
                    "llm_base_url": server.base_url,
                    "llm_model": local_model,
                    "llm_timeout_s": 300.0,
                    "llm_max_tokens": 512,
                }
            )
            clients = build_model(local)
            try:
                yield clients
            finally:
                if clients is not None:
                    asyncio.run(clients.aclose())
        return
    clients = build_model(settings)
    if clients is None:
        console(stderr=True).print(
            "[red]error:[/red] --model endpoint needs SOURCING_LLM_BASE_URL and SOURCING_LLM_MODEL"
        )
        raise typer.Exit(2)
    try:
        yield clients
    finally:
        asyncio.run(clients.aclose())


def _print_headlines(run: EvalRun) -> None:
    from sourcing.eval.platform_report import HEADER, headline_rows

    table = Table(title=f"eval run: {run.products} products, model {run.model}")
    for name in HEADER:
        table.add_column(name, no_wrap=True)
    for row in headline_rows(run):
        table.add_row(*row, style="red" if row[5] == "FAIL" else None)
    # Wider than a pipe's default 80 columns, so CI logs show whole numbers.
    Console(highlight=False, width=max(Console().width, 110)).print(table)


@eval_app.command("run")
def eval_run(
    suite: Annotated[
        list[str] | None,
        typer.Option(help="a suite or group (assortment, proactive); repeat it; default all"),
    ] = None,
    products: Annotated[int, typer.Option(min=100, help="demo catalog size")] = 2000,
    model: Annotated[EvalModel, typer.Option(help="who answers the conversations")] = (
        EvalModel.OFFLINE
    ),
    repeat: Annotated[int, typer.Option(min=1, help="runs per conversation (pass^k)")] = 1,
    out: Annotated[Path, typer.Option(help="runs folder; each run gets a timestamped one")] = Path(
        "data/eval/runs"
    ),
    local_model: Annotated[
        str, typer.Option(help=f"with --model local: one of {', '.join(MODELS)}")
    ] = DEFAULT_MODEL,
) -> None:
    """Run the eval suites on one demo catalog; write report.json/.md/.html with charts.

    Exits 1 when a suite regresses against its committed baseline.
    """
    from sourcing.eval.platform import resolve_suites, run_evaluation

    try:
        names = resolve_suites(suite or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--suite") from exc
    model_spec(local_model)  # an unknown name fails before the demo is built
    with _eval_chat(model, local_model) as clients:
        run = run_evaluation(
            names,
            products=products,
            repeat=repeat,
            chat=clients.chat if clients else None,
            out_dir=out,
            model=f"local {local_model}" if model is EvalModel.LOCAL else str(model),
        )
    _print_headlines(run)
    for line in run.regressions:
        console().print(f"[red]REGRESSION[/red] {line}")
    folder = run.directory
    console().print(f"{run.seconds:.1f} s; report: {folder / 'report.html' if folder else '?'}")
    raise typer.Exit(1 if run.regressions else 0)


def _tolerance_option(values: list[str]) -> dict[str, float]:
    tolerances = {}
    for value in values:
        name, _, number = value.partition("=")
        try:
            tolerances[name] = float(number)
        except ValueError as exc:
            message = f"{value!r} is not METRIC=N"
            raise typer.BadParameter(message, param_hint="--tolerance") from exc
    return tolerances


@eval_app.command("judge")
def eval_judge(
    run: Annotated[
        Path | None, typer.Argument(help="a saved run whose conversation answers to grade")
    ] = None,
    model: Annotated[EvalModel, typer.Option(help="who judges")] = EvalModel.LOCAL,
    local_model: Annotated[
        str, typer.Option(help=f"with --model local: one of {', '.join(MODELS)}")
    ] = DEFAULT_MODEL,
) -> None:
    """Model-graded faithfulness and relevance: first against the hand-labelled calibration
    set (how often the judge agrees), then, given a run, over its conversation answers."""
    from sourcing.eval.answer_judge import (
        AnswerJudge,
        JudgeReport,
        cases_from_conversations,
        load_calibration,
    )
    from sourcing.prompts.loader import PromptLibrary

    if model is EvalModel.OFFLINE:
        raise typer.BadParameter("a judge needs a model: local or endpoint", param_hint="--model")
    answers = None
    if run is not None:
        report = json.loads((run / "report.json").read_text("utf-8"))
        suites = {suite["name"]: suite for suite in report["suites"]}
        if "conversation" not in suites:
            raise typer.BadParameter(f"{run} has no conversation suite", param_hint="RUN")
        answers = cases_from_conversations(suites["conversation"]["report"])
    model_spec(local_model)
    with _eval_chat(model, local_model) as clients:
        assert clients is not None
        judge = AnswerJudge(clients.chat, PromptLibrary())

        async def grade() -> tuple[JudgeReport, JudgeReport | None]:
            try:
                calibration = await judge.judge(load_calibration())
                return calibration, await judge.judge(answers) if answers is not None else None
            finally:
                # Closed in the loop its connections belong to; closing again later is a no-op.
                await clients.http_async_client.aclose()

        calibration, graded = asyncio.run(grade())

    def show(name: str, found: JudgeReport) -> None:
        line = f"{name}: {found.judged} judged ({found.failed} failed); faithful"
        line += f" {found.faithfulness:.3f}, relevant {found.relevance:.3f}"
        for label, numbers in found.agreement.items():
            line += f"; {label} agreement {numbers['agreement']:.3f} (kappa {numbers['kappa']:.3f})"
        typer.echo(line)

    show("calibration (hand labels)", calibration)
    folder = run or Settings().data_dir / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    out = {"calibration": calibration.model_dump(mode="json")}
    if graded is not None:
        show(f"answers in {run}", graded)
        out["answers"] = graded.model_dump(mode="json")
    path = folder / "judge.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"written: {path}")


@eval_app.command("compare")
def eval_compare(
    a: Annotated[Path, typer.Argument(help="the reference run (folder or report.json)")],
    b: Annotated[Path, typer.Argument(help="the run to judge against it")],
    tolerance: Annotated[
        list[str] | None,
        typer.Option(help="override as METRIC=N or SUITE.METRIC=N; repeat it"),
    ] = None,
    cases: Annotated[int, typer.Option(min=0, help="changed cases to list")] = 20,
) -> None:
    """Per-metric and per-case differences from run A to run B; 1 on a regression."""
    from sourcing.eval.platform import compare_runs

    comparison = compare_runs(a, b, _tolerance_option(tolerance or []))
    table = Table("suite", "metric", "A", "B", "Δ", "tolerance", "")
    for diff in comparison.metrics:
        delta = "–" if diff.delta is None else f"{diff.delta:+.4f}"
        table.add_row(
            diff.suite,
            diff.metric,
            "–" if diff.a is None else f"{diff.a:.4f}",
            "–" if diff.b is None else f"{diff.b:.4f}",
            delta,
            f"{diff.tolerance:.3f}",
            "REGRESSION" if diff.regressed else "",
            style="red" if diff.regressed else None,
        )
    out = console()
    out.print(table)
    out.print(f"{len(comparison.cases)} per-case differences")
    for case in comparison.cases[:cases]:
        out.print(f"  {case.suite} {case.case} {case.metric}: {case.a} -> {case.b}")
    for name in comparison.only_in_a + comparison.only_in_b:
        out.print(f"  {name}: in one run only, not compared")
    raise typer.Exit(1 if comparison.regressions else 0)


@eval_app.command("import-feedback")
def eval_import_feedback(
    out: Annotated[Path, typer.Option(help="where the draft scenarios go")] = Path(
        "data/eval/feedback-drafts"
    ),
) -> None:
    """Turn thumbs-down answers into draft conversation scenarios (YAML) to review."""
    from sourcing.eval.platform import import_feedback

    with System(Settings()) as system:
        written = import_feedback(system.engine, out)
    console().print(f"{written} new draft scenarios in {out}")


# --- end of the evaluation platform commands ------------------------------------------------


@bench_app.command("retrieval")
def bench_retrieval(
    products: Annotated[int, typer.Option(min=100)] = 100_000,
    queries: Annotated[int, typer.Option(min=10)] = 300,
    baseline_queries: Annotated[int, typer.Option(min=1)] = 30,
) -> None:
    """Ingest and filtered hybrid search, beside LangChain's QdrantVectorStore (local mode)."""
    from sourcing.eval import bench_retrieval as bench

    bench.main(
        [f"--products={products}", f"--queries={queries}", f"--baseline-queries={baseline_queries}"]
    )


def chat_bench_app_factory(embedder: Embedder) -> AppFactory:
    """The app layer builds the app, the benchmark in eval drives it: layers stay in order."""
    from sourcing.eval.bench_chat import MODEL_NAME as CHAT_BENCH_MODEL

    def build_bench_app(
        data_dir: Path, database_url: str, llm_base_url: str | None
    ) -> tuple[ASGIApp, Callable[[], None]]:
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            llm_base_url=llm_base_url or "",
            llm_model=CHAT_BENCH_MODEL if llm_base_url else "",
            llm_api_key="bench",
        )
        container = build_container(settings, embedder=embedder)
        return create_app(container=container), container.close

    return build_bench_app


@bench_app.command("chat")
def bench_chat(
    products: Annotated[int, typer.Option(min=100)] = 2000,
    turns: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """Chat-turn overhead and time to the first SSE event, model mocked, beside offline mode."""
    from sourcing.eval import bench_chat as bench

    factory = chat_bench_app_factory(build_embedder("use"))
    bench.main([f"--products={products}", f"--turns={turns}"], build_app=factory)


@bench_app.command("sync")
def bench_sync(products: Annotated[int, typer.Option(min=100)] = 100_000) -> None:
    """Catalog sync throughput beside a row-at-a-time ORM baseline."""
    from sourcing.eval import bench_sync as bench

    bench.main([f"--products={products}"])


@bench_app.command("load")
def bench_load(
    streams: Annotated[int, typer.Option(min=1, max=2000)] = 200,
    searches: Annotated[int, typer.Option(min=1)] = 1000,
    search_concurrency: Annotated[int, typer.Option(min=1, max=500)] = 20,
    products: Annotated[int, typer.Option(min=100)] = 2000,
    tokens_per_s: Annotated[float, typer.Option(min=1)] = 40.0,
    first_token_ms: Annotated[float, typer.Option(min=0)] = 300.0,
    max_seconds: Annotated[float, typer.Option(min=1, help="per phase")] = 300.0,
    data_dir: Annotated[Path, typer.Option(help="built once")] = Path("data/bench-load"),
    out: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
) -> None:
    """Concurrent chat streams and search throughput against `sourcing serve` in a second
    process, with a fake model streaming at a realistic token rate in a third."""
    from sourcing.eval import bench_load as bench

    argv = [
        f"--streams={streams}",
        f"--searches={searches}",
        f"--search-concurrency={search_concurrency}",
        f"--products={products}",
        f"--tokens-per-s={tokens_per_s}",
        f"--first-token-ms={first_token_ms}",
        f"--max-seconds={max_seconds}",
        f"--data-dir={data_dir}",
    ]
    report = bench.main([*argv, f"--out={out}"] if out else argv)
    if report.errors:
        raise typer.Exit(1)
