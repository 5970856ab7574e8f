"""The basket suite: leave-one-out "complete the basket" on demo baskets, co-purchase vs popular."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from sourcing.domain.repositories.orders import Basket, OrderRepository
from sourcing.eval.machine import describe_machine
from sourcing.eval.metrics import mean, mrr_at_k
from sourcing.eval.retrieval_suite import DEMO_PRODUCTS, DEMO_SEED, DEMO_TODAY, load_demo_catalog
from sourcing.eval.suite_cli import GatedSuite, baseline_file
from sourcing.retrieval.copurchase import CoPurchase

K = 10
TEST_WEEKS = 8
TOLERANCE = 0.02
GATED = "co_purchase"

Recommender = Callable[[CoPurchase, list[str]], list[str]]

METHODS: dict[str, Recommender] = {
    "co_purchase": lambda stats, items: [c.item for c in stats.recommend(items, limit=K)],
    "co_purchase_product_only": lambda stats, items: [
        c.item for c in stats.complements(items, limit=K)
    ],
    "most_popular": lambda stats, items: stats.popular(K, exclude=items),
}


class MethodResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    queries: int
    hit_rate_at_10: float
    mrr_at_10: float


class BasketReport(BaseModel):
    catalog: dict[str, object]
    machine: str
    seconds: float
    train_baskets: int
    test_baskets: int  # test baskets with at least two products
    cutoff: date
    methods: dict[str, MethodResult]


class BasketBaseline(BaseModel):
    catalog: dict[str, object]
    methods: dict[str, MethodResult]


def default_baseline_path() -> Path:
    return baseline_file("baskets.json")


def load_default_baseline() -> BasketBaseline:
    return BasketBaseline.model_validate_json(default_baseline_path().read_text("utf-8"))


def demo_baskets(workdir: Path, products: int) -> tuple[list[Basket], dict[str, str]]:
    """Generate and load the demo marketplace; its buyer-day baskets and product categories."""
    engine, _ = load_demo_catalog(workdir, products=products, reference=True)
    try:
        with Session(engine) as session:
            repo = OrderRepository(session)
            return repo.baskets(), repo.all_product_categories()
    finally:
        engine.dispose()


def split(baskets: Sequence[Basket], weeks: int = TEST_WEEKS) -> tuple[list[Basket], list[Basket]]:
    """Train on everything before the last `weeks`; test on later baskets of 2+ products."""
    cutoff = max(b.day for b in baskets) - timedelta(weeks=weeks)
    train = [b for b in baskets if b.day <= cutoff]
    test = [b for b in baskets if b.day > cutoff and len(b.product_ids) >= 2]
    return train, test


def leave_one_out(stats: CoPurchase, test: Sequence[Basket], method: Recommender) -> MethodResult:
    """Hide each product of each test basket in turn and ask for K from the rest."""
    hits: list[float] = []
    ranks: list[float] = []
    for basket in test:
        for hidden in basket.product_ids:
            rest = [p for p in basket.product_ids if p != hidden]
            suggested = method(stats, rest)[:K]
            hits.append(float(hidden in suggested))
            ranks.append(mrr_at_k(suggested, {hidden}, K))
    return MethodResult(
        queries=len(hits), hit_rate_at_10=round(mean(hits), 4), mrr_at_10=round(mean(ranks), 4)
    )


def run_basket_suite(products: int = DEMO_PRODUCTS) -> BasketReport:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="basket-eval-") as tmp:
        baskets, category_of = demo_baskets(Path(tmp), products)
    train, test = split(baskets)
    stats = CoPurchase.build((b.product_ids for b in train), category_of)
    return BasketReport(
        catalog={"products": products, "seed": DEMO_SEED, "today": DEMO_TODAY.isoformat()},
        machine=describe_machine(),
        seconds=round(time.perf_counter() - started, 2),
        train_baskets=len(train),
        test_baskets=len(test),
        cutoff=max(b.day for b in train),
        methods={name: leave_one_out(stats, test, method) for name, method in METHODS.items()},
    )


def table(report: BasketReport) -> str:
    lines = [
        f"machine: {report.machine}",
        f"baskets: {report.train_baskets} train, {report.test_baskets} test (2+ products), "
        f"cutoff {report.cutoff}",
        f"{'method':<26} {'queries':>7} {'hit@10':>7} {'MRR@10':>7}",
    ]
    lines += [
        f"{name:<26} {r.queries:>7} {r.hit_rate_at_10:>7.3f} {r.mrr_at_10:>7.3f}"
        for name, r in report.methods.items()
    ]
    return "\n".join(lines)


def regressions(report: BasketReport, baseline: BasketBaseline) -> list[str]:
    """The gated method's hit-rate more than TOLERANCE below the baseline's, same catalog."""
    if report.catalog != baseline.catalog or GATED not in baseline.methods:
        return []
    now, then = report.methods[GATED].hit_rate_at_10, baseline.methods[GATED].hit_rate_at_10
    if now < then - TOLERANCE:
        return [f"{GATED} hit@10 {now:.3f} < baseline {then:.3f} - {TOLERANCE}"]
    return []


SUITE = GatedSuite(
    prog="python -m sourcing.eval.basket_suite",
    description=__doc__,
    run=run_basket_suite,
    table=table,
    baseline_of=lambda report: BasketBaseline(catalog=report.catalog, methods=report.methods),
    baseline_type=BasketBaseline,
    baseline_path=default_baseline_path,
    regressions=regressions,
)
main = SUITE.main

if __name__ == "__main__":
    sys.exit(main())
