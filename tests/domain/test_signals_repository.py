"""Signals repository: trend series, festivals in a window, weekly category units, leaf prices."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.db import transaction
from sourcing.domain.kinds import BuyerChannel, SupplierKind, TrendSource
from sourcing.domain.repositories.signals import SignalsRepository
from sourcing.domain.tables import (
    Buyer,
    Festival,
    OrderLine,
    Product,
    PurchaseOrder,
    Supplier,
    TrendSignal,
)


def _seed(engine: Engine) -> None:
    with transaction(engine) as session:
        for sid in ("s1", "s2"):
            session.add(Supplier(id=sid, name=sid, kind=SupplierKind.FACTORY))
        session.add(Buyer(id="b1", name="b", channel=BuyerChannel.TAOBAO))
        session.flush()
        for pid, sid, leaf, price in [
            ("p1", "s1", "家居家纺/床品/四件套", 100),
            ("p2", "s1", "家居家纺/床品/四件套", 300),
            ("p3", "s2", "家居家纺/床品/四件套", 1000),
            ("p4", "s2", "日用百货/杯壶/保温杯", 50),
        ]:
            session.add(
                Product(
                    id=pid,
                    supplier_id=sid,
                    title=pid,
                    category_path=leaf,
                    category=leaf.split("/")[0],
                    price_cents=price,
                )
            )
        session.flush()
        for day, qty in [(date(2026, 11, 20), 5), (date(2026, 11, 10), 3), (date(2026, 9, 1), 9)]:
            oid = f"o{day.isoformat()}"
            session.add(
                PurchaseOrder(
                    id=oid,
                    buyer_id="b1",
                    ordered_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                )
            )
            session.flush()
            session.add(
                OrderLine(order_id=oid, product_id="p1", quantity=qty, unit_price_cents=100)
            )
        for day, value in [(date(2026, 11, 1), 10.0), (date(2026, 11, 2), 12.0)]:
            for source in TrendSource:
                session.add(
                    TrendSignal(
                        keyword="暖手宝", category="小家电", source=source, day=day, value=value
                    )
                )
        session.add(
            TrendSignal(
                keyword="雨伞",
                category="日用百货",
                source=TrendSource.DOWNSTREAM_SEARCH,
                day=date(2026, 11, 1),
                value=3.0,
            )
        )
        session.add(Festival(name="双12", day=date(2026, 12, 12), related_categories=["服装服饰"]))
        session.add(Festival(name="双11", day=date(2026, 11, 11), related_categories=["服装服饰"]))


def test_trend_series_by_keyword_and_source(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repo = SignalsRepository(session)
        series = repo.trend_series(date(2026, 11, 1), date(2026, 11, 30))
        assert [(s.keyword, s.source) for s in series] == [
            ("暖手宝", TrendSource.DOWNSTREAM_SEARCH),
            ("暖手宝", TrendSource.PURCHASE_INDEX),
            ("雨伞", TrendSource.DOWNSTREAM_SEARCH),
        ]
        assert series[0].values == {date(2026, 11, 1): 10.0, date(2026, 11, 2): 12.0}
        only = repo.trend_series(date(2026, 11, 2), date(2026, 11, 2), categories=["小家电"])
        assert {s.keyword for s in only} == {"暖手宝"}
        assert only[0].values == {date(2026, 11, 2): 12.0}


def test_festivals_between_is_inclusive_and_ordered(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repo = SignalsRepository(session)
        found = repo.festivals_between(date(2026, 11, 11), date(2026, 12, 31))
        assert [f.name for f in found] == ["双11", "双12"]
        assert [
            f.name for f in repo.festivals_between(date(2026, 11, 12), date(2026, 12, 11))
        ] == []


def test_category_weekly_units_in_blocks_ending_on_the_day(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        weekly = SignalsRepository(session).category_weekly_units(date(2026, 11, 25), 4)
    # blocks end 11-04, 11-11, 11-18, 11-25; the September order is outside the window
    assert weekly == {"家居家纺": [0, 3, 0, 5]}


def test_leaf_prices_compare_the_supplier_with_the_leaf(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repo = SignalsRepository(session)
        leaves = repo.leaf_prices("s1")
        assert repo.buyer("b1") is not None
        assert repo.buyer("nobody") is None
        assert set(repo.suppliers(["s1", "s2", "x"])) == {"s1", "s2"}
    assert len(leaves) == 1
    leaf = leaves[0]
    assert leaf.category_path == "家居家纺/床品/四件套"
    assert leaf.category == "家居家纺"
    assert (leaf.supplier_products, leaf.supplier_median_cents) == (2, 200)
    assert (leaf.leaf_products, leaf.leaf_median_cents) == (3, 300)
    assert leaf.leaf_supplier_ids == ("s1", "s2")
