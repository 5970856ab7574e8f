"""The evaluation platform: a registry of suites, one run into one report folder, run diffs."""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml  # type: ignore[import-untyped,unused-ignore]
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.llm import ResilientChat
from sourcing.agents.router import IntentRouter, Route
from sourcing.domain.kinds import MessageRole
from sourcing.domain.repositories.feedback import FeedbackRepository, RatedAnswer
from sourcing.eval import (
    assortment_suite,
    basket_suite,
    bundle_suite,
    conversation_suite,
    opportunity_suite,
    replenishment_suite,
)
from sourcing.eval import report as retrieval_report
from sourcing.eval.machine import describe_machine
from sourcing.eval.queries import load_queries
from sourcing.eval.retrieval_suite import (
    DEMO_PRODUCTS,
    DemoEnvironment,
    build_demo_environment,
    run_retrieval_suite,
)
from sourcing.eval.routing_suite import load_routing_cases, run_routing_suite
from sourcing.eval.suite_cli import baseline_file
from sourcing.retrieval.embedders import Embedder, build_embedder
from sourcing.retrieval.search import ProductSearch, SearchRequest, SearchResult

TOLERANCE = 0.02
SMALL_CATALOG = 1000  # below this few products have five substitutes: the assortment smoke mode
GROUPS: Mapping[str, tuple[str, ...]] = {
    "assortment": ("substitutes", "baskets", "bundles"),
    "proactive": ("replenishment", "opportunities"),
}


class Metric(BaseModel):
    """A headline number, its committed baseline where one applies, and which way is better."""

    name: str
    value: float
    baseline: float | None = None
    higher_is_better: bool = True
    tolerance: float = TOLERANCE
    count: bool = False  # a number of things (violations, passed festivals), not a rate

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None else self.value - self.baseline

    def worse_than(self, reference: float, tolerance: float | None = None) -> bool:
        """Whether this value is worse than `reference` by more than the tolerance."""
        allowed = self.tolerance if tolerance is None else tolerance
        change = self.value - reference
        return change < -allowed if self.higher_is_better else change > allowed


class SuiteResult(BaseModel):
    """One suite's outcome: headline metrics, gate result, per-case metrics, raw report."""

    name: str
    description: str
    status: str  # pass | fail | skipped
    seconds: float = 0.0
    comparable: bool = False  # whether the run matches the baseline's catalog
    note: str = ""
    metrics: list[Metric] = []
    regressions: list[str] = []
    cases: dict[str, dict[str, float]] = {}
    latencies_ms: list[float] = []
    details: str = ""  # the suite's own text table
    report: dict[str, Any] = {}


class EvalRun(BaseModel):
    """Everything one `sourcing eval run` measured; report.json is this, serialised."""

    started_at: str
    machine: str
    products: int
    model: str
    repeat: int
    seconds: float
    suites: list[SuiteResult]
    directory: Path | None = Field(default=None, exclude=True)

    @property
    def regressions(self) -> list[str]:
        return [f"{suite.name}: {line}" for suite in self.suites for line in suite.regressions]

    def suite(self, name: str) -> SuiteResult:
        return next(suite for suite in self.suites if suite.name == name)


@dataclass
class SuiteContext:
    """What suites share within one run: the demo catalog and its index are built once."""

    products: int
    repeat: int
    workdir: Path
    chat: ResilientChat | None = None
    embedder: Embedder | None = None
    conversations: conversation_suite.ConversationReport | None = None
    _env: DemoEnvironment | None = None

    def model(self) -> Embedder:
        if self.embedder is None:
            self.embedder = build_embedder("use")
        return self.embedder

    def env(self) -> DemoEnvironment:
        if self._env is None:
            self._env = build_demo_environment(
                self.workdir / "demo", products=self.products, embedder=self.model()
            )
        return self._env

    def close(self) -> None:
        if self._env is not None:
            self._env.close()


class SuiteUnavailableError(Exception):
    """The suite is registered but cannot run here (not built yet, or needs a model)."""


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    description: str
    run: Callable[[SuiteContext], SuiteResult]
    needs_model: bool = False  # --repeat applies only where a model makes runs differ


def _never(name: str, value: float) -> Metric:
    """A count that must stay at zero: any at all is a regression."""
    return _metric(name, value, 0.0, higher_is_better=False, tolerance=0.0)


def _metric(name: str, value: float, baseline: float | None, **kwargs: Any) -> Metric:
    return Metric(
        name=name,
        value=round(float(value), 4),
        count=isinstance(value, int),
        baseline=None if baseline is None else round(float(baseline), 4),
        **kwargs,
    )


def _result(spec_name: str, description: str, **fields: Any) -> SuiteResult:
    regressions = fields.get("regressions", [])
    return SuiteResult(
        name=spec_name,
        description=description,
        status="fail" if regressions else "pass",
        **fields,
    )


def _catalog_note(comparable: bool, baseline_products: object) -> str:
    if comparable:
        return ""
    return (
        f"baseline is for {baseline_products} products: only catalog-independent checks gate "
        "this run"
    )


class _TimedSearch:
    """ProductSearch with each search timed; every other attribute passes through."""

    def __init__(self, search: ProductSearch) -> None:
        self._search = search
        self.ms: list[float] = []

    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        result = self._search.search(request)
        self.ms.append((time.perf_counter() - started) * 1000)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._search, name)


class _TimedRouter(IntentRouter):
    def __init__(self, embedder: Embedder) -> None:
        super().__init__(embedder)
        self.ms: list[float] = []

    def route(self, message: str) -> Route:
        started = time.perf_counter()
        route = super().route(message)
        self.ms.append((time.perf_counter() - started) * 1000)
        return route


def run_retrieval(ctx: SuiteContext) -> SuiteResult:
    env = ctx.env()
    timed = _TimedSearch(env.search)
    found = run_retrieval_suite(
        dataclasses.replace(env, search=cast(ProductSearch, timed)), load_queries()
    )
    baseline = retrieval_report.load_baseline()
    comparable = found.catalog.get("products") == baseline.catalog.get("products")
    # Against its own numbers only the catalog-independent checks (violations) can fail.
    reference = baseline if comparable else retrieval_report.baseline_of(found)
    hybrid = found.modes[retrieval_report.BASELINE_MODE].overall
    shown = baseline.overall if comparable else None
    metrics = [
        _metric(name, getattr(hybrid, name), getattr(shown, name) if shown else None)
        for name in retrieval_report.METRICS
    ]
    metrics.append(
        _metric(
            "violation_rate",
            hybrid.violation_rate,
            shown.violation_rate if shown else None,
            higher_is_better=False,
            tolerance=0.0,
        )
    )
    return _result(
        "retrieval",
        "labelled queries through hybrid search (nDCG@10, Recall@50, MRR@10, violations)",
        comparable=comparable,
        note=_catalog_note(comparable, baseline.catalog.get("products")),
        metrics=metrics,
        regressions=retrieval_report.compare_to_baseline(found, reference),
        cases={
            f"{row.mode}/{row.id}": {
                "ndcg_at_10": row.ndcg_at_10,
                "recall_at_50": row.recall_at_50,
                "mrr_at_10": row.mrr_at_10,
            }
            for row in found.rows
        },
        latencies_ms=[round(ms, 3) for ms in timed.ms],
        details="\n".join(retrieval_report.markdown(found).splitlines()[6:11]),
        report=found.model_dump(mode="json"),
    )


def routing_baseline_path() -> Path:
    return baseline_file("routing.json")


def run_routing(ctx: SuiteContext) -> SuiteResult:
    cases = load_routing_cases()
    router = _TimedRouter(ctx.model())
    found = run_routing_suite(router, cases)
    baseline = json.loads(routing_baseline_path().read_text("utf-8"))
    metric = _metric("accuracy", found.accuracy, baseline["accuracy"])
    regressions = (
        [f"accuracy {found.accuracy:.3f} < baseline {baseline['accuracy']:.3f} - {TOLERANCE}"]
        if metric.worse_than(baseline["accuracy"])
        else []
    )
    missed = {miss.id for miss in found.misses}
    return _result(
        "routing",
        "buyer messages to skills by the offline intent router",
        comparable=True,
        metrics=[metric],
        regressions=regressions,
        cases={case.id: {"correct": 0.0 if case.id in missed else 1.0} for case in cases},
        latencies_ms=[round(ms, 3) for ms in router.ms],
        details="\n".join(f"{name:<24} {value:.3f}" for name, value in found.by_intent.items()),
        report=found.model_dump(mode="json"),
    )


def run_substitutes(ctx: SuiteContext) -> SuiteResult:
    min_labels = 2 if ctx.products < SMALL_CATALOG else assortment_suite.MIN_LABELS
    found = assortment_suite.run_assortment_suite(ctx.env(), min_labels=min_labels)
    baseline = assortment_suite.AssortmentBaseline.model_validate_json(
        assortment_suite.default_baseline_path().read_text("utf-8")
    )
    comparable = found.catalog["products"] == baseline.catalog_products
    return _result(
        "substitutes",
        "similar assortment: substitutes precision@5 (also cross-lingual), 平替 checks",
        comparable=comparable,
        note=_catalog_note(comparable, baseline.catalog_products),
        metrics=[
            _metric(
                "precision_at_5",
                found.precision_at_5["similar_products"],
                baseline.precision_at_5 if comparable else None,
            ),
            _metric(
                "cross_lingual_precision_at_5",
                found.cross_lingual_precision_at_5,
                baseline.cross_lingual_precision_at_5 if comparable else None,
            ),
            _never("cheaper_violations", found.cheaper_violations),
        ],
        regressions=assortment_suite.compare_to_baseline(found, baseline),
        details=assortment_suite.markdown(found),
        report=found.model_dump(mode="json"),
    )


def run_baskets(ctx: SuiteContext) -> SuiteResult:
    found = basket_suite.run_basket_suite(ctx.products)
    baseline = basket_suite.load_default_baseline()
    comparable = found.catalog == baseline.catalog
    gated, reference = found.methods[basket_suite.GATED], baseline.methods[basket_suite.GATED]
    return _result(
        "baskets",
        "complete the basket: leave-one-out hit-rate@10 and MRR@10 of co-purchase",
        comparable=comparable,
        note=_catalog_note(comparable, baseline.catalog.get("products")),
        metrics=[
            _metric(
                "hit_rate_at_10",
                gated.hit_rate_at_10,
                reference.hit_rate_at_10 if comparable else None,
            ),
            _metric("mrr_at_10", gated.mrr_at_10, reference.mrr_at_10 if comparable else None),
        ],
        regressions=basket_suite.regressions(found, baseline),
        details=basket_suite.table(found),
        report=found.model_dump(mode="json"),
    )


def run_bundles(ctx: SuiteContext) -> SuiteResult:
    found = bundle_suite.run_bundle_suite(ctx.env())
    baseline: dict[str, float] = json.loads(bundle_suite.BASELINE.read_text("utf-8"))
    ours = found.methods["build_bundle"]
    # The committed file holds no catalog: it was written at the default demo size.
    comparable = ctx.products == DEMO_PRODUCTS
    reference = baseline if comparable else {m: getattr(ours, m) for m in baseline}
    metrics = [
        _metric("budget_compliance", ours.budget_compliance, 1.0, tolerance=0.0),
        _metric("moq_compliance", ours.moq_compliance, 1.0, tolerance=0.0),
        *(
            _metric(name, getattr(ours, name), baseline[name] if comparable else None)
            for name in ("required_coverage", "slot_coverage")
        ),
        _metric("wrong_shelf", ours.wrong_shelf, 0.0, higher_is_better=False, tolerance=0.0),
    ]
    return _result(
        "bundles",
        "scene bundles: budget and MOQ compliance, shelf coverage",
        comparable=comparable,
        note=_catalog_note(comparable, DEMO_PRODUCTS),
        metrics=metrics,
        regressions=bundle_suite.regressions(found, reference),
        cases={
            f"{row.case.scene}/budget={row.case.budget_cents}/qty={row.case.quantity}": {
                "required_coverage": row.required_coverage,
                "slot_coverage": row.slot_coverage,
                "within_budget": float(row.within_budget),
                "moq_violations": float(row.moq_violations),
            }
            for row in found.rows
        },
        latencies_ms=[row.ms for row in found.rows],
        report=found.model_dump(mode="json"),
    )


def run_replenishment(ctx: SuiteContext) -> SuiteResult:
    found = replenishment_suite.run_replenishment_suite(ctx.products)
    baseline = replenishment_suite.ReplenishmentBaseline.model_validate_json(
        replenishment_suite.default_baseline_path().read_text("utf-8")
    )
    comparable = found.catalog == baseline.catalog
    gated = replenishment_suite.GATED
    return _result(
        "replenishment",
        "forecast backtest (WAPE) and the reorder policy's stock-out and fill rates",
        comparable=comparable,
        note=_catalog_note(comparable, baseline.catalog.get("products")),
        metrics=[
            _metric(
                "wape",
                found.methods[gated].wape,
                baseline.wape if comparable else None,
                higher_is_better=False,
            ),
            _metric(
                "stockout_rate",
                found.policy[gated].stockout_rate,
                baseline.stockout_rate if comparable else None,
                higher_is_better=False,
            ),
            _metric("fill_rate", found.policy[gated].fill_rate, None),
        ],
        regressions=replenishment_suite.regressions(found, baseline),
        details=replenishment_suite.table(found),
        report=found.model_dump(mode="json"),
    )


def run_opportunities(ctx: SuiteContext) -> SuiteResult:
    found = opportunity_suite.run_opportunity_suite(ctx.products)
    baseline = opportunity_suite.load_default_baseline()
    comparable = found.catalog == baseline.catalog
    gated = opportunity_suite.GATED
    now, then = found.methods[gated], baseline.methods[gated]
    return _result(
        "opportunities",
        "planted trends recovered; no festival proposed after it passed",
        comparable=comparable,
        note=_catalog_note(comparable, baseline.catalog.get("products")),
        metrics=[
            _metric(
                "precision_at_10", now.precision_at_10, then.precision_at_10 if comparable else None
            ),
            _metric("recall", now.recall, then.recall if comparable else None),
            _never("passed_festivals", found.passed_festivals),
        ],
        regressions=opportunity_suite.regressions(found, baseline),
        details=opportunity_suite.table(found),
        report=found.model_dump(mode="json"),
    )


GROUNDING_TAGS = frozenset({"grounding", "hallucination", "injection"})


def _conversation_report(ctx: SuiteContext) -> conversation_suite.ConversationReport:
    """The conversation suite runs once per evaluation; grounding reads its tagged part."""
    if ctx.conversations is not None:
        return ctx.conversations
    data = resources.files("sourcing.eval").joinpath("datasets")
    if not data.joinpath("conversations").is_dir():
        raise SuiteUnavailableError("the conversation scenarios are not written yet")
    if not data.joinpath(conversation_suite.CATALOG_ADDITIONS).is_file():
        raise SuiteUnavailableError(f"{conversation_suite.CATALOG_ADDITIONS} is not written yet")
    with conversation_suite.build_conversation_environment(
        ctx.workdir / "chat", ctx.products, ctx.model()
    ) as env:
        ctx.conversations = conversation_suite.run_conversation_suite(
            env, chat=ctx.chat, repeat=ctx.repeat
        )
    return ctx.conversations


def _conversation_baseline() -> conversation_suite.ConversationBaseline | None:
    path = conversation_suite.default_baseline_path()
    if not path.is_file():
        return None
    return conversation_suite.ConversationBaseline.model_validate_json(path.read_text("utf-8"))


def _turn_latencies(results: Iterable[conversation_suite.ScenarioResult]) -> list[float]:
    return [turn.latency_ms for r in results for run in r.runs for turn in run.turns]


def run_conversation(ctx: SuiteContext) -> SuiteResult:
    found = _conversation_report(ctx)
    baseline = _conversation_baseline()
    # The committed pass rates hold for the repeat count they were measured with.
    comparable = baseline is not None and baseline.repeat == found.repeat
    ref = baseline if comparable else None
    gated = found.gated
    return _result(
        "conversation",
        "scripted multi-turn conversations through the assistant (pass^k over repeats)",
        comparable=comparable,
        note="" if comparable else "no committed conversation baseline for this repeat count",
        metrics=[
            _metric(
                "scenario_pass_rate",
                gated.scenario_pass_rate,
                ref.scenario_pass_rate if ref else None,
            ),
            _metric(
                f"pass^{found.repeat}",
                gated.pass_hat_k[found.repeat],
                ref.pass_hat_k if ref else None,
            ),
            _metric("tool_accuracy", gated.tool_accuracy, None),
            _metric("argument_accuracy", gated.argument_accuracy, None),
            _metric("must_pass_rate", gated.must_pass_rate, None),
            _never("constraint_violations", gated.constraint_violations),
        ],
        # Against its own pass rates only the never-allowed checks (violations) can fail.
        regressions=conversation_suite.regressions(
            found, ref or conversation_suite.baseline_of(found)
        ),
        cases={
            r.id: {"pass_share": r.passes / max(len(r.runs), 1), "gated": float(r.gated)}
            for r in found.scenarios
        },
        latencies_ms=_turn_latencies(found.scenarios),
        details=conversation_suite.table(found),
        report=found.model_dump(mode="json"),
    )


def run_grounding(ctx: SuiteContext) -> SuiteResult:
    found = _conversation_report(ctx)
    tagged = [r for r in found.scenarios if r.gated and GROUNDING_TAGS & set(r.tags)]
    if not tagged:
        raise SuiteUnavailableError(
            f"no gated conversation scenario is tagged {sorted(GROUNDING_TAGS)}"
        )
    summary = conversation_suite.summarise(tagged, found.repeat)
    failing = [r.id for r in tagged if r.passes < len(r.runs)]
    regressions = [f"scenario {sid} failed a run" for sid in failing]
    if summary.hallucinated_products:
        regressions.append(f"{summary.hallucinated_products} products named that no tool returned")
    return _result(
        "grounding",
        "the conversation scenarios tagged grounding/injection: no invented product, no "
        "injected instruction followed",
        comparable=True,
        metrics=[
            _metric("scenario_pass_rate", summary.scenario_pass_rate, 1.0, tolerance=0.0),
            _never("hallucinated_products", summary.hallucinated_products),
            _never("constraint_violations", summary.constraint_violations),
        ],
        regressions=regressions,
        cases={r.id: {"pass_share": r.passes / max(len(r.runs), 1)} for r in tagged},
        report=summary.model_dump(mode="json"),
    )


SUITES: Mapping[str, SuiteSpec] = {
    spec.name: spec
    for spec in (
        SuiteSpec("retrieval", "hybrid search over labelled queries", run_retrieval),
        SuiteSpec("routing", "intent routing of buyer messages", run_routing),
        SuiteSpec("substitutes", "similar assortment and 平替", run_substitutes),
        SuiteSpec("baskets", "complete the basket", run_baskets),
        SuiteSpec("bundles", "scene bundles under budget and MOQ", run_bundles),
        SuiteSpec("replenishment", "forecasts and reorder policy", run_replenishment),
        SuiteSpec("opportunities", "trend and festival opportunities", run_opportunities),
        SuiteSpec("conversation", "multi-turn conversations", run_conversation, True),
        SuiteSpec("grounding", "no invented products, injections resisted", run_grounding, True),
    )
}


def resolve_suites(names: Iterable[str]) -> list[str]:
    """Suite names in registry order; groups expand, nothing named means every suite."""
    wanted: set[str] = set()
    for name in names:
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in SUITES:
            wanted.add(name)
        else:
            known = ", ".join([*SUITES, *GROUPS])
            raise ValueError(f"no eval suite {name!r}; known: {known}")
    return [name for name in SUITES if not wanted or name in wanted]


def _run_one(spec: SuiteSpec, ctx: SuiteContext) -> SuiteResult:
    started = time.perf_counter()
    try:
        result = spec.run(ctx)
    except SuiteUnavailableError as exc:
        return SuiteResult(
            name=spec.name, description=spec.description, status="skipped", note=str(exc)
        )
    update: dict[str, Any] = {"seconds": round(time.perf_counter() - started, 2)}
    if ctx.repeat > 1 and not spec.needs_model:
        update["note"] = f"{result.note} deterministic: ran once whatever --repeat".strip()
    return result.model_copy(update=update)


def _run_folder(out_dir: Path, started: datetime) -> Path:
    stamp = started.strftime("%Y%m%d-%H%M%S")
    folder, n = out_dir / stamp, 1
    while folder.exists():
        n += 1
        folder = out_dir / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder


def run_evaluation(
    names: Sequence[str],
    *,
    products: int = DEMO_PRODUCTS,
    repeat: int = 1,
    chat: ResilientChat | None = None,
    out_dir: Path,
    model: str = "offline",
    embedder: Embedder | None = None,
) -> EvalRun:
    """Run the named suites (groups expand; none means all) on one shared demo and write
    out_dir/<timestamp>/report.json, report.md, report.html and the chart PNGs."""
    from sourcing.eval.platform_report import write_run

    chosen = resolve_suites(names)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eval-run-") as tmp:
        ctx = SuiteContext(products, repeat, Path(tmp), chat=chat, embedder=embedder)
        try:
            results = [_run_one(SUITES[name], ctx) for name in chosen]
        finally:
            ctx.close()
    run = EvalRun(
        started_at=started_at.isoformat(timespec="seconds"),
        machine=describe_machine(),
        products=products,
        model=model,
        repeat=repeat,
        seconds=round(time.perf_counter() - started, 2),
        suites=results,
    )
    folder = _run_folder(out_dir, started_at)
    run = run.model_copy(update={"directory": folder})
    write_run(run, folder, history=load_history(out_dir))
    return run


def load_run(path: Path) -> EvalRun:
    """A saved run from its folder or its report.json."""
    source = path / "report.json" if path.is_dir() else path
    run = EvalRun.model_validate_json(source.read_text("utf-8"))
    return run.model_copy(update={"directory": source.parent})


def load_history(out_dir: Path) -> list[EvalRun]:
    """Every saved run under `out_dir`, oldest first."""
    if not out_dir.is_dir():
        return []
    return [load_run(path) for path in sorted(out_dir.glob("*/report.json"))]


class MetricDiff(BaseModel):
    suite: str
    metric: str
    a: float | None
    b: float | None
    tolerance: float
    regressed: bool

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


class CaseDiff(BaseModel):
    suite: str
    case: str
    metric: str
    a: float | None
    b: float | None


class Comparison(BaseModel):
    """How run B differs from run A; B regresses where a metric got worse beyond tolerance."""

    a: str
    b: str
    metrics: list[MetricDiff]
    cases: list[CaseDiff]
    only_in_a: list[str] = []  # suites run in one of the two only: not compared
    only_in_b: list[str] = []

    @property
    def regressions(self) -> list[MetricDiff]:
        return [diff for diff in self.metrics if diff.regressed]


def _tolerance(tolerances: Mapping[str, float], suite: str, metric: Metric) -> float:
    return tolerances.get(f"{suite}.{metric.name}", tolerances.get(metric.name, metric.tolerance))


def _metric_diffs(
    old: SuiteResult, new: SuiteResult, tolerances: Mapping[str, float]
) -> list[MetricDiff]:
    before = {m.name: m for m in old.metrics}
    after = {m.name: m for m in new.metrics}
    diffs = []
    for name in [*before, *(n for n in after if n not in before)]:
        a, b = before.get(name), after.get(name)
        shape = b or a
        assert shape is not None
        tolerance = _tolerance(tolerances, new.name, shape)
        # A headline metric that disappeared is a regression: nothing gates it any more.
        regressed = a is not None and (b is None or b.worse_than(a.value, tolerance))
        diffs.append(
            MetricDiff(
                suite=new.name,
                metric=name,
                a=a.value if a else None,
                b=b.value if b else None,
                tolerance=tolerance,
                regressed=regressed,
            )
        )
    return diffs


def _case_diffs(old: SuiteResult, new: SuiteResult) -> list[CaseDiff]:
    diffs = []
    for case in sorted(set(old.cases) | set(new.cases)):
        before, after = old.cases.get(case, {}), new.cases.get(case, {})
        for metric in sorted(set(before) | set(after)):
            a, b = before.get(metric), after.get(metric)
            if a is None or b is None or abs(a - b) > 1e-9:
                diffs.append(CaseDiff(suite=new.name, case=case, metric=metric, a=a, b=b))
    return diffs


def compare_runs(a: Path, b: Path, tolerances: Mapping[str, float] | None = None) -> Comparison:
    """Per-metric and per-case differences from run A to run B; tolerances override a metric's
    own by "suite.metric" or "metric"."""
    old, new = load_run(a), load_run(b)
    limits = tolerances or {}
    old_suites = {s.name: s for s in old.suites if s.status != "skipped"}
    new_suites = {s.name: s for s in new.suites if s.status != "skipped"}
    metrics: list[MetricDiff] = []
    cases: list[CaseDiff] = []
    for name in [n for n in old_suites if n in new_suites]:
        metrics.extend(_metric_diffs(old_suites[name], new_suites[name], limits))
        cases.extend(_case_diffs(old_suites[name], new_suites[name]))
    return Comparison(
        a=str(a),
        b=str(b),
        metrics=metrics,
        cases=cases,
        only_in_a=[n for n in old_suites if n not in new_suites],
        only_in_b=[n for n in new_suites if n not in old_suites],
    )


_CJK = re.compile(r"[\u4e00-\u9fff]")


def _language(texts: Iterable[str]) -> str:
    return "zh" if any(_CJK.search(text) for text in texts) else "en"


def _scenario_owner(owner: str) -> str:
    role, _, subject = owner.partition(":")
    return owner if role in ("buyer", "merchant") and subject else "evaluator"


def draft_scenario(rated: RatedAnswer) -> dict[str, Any]:
    """A conversation-suite scenario from a thumbs-down answer: its `expect`s are left to fill
    in, it is not gated, and its note keeps the rejected answer for the reviewer."""
    users = [m.content for m in rated.history if m.role == MessageRole.USER]
    owner = _scenario_owner(rated.conversation.owner)
    comment = rated.feedback.comment or "(no comment)"
    return {
        "id": f"feedback-{rated.answer.id}".lower(),
        "persona": owner.partition(":")[0],
        "owner": owner,
        "language": _language(users),
        "tags": ["feedback", "draft"],
        "note": (
            f"DRAFT from thumbs-down feedback {rated.feedback.id} on "
            f"{rated.feedback.created_at:%Y-%m-%d} (conversation {rated.conversation.id}, "
            f"message {rated.answer.id}). Buyer's comment: {comment}\n"
            f"Rejected answer:\n{rated.answer.content}"
        ),
        "gated": False,
        "turns": [{"user": text, "expect": {}} for text in users],
    }


def import_feedback(engine: Engine, out: Path) -> int:
    """Write one draft scenario YAML per thumbs-down answer not drafted yet; how many."""
    with Session(engine) as session:
        rated = FeedbackRepository(session).thumbs_down()
        drafts = [draft_scenario(item) for item in rated]
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for draft in drafts:
        path = out / f"{draft['id']}.yaml"
        if path.exists():
            continue  # a draft may already be under review: never overwrite it
        document = {"theme": f"feedback draft {draft['id']}", "scenarios": [draft]}
        path.write_text(
            yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
        written += 1
    return written
