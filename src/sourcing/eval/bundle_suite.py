"""Bundle suite: budget and MOQ compliance and coverage of build_bundle, beside a naive pick."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

from sourcing.agents.skills.build_bundle import (
    BuildBundleInput,
    BuildBundleResult,
    SceneCatalog,
    SceneSpec,
    build_bundle,
)
from sourcing.domain.money import unit_price_at
from sourcing.eval.machine import describe_machine
from sourcing.eval.retrieval_suite import DemoEnvironment, build_demo_environment
from sourcing.retrieval.search import SearchRequest

BUDGETS_YUAN = (None, 800, 3000, 20000)  # none, tight, moderate, roomy
QUANTITIES = (None, 20, 100)
TOLERANCE = 0.02
BASELINE = Path(__file__).parent / "baselines" / "bundles.json"


class BundleCase(BaseModel):
    scene: str
    budget_cents: int | None
    quantity: int | None


class CaseResult(BaseModel):
    case: BundleCase
    total_cents: int
    within_budget: bool
    silent_overrun: bool  # over the budget without saying so: the one thing never allowed
    moq_violations: int
    wrong_shelf: int
    required_coverage: float
    slot_coverage: float
    ms: float


class MethodReport(BaseModel):
    cases: int
    budget_compliance: float  # share of budgeted cases with no silent overrun
    within_budget_rate: float  # share of budgeted cases that fit (the rest say budget_too_small)
    moq_compliance: float
    required_coverage: float
    slot_coverage: float
    wrong_shelf: int
    p50_ms: float


class BundleReport(BaseModel):
    catalog_products: int
    machine: str
    methods: dict[str, MethodReport]
    rows: list[CaseResult]


def bundle_cases(scenes: SceneCatalog) -> list[BundleCase]:
    return [
        BundleCase(scene=scene, budget_cents=budget * 100 if budget else None, quantity=quantity)
        for scene in sorted(scenes.scenes)
        for budget in BUDGETS_YUAN
        for quantity in QUANTITIES
    ]


def _score(case: BundleCase, spec: SceneSpec, result: BuildBundleResult, ms: float) -> CaseResult:
    slots = {slot.id: slot for slot in spec.slots}
    required = [slot.id for slot in spec.slots if slot.required]
    chosen = {item.slot_id for item in result.items}
    over = case.budget_cents is not None and result.total_cents > case.budget_cents
    moq_violations = sum(
        item.quantity < item.product.moq
        or item.unit_price_cents != unit_price_at(item.product.price_tiers, item.quantity)
        for item in result.items
    )
    return CaseResult(
        case=case,
        total_cents=result.total_cents,
        within_budget=not over,
        silent_overrun=over and (result.within_budget or "budget_too_small" not in result.notes),
        moq_violations=moq_violations,
        wrong_shelf=sum(
            item.product.category_path not in slots[item.slot_id].categories
            for item in result.items
        ),
        required_coverage=len(chosen & set(required)) / max(len(required), 1),
        slot_coverage=len(chosen) / len(slots),
        ms=round(ms, 2),
    )


Method = Callable[[DemoEnvironment, BundleCase, SceneCatalog], BuildBundleResult]


def ours(env: DemoEnvironment, case: BundleCase, scenes: SceneCatalog) -> BuildBundleResult:
    request = BuildBundleInput(
        scene=case.scene, budget_cents=case.budget_cents, quantity=case.quantity
    )
    return build_bundle(env.engine, env.search, request, scenes=scenes)


def naive_top_hit(
    env: DemoEnvironment, case: BundleCase, scenes: SceneCatalog
) -> BuildBundleResult:
    """The baseline: the top search hit for each slot's name, bought at the asked quantity
    (or 1), budget ignored and nothing said about it — what a plain search loop would do."""
    spec = scenes.scenes[case.scene]
    unbudgeted = build_bundle(
        env.engine, env.search, BuildBundleInput(scene=case.scene), scenes=scenes
    )
    items = []
    for slot in spec.slots:
        hits = env.search.search(SearchRequest(query=slot.names["zh"], limit=1)).hits
        template = next((item for item in unbudgeted.items if item.slot_id == slot.id), None)
        if not hits or template is None:
            continue
        quantity = case.quantity or 1
        price = unit_price_at(hits[0].price_tiers, quantity) or hits[0].price_cents or 0
        items.append(
            template.model_copy(
                update={
                    "product": hits[0],
                    "quantity": quantity,
                    "unit_price_cents": price,
                    "line_total_cents": price * quantity,
                }
            )
        )
    total = sum(item.line_total_cents for item in items)
    return unbudgeted.model_copy(
        update={"items": items, "total_cents": total, "within_budget": True, "notes": []}
    )


def _summary(rows: Sequence[CaseResult]) -> MethodReport:
    budgeted = [row for row in rows if row.case.budget_cents is not None]
    return MethodReport(
        cases=len(rows),
        budget_compliance=round(
            sum(not row.silent_overrun for row in budgeted) / max(len(budgeted), 1), 4
        ),
        within_budget_rate=round(
            sum(row.within_budget for row in budgeted) / max(len(budgeted), 1), 4
        ),
        moq_compliance=round(sum(row.moq_violations == 0 for row in rows) / max(len(rows), 1), 4),
        required_coverage=round(statistics.fmean(row.required_coverage for row in rows), 4),
        slot_coverage=round(statistics.fmean(row.slot_coverage for row in rows), 4),
        wrong_shelf=sum(row.wrong_shelf for row in rows),
        p50_ms=round(statistics.median(row.ms for row in rows), 2),
    )


def run_bundle_suite(env: DemoEnvironment, scenes: SceneCatalog | None = None) -> BundleReport:
    scenes = scenes or SceneCatalog.load()
    methods: dict[str, Method] = {"build_bundle": ours, "naive top hit": naive_top_hit}
    reports: dict[str, MethodReport] = {}
    our_rows: list[CaseResult] = []
    for name, method in methods.items():
        rows = []
        for case in bundle_cases(scenes):
            started = time.perf_counter()
            result = method(env, case, scenes)
            elapsed = (time.perf_counter() - started) * 1000
            rows.append(_score(case, scenes.scenes[case.scene], result, elapsed))
        reports[name] = _summary(rows)
        our_rows = our_rows or rows
    products = len(env.listings())
    return BundleReport(
        catalog_products=products, machine=describe_machine(), methods=reports, rows=our_rows
    )


def regressions(report: BundleReport, baseline: dict[str, float]) -> list[str]:
    """Any silent overrun or MOQ miss fails; coverage may not fall more than the tolerance."""
    ours_report = report.methods["build_bundle"]
    lines = []
    if ours_report.budget_compliance < 1.0:
        lines.append(f"budget compliance {ours_report.budget_compliance:.3f} is below 1.0")
    if ours_report.moq_compliance < 1.0:
        lines.append(f"MOQ compliance {ours_report.moq_compliance:.3f} is below 1.0")
    if ours_report.wrong_shelf:
        lines.append(f"{ours_report.wrong_shelf} items sit on the wrong shelf")
    for metric in ("required_coverage", "slot_coverage"):
        now, then = getattr(ours_report, metric), baseline[metric]
        if now < then - TOLERANCE:
            lines.append(f"{metric} fell to {now:.3f} from {then:.3f}")
    return lines


def _print(report: BundleReport) -> None:
    print(f"machine: {report.machine}")
    print(f"catalog: {report.catalog_products} demo products")
    header = "method            budget ok  fits  MOQ ok  required cov  slot cov  p50 ms"
    print(header)
    for name, method in report.methods.items():
        print(
            f"{name:<16} {method.budget_compliance:>9.3f} {method.within_budget_rate:>5.2f}"
            f" {method.moq_compliance:>7.3f} {method.required_coverage:>13.3f}"
            f" {method.slot_coverage:>9.3f} {method.p50_ms:>7.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--update-baseline", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        env = build_demo_environment(Path(folder), products=args.products)
        try:
            report = run_bundle_suite(env)
        finally:
            env.close()
    _print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    ours_report = report.methods["build_bundle"]
    if args.update_baseline:
        values = {m: getattr(ours_report, m) for m in ("required_coverage", "slot_coverage")}
        BASELINE.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    found = regressions(report, json.loads(BASELINE.read_text(encoding="utf-8")))
    for line in found:
        print(f"REGRESSION: {line}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
