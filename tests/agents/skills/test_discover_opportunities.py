"""AI商机: evidence numbers, festival window (never a passed one), buyer scope, supply, merchant."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.discover_opportunities import (
    DiscoverOpportunitiesInput,
    MerchantViewInput,
    discover_opportunities,
    merchant_view,
    upcoming_festivals,
)
from sourcing.catalog_sync.reference import load_reference
from sourcing.domain.db import transaction
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import BuyerChannel, SupplierKind, TrendSource
from sourcing.domain.tables import Buyer, Festival, Product, Supplier, TrendSignal
from sourcing.retrieval.embedders import Embedder
from tests.retrieval.demo_search import Demo

TODAY = date(2026, 11, 25)


def _level(offset: int) -> float:
    """Days back from TODAY: 100, then 110 for three weeks, then 121 for the last week."""
    return 121.0 if offset < 7 else 110.0 if offset < 28 else 100.0


def _seed(engine: Engine) -> None:
    with transaction(engine) as session:
        for offset in range(56):
            day = TODAY - timedelta(days=offset)
            for keyword, category, value in [
                ("暖手宝", "小家电", _level(offset)),
                ("新中式连衣裙", "服装服饰", _level(offset)),
                ("收纳盒", "日用百货", 100.0),
            ]:
                for source, scale in [
                    (TrendSource.DOWNSTREAM_SEARCH, 1.0),
                    (TrendSource.PURCHASE_INDEX, 0.15),
                ]:
                    session.add(
                        TrendSignal(
                            keyword=keyword,
                            category=category,
                            source=source,
                            day=day,
                            value=value * scale,
                        )
                    )
        for offset in range(364, 392):  # last year's window, for 暖手宝 only
            session.add(
                TrendSignal(
                    keyword="暖手宝",
                    category="小家电",
                    source=TrendSource.DOWNSTREAM_SEARCH,
                    day=TODAY - timedelta(days=offset),
                    value=50.0,
                )
            )
        session.add(
            Festival(name="双12", day=date(2026, 12, 12), related_categories=["服装服饰", "小家电"])
        )
        session.add(
            Festival(name="春节", day=date(2027, 2, 6), related_categories=["小家电"], lead_days=45)
        )
        session.add(Festival(name="双11", day=date(2026, 11, 11), related_categories=["小家电"]))
        session.add(
            Buyer(
                id="b1",
                name="小店",
                channel=BuyerChannel.DOUYIN_LIVE,
                preferred_categories=["小家电"],
            )
        )


def _run(engine: Engine, **options: object) -> list:  # type: ignore[type-arg]
    request = DiscoverOpportunitiesInput.model_validate(
        {"today": TODAY, "with_supply": False, "limit": 50} | options
    )
    return discover_opportunities(engine, None, request).opportunities


def test_trend_evidence_numbers(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    trends = {o.keyword: o for o in _run(sqlite_engine, kinds=("trend",))}
    assert set(trends) == {"暖手宝", "新中式连衣裙"}  # the flat 收纳盒 is not proposed
    warmer = trends["暖手宝"]
    assert warmer.growth_7d == pytest.approx(0.1, abs=1e-4)
    assert warmer.growth_28d == pytest.approx(112.75 / 100 - 1, abs=1e-4)
    assert warmer.acceleration == pytest.approx(0.1 - (1.1275**0.25 - 1), abs=1e-4)
    assert warmer.yoy == pytest.approx(112.75 / 50 - 1, abs=1e-4)
    assert warmer.purchase_growth_28d == pytest.approx(0.1275, abs=1e-4)
    assert warmer.confirmed_by_purchase is True
    assert trends["新中式连衣裙"].yoy is None  # no data a year ago
    assert any("+13%" in line for line in warmer.why)
    english = _run(sqlite_engine, kinds=("trend",), language="en")
    assert any("downstream searches" in line for line in english[0].why)


def test_festival_window_and_lead_time(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    found = _run(sqlite_engine, kinds=("festival",), horizon_days=20)
    assert {(o.festival, o.category) for o in found} == {("双12", "服装服饰"), ("双12", "小家电")}
    one = found[0]
    assert one.days_to_festival == 17
    assert one.lead_time_days == 30
    assert one.stock_by == date(2026, 12, 12) - timedelta(days=30 + (one.sourcing_days or 0))
    # 春节 (45-day lead, 7 days sourcing) must be ordered by 2026-12-16: 21 days ahead
    later = _run(sqlite_engine, kinds=("festival",), horizon_days=21)
    assert "春节" in {o.festival for o in later}
    assert "春节" not in {
        o.festival for o in _run(sqlite_engine, kinds=("festival",), horizon_days=20)
    }


def test_never_a_passed_festival_including_its_own_day() -> None:
    festivals = [
        Festival(name="双11", day=date(2026, 11, 11), lead_days=45),
        Festival(name="双12", day=date(2026, 12, 12), lead_days=30),
    ]
    assert [f.name for f in upcoming_festivals(festivals, date(2026, 11, 10), 60, 7)] == [
        "双11",
        "双12",
    ]
    assert [f.name for f in upcoming_festivals(festivals, date(2026, 11, 11), 60, 7)] == ["双12"]
    assert upcoming_festivals(festivals, date(2026, 12, 12), 365, 7) == []


def test_festival_day_itself_is_not_proposed_end_to_end(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    request = DiscoverOpportunitiesInput(
        today=date(2026, 12, 12), with_supply=False, kinds=("festival",), horizon_days=365
    )
    found = discover_opportunities(sqlite_engine, None, request).opportunities
    assert found
    assert all(o.festival_day is not None and o.festival_day > date(2026, 12, 12) for o in found)


def test_buyer_categories_are_respected_and_unknown_buyer_is_404(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    result = discover_opportunities(
        sqlite_engine,
        None,
        DiscoverOpportunitiesInput(buyer_id="b1", today=TODAY, with_supply=False, limit=50),
    )
    assert result.channel == "douyin_live"
    assert result.categories == ["小家电"]
    assert result.opportunities
    assert {o.category for o in result.opportunities} == {"小家电"}
    assert any("主营类目" in line for o in result.opportunities for line in o.why)
    with pytest.raises(NotFoundError):
        discover_opportunities(
            sqlite_engine, None, DiscoverOpportunitiesInput(buyer_id="nobody", with_supply=False)
        )


def test_supply_is_attached_and_grounded_in_the_catalog(
    tmp_path: Path, use_embedder: Embedder
) -> None:
    demo = Demo(tmp_path, use_embedder, products=300)
    try:
        load_reference(demo.engine, demo.feeds)
        result = discover_opportunities(
            demo.engine, demo.search, DiscoverOpportunitiesInput(today=TODAY, limit=4)
        )
        assert result.opportunities
        with Session(demo.engine) as session:
            for opportunity in result.opportunities:
                for pick in opportunity.supply:
                    product = session.get(Product, pick.product_id)
                    assert product is not None
                    assert product.category == opportunity.category
                    assert product.title == pick.title
        assert any(o.supply for o in result.opportunities)
    finally:
        demo.close()


def test_merchant_view_compares_against_the_category(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    with transaction(sqlite_engine) as session:
        session.add(
            Supplier(
                id="s1",
                name="好厂",
                kind=SupplierKind.FACTORY,
                integrity_score=95,
                fulfilment_48h_rate=0.98,
                response_rate=0.9,
            )
        )
        session.add(Supplier(id="s2", name="一般", kind=SupplierKind.TRADER, integrity_score=60))
        session.add(Supplier(id="s3", name="另一家", kind=SupplierKind.TRADER, integrity_score=65))
        session.flush()
        for pid, sid, price in [("p1", "s1", 800), ("p2", "s2", 1000), ("p3", "s3", 1200)]:
            session.add(
                Product(
                    id=pid,
                    supplier_id=sid,
                    title=pid,
                    category_path="小家电/取暖/暖手宝",
                    category="小家电",
                    price_cents=price,
                )
            )
    view = merchant_view(sqlite_engine, MerchantViewInput(supplier_id="s1", today=TODAY))
    assert view.categories == ["小家电"]
    assert [o.keyword for o in view.rising] == ["暖手宝"]
    leaf = view.leaves[0]
    assert leaf.median_price_cents == 800
    assert leaf.category_median_price_cents == 1000
    assert leaf.price_vs_category == pytest.approx(-0.2)
    assert leaf.trust > leaf.category_median_trust
    assert leaf.suppliers_in_category == 3
    with pytest.raises(NotFoundError):
        merchant_view(sqlite_engine, MerchantViewInput(supplier_id="nobody"))
