"""plan_replenishment: policy arithmetic, MOQ and tier rounding in Decimal, budget, errors, demo."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sourcing.agents.skills.plan_replenishment import (
    PlanReplenishmentInput,
    ReplenishmentPlan,
    choose_quantity,
    estimate_on_hand,
    line_total,
    plan_replenishment,
    stock_policy,
)
from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.reference import load_reference
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import BuyerChannel, SupplierKind
from sourcing.domain.money import PriceTier
from sourcing.domain.tables import Buyer, OrderLine, Product, PurchaseOrder, Supplier

CST = timezone(timedelta(hours=8))
TODAY = date(2026, 6, 1)
TIERS = [
    PriceTier(min_quantity=2, unit_price_cents=1250),
    PriceTier(min_quantity=100, unit_price_cents=1100),
]


def test_a_higher_tier_is_taken_when_it_costs_less_in_total() -> None:
    quantity, price = choose_quantity(95, 2, TIERS)
    assert (quantity, price) == (100, 1100)
    assert line_total(quantity, price) == Decimal("1100.00")  # 95 × ¥12.50 would be ¥1187.50


def test_a_higher_tier_that_costs_more_in_total_is_not_taken() -> None:
    quantity, price = choose_quantity(80, 2, TIERS)
    assert (quantity, price) == (80, 1250)
    assert line_total(quantity, price) == Decimal("1000.00")


def test_quantity_is_rounded_up_to_the_moq_and_money_stays_exact() -> None:
    assert choose_quantity(1, 6, [PriceTier(min_quantity=6, unit_price_cents=33)]) == (6, 33)
    assert line_total(3, 33) == Decimal("0.99")
    assert line_total(7, 1999) == Decimal("139.93")
    assert choose_quantity(10, 5, []) == (10, None)  # negotiable: no price, no total


def test_reorder_point_is_protection_interval_demand_plus_safety_stock() -> None:
    policy = stock_policy(14.0, 7.0, lead_time_days=14, review_days=7, service_level=0.95)
    # P = 3 weeks; safety = 1.6449 × 7 × √3 = 19.94; ROP = ceil(42 + 19.94)
    assert policy.lead_time_demand == 28.0
    assert policy.safety_stock == pytest.approx(19.94, abs=0.01)
    assert policy.reorder_point == 62
    assert policy.order_up_to == 76  # one more week of demand
    assert stock_policy(0.0, 3.0, 7, 7, 0.95).reorder_point == 0


def test_on_hand_estimate_is_the_last_order_less_consumption() -> None:
    assert estimate_on_hand(date(2026, 5, 18), 40, 14.0, TODAY) == 12
    assert estimate_on_hand(date(2026, 1, 1), 40, 14.0, TODAY) == 0


def _seed(engine: Engine) -> None:
    """Buyer b1 re-buys three SKUs every two weeks; b2 has no orders."""
    products = {
        "pa": (
            [
                {"min_quantity": 2, "unit_price_cents": 1250},
                {"min_quantity": 100, "unit_price_cents": 1100},
            ],
            40,
        ),
        "pb": ([{"min_quantity": 10, "unit_price_cents": 500}], 30),
        "pc": ([{"min_quantity": 1, "unit_price_cents": 9990}], 20),
    }
    with transaction(engine) as session:
        session.add(Supplier(id="s1", name="义乌工厂", kind=SupplierKind.FACTORY))
        session.add(Buyer(id="b1", name="小店", channel=BuyerChannel.TAOBAO))
        session.add(Buyer(id="b2", name="新店", channel=BuyerChannel.TAOBAO))
        session.flush()
        for pid, (tiers, _) in products.items():
            moq = tiers[0]["min_quantity"]
            session.add(
                Product(
                    id=pid,
                    supplier_id="s1",
                    title=f"商品{pid}",
                    moq=moq,
                    price_cents=tiers[0]["unit_price_cents"],
                    price_tiers=tiers,
                    lead_time_days=7,
                )
            )
        session.flush()
        for week in range(0, 24, 2):
            day = TODAY - timedelta(days=7 + 7 * week)
            for pid, (_, quantity) in products.items():
                oid = f"o-{pid}-{week}"
                session.add(
                    PurchaseOrder(
                        id=oid,
                        buyer_id="b1",
                        supplier_id="s1",
                        ordered_at=datetime(day.year, day.month, day.day, 10, tzinfo=CST),
                    )
                )
                session.flush()
                session.add(
                    OrderLine(
                        order_id=oid,
                        product_id=pid,
                        sku_id=f"{pid}-01",
                        quantity=quantity,
                        unit_price_cents=1250,
                    )
                )


def _plan(engine: Engine, **values: object) -> ReplenishmentPlan:
    return plan_replenishment(
        engine, PlanReplenishmentInput.model_validate({"buyer_id": "b1", "today": TODAY, **values})
    )


def test_lines_carry_consistent_policy_and_exact_totals(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    plan = _plan(sqlite_engine, on_hand={"pa-01": 0, "pb": 5, "pc-01": 500})
    by_product = {line.product_id: line for line in plan.lines}
    assert [line.product_id for line in plan.lines] == ["pa", "pb", "pc"]  # most urgent first
    pa, pc = by_product["pa"], by_product["pc"]
    assert pa.method == "sba"
    assert pa.demand_class == "intermittent"
    assert pa.forecast_per_week == pytest.approx(20 * (1 - 0.15 / 2), abs=0.01)
    assert pa.reorder_now
    assert pa.action == "order"
    assert pa.on_hand == 0
    assert not pa.on_hand_estimated
    assert pa.reorder_point >= pa.lead_time_demand * 2 + pa.safety_stock - 1
    assert pa.order_quantity >= pa.reorder_point
    assert pa.order_quantity >= pa.moq
    assert pa.unit_price is not None
    assert pa.line_total == pa.unit_price * pa.order_quantity
    assert not pc.reorder_now
    assert pc.order_quantity == 0
    assert pc.line_total is None
    assert pc.reorder_on is not None
    assert pc.reorder_on > TODAY
    assert pc.days_of_cover is not None
    ordering = [line for line in plan.lines if line.action == "order"]
    assert plan.total == sum(line.line_total or Decimal(0) for line in ordering)
    assert plan.total.as_tuple().exponent == -2


def test_stock_not_given_is_estimated_and_noted(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    plan = _plan(sqlite_engine, product_ids=["pb"], language="en")
    (line,) = plan.lines
    assert line.on_hand_estimated
    assert line.on_hand == estimate_on_hand(
        TODAY - timedelta(days=7), 30, line.forecast_per_week, TODAY
    )
    assert any("estimated" in note for note in plan.notes)


def test_budget_keeps_the_most_urgent_lines_and_lists_the_deferred(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    unbounded = _plan(sqlite_engine, on_hand={"pa-01": 0, "pb-01": 1, "pc-01": 2})
    ordering = [line for line in unbounded.lines if line.reorder_now]
    assert len(ordering) == 3
    first = ordering[0].line_total
    assert first is not None
    plan = _plan(
        sqlite_engine, on_hand={"pa-01": 0, "pb-01": 1, "pc-01": 2}, budget=first + Decimal("0.01")
    )
    kept = [line for line in plan.lines if line.action == "order"]
    assert [line.product_id for line in kept] == [ordering[0].product_id]
    assert plan.total == first <= plan.budget  # type: ignore[operator]
    assert {d.product_id for d in plan.deferred} == {line.product_id for line in ordering[1:]}
    assert all(d.reason for d in plan.deferred)
    assert any("预算" in note for note in plan.notes)
    # A line too big for what is left is skipped; a later, smaller one still fits.
    big, small = sorted(ordering[1:], key=lambda line: line.line_total or 0, reverse=True)
    assert big.line_total is not None
    assert small.line_total is not None
    assert big.line_total > small.line_total
    plan = _plan(
        sqlite_engine,
        on_hand={"pa-01": 0, "pb-01": 1, "pc-01": 2},
        budget=first + small.line_total,
    )
    assert {line.product_id for line in plan.lines if line.action == "order"} == {
        ordering[0].product_id,
        small.product_id,
    }
    assert [d.product_id for d in plan.deferred] == [big.product_id]


def test_unknown_buyer_is_not_found(sqlite_engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        plan_replenishment(sqlite_engine, PlanReplenishmentInput(buyer_id="nobody"))


def test_buyer_without_orders_gets_an_empty_plan_with_a_note(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    plan = plan_replenishment(sqlite_engine, PlanReplenishmentInput(buyer_id="b2", today=TODAY))
    assert plan.lines == []
    assert plan.total == Decimal("0.00")
    assert plan.notes
    assert "b2" in plan.notes[0]


def test_every_demo_buyer_is_planned_cheaply(sqlite_engine: Engine, tmp_path: Path) -> None:
    today = date(2026, 11, 25)
    manifest = generate_demo(tmp_path / "demo", products=300, seed=7, today=today)
    sync_feed(sqlite_engine, manifest.suppliers_path, kind="suppliers")
    sync_feed(sqlite_engine, manifest.products_path)
    load_reference(sqlite_engine, manifest.out_dir)
    started = time.perf_counter()
    plans = [
        plan_replenishment(
            sqlite_engine, PlanReplenishmentInput(buyer_id=f"b-{index:04d}", today=today)
        )
        for index in range(1, 31)
    ]
    assert (time.perf_counter() - started) / len(plans) < 0.1
    lines = [line for plan in plans for line in plan.lines]
    assert len(lines) > 50
    assert any(line.reorder_now for line in lines)
    assert any(not line.reorder_now for line in lines)
    for line in lines:
        assert line.forecast_per_week >= 0
        assert line.safety_stock >= 0
        if line.reorder_now and line.unit_price is not None:
            assert line.order_quantity >= line.moq
            assert line.line_total == line.unit_price * line.order_quantity
