"""watch_sources over real syncs: which changes a buyer sees, their severity, text and risk."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sourcing.agents.skills.watch_sources import (
    SourceChange,
    WatchSourcesInput,
    supplier_risk,
    watch_sources,
)
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import (
    AlertSeverity,
    BuyerChannel,
    SupplierKind,
    SupplierStatus,
    SyncMode,
)
from sourcing.domain.tables import (
    Buyer,
    Follow,
    OrderLine,
    PurchaseOrder,
    Supplier,
    SupplierSnapshot,
    Watch,
)
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl

RED = {"id": "red", "spec": {"颜色": "红色"}, "price": "13.00", "stock": 8}
WHITE = {"id": "white", "spec": {"颜色": "白色"}, "price": "13.00", "stock": 10}


@pytest.fixture
def changed(engine: Engine, tmp_path: Path) -> Engine:
    """Buyer a bought p1, watches p2 and follows s2; then p1 sells out, p2 gets 4 % dearer and
    swaps a SKU, s2 lists p4 and p3 (nobody's source) is delisted; s1 keeps p5 in stock."""
    sync_feed(engine, write_jsonl(tmp_path / "suppliers.jsonl", SUPPLIERS), kind="suppliers")
    initial = [product(pid) for pid in ("p1", "p3", "p5")] + [product("p2", supplier_id="s2")]
    sync_feed(engine, write_jsonl(tmp_path / "products.jsonl", initial))
    with transaction(engine) as session:
        for buyer_id in ("a", "b"):
            session.add(Buyer(id=buyer_id, name=buyer_id, channel=BuyerChannel.TAOBAO))
        session.flush()
        session.add(PurchaseOrder(id="o1", buyer_id="a", supplier_id="s1", ordered_at=_now(-30)))
        session.add(Watch(buyer_id="a", product_id="p2"))
        session.add(Follow(buyer_id="a", supplier_id="s2"))
        session.flush()
        session.add(OrderLine(order_id="o1", product_id="p1", quantity=10, unit_price_cents=1250))
    sold_out = [{**sku, "stock": 0} for sku in product("p1")["skus"]]
    delta = [
        product("p1", skus=sold_out),
        product(
            "p2",
            supplier_id="s2",
            price_tiers=[{"min_quantity": 2, "price": "13.00"}],
            skus=[WHITE, RED],
        ),
        product("p4", supplier_id="s2", title="新款折叠杯"),
        product("p3", status="delisted"),
    ]
    feed = write_jsonl(tmp_path / "delta.jsonl", delta)
    sync_feed(engine, feed, mode=SyncMode.DELTA, source="products")
    return engine


def _now(days: int = 0) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def _by_kind(changes: list[SourceChange]) -> dict[str, SourceChange]:
    return {change.kind: change for change in changes}


def test_a_buyer_sees_the_changes_to_what_they_bought_watch_and_follow(changed: Engine) -> None:
    report = watch_sources(changed, WatchSourcesInput(buyer_id="a"))

    assert (report.bought, report.watched, report.followed) == (1, 1, 1)
    changes = _by_kind(report.changes)
    assert set(changes) == {"stock_out", "price_up", "sku_added", "sku_removed", "new_arrival"}
    stock_out = changes["stock_out"]
    assert (stock_out.product_id, stock_out.severity) == ("p1", AlertSeverity.CRITICAL)
    assert stock_out.relations == ["bought"]
    assert stock_out.sku_ids == []
    assert stock_out.failing
    assert stock_out.alternatives == []
    price = changes["price_up"]
    assert (price.old_value, price.new_value, price.change_percent) == ("¥12.50", "¥13.00", 4.0)
    assert price.severity == AlertSeverity.INFO  # under 10 %
    assert changes["sku_added"].sku_ids == ["red"]
    assert changes["sku_removed"].sku_ids == ["black"]
    assert changes["sku_removed"].severity == AlertSeverity.INFO  # watched, not bought
    arrival = changes["new_arrival"]
    assert (arrival.supplier_id, arrival.product_ids) == ("s2", ["p4"])
    assert arrival.relations == ["followed"]
    assert report.changes[0].kind == "stock_out"  # most severe first
    assert "p3" not in {change.product_id for change in report.changes}
    assert "缺货" in stock_out.message
    assert "4.0%" in price.message
    assert report.text.splitlines()[0].endswith("其中 1 条需要马上处理。")


def test_english_messages_and_the_window(changed: Engine) -> None:
    english = watch_sources(changed, WatchSourcesInput(buyer_id="a", language="en"))
    assert _by_kind(english.changes)["stock_out"].message.endswith("is out of stock")
    assert "new arrival" in _by_kind(english.changes)["new_arrival"].message

    later = watch_sources(changed, WatchSourcesInput(buyer_id="a", since=_now(1), language="en"))
    assert later.changes == []
    assert later.text.startswith("No changes to your sources")


def test_a_buyer_without_sources_sees_nothing_and_an_unknown_buyer_is_404(
    changed: Engine,
) -> None:
    assert watch_sources(changed, WatchSourcesInput(buyer_id="b")).changes == []
    with pytest.raises(NotFoundError):
        watch_sources(changed, WatchSourcesInput(buyer_id="nobody"))


def _snapshot(integrity: int = 90, refunds: float = 0.01, stocked: int = 5) -> SupplierSnapshot:
    return SupplierSnapshot(
        supplier_id="s1",
        day=date(2026, 11, 25),
        integrity_score=integrity,
        quality_refund_rate=refunds,
        in_stock_products=stocked,
        active_products=5,
    )


def _supplier(status: SupplierStatus = SupplierStatus.ACTIVE) -> Supplier:
    return Supplier(id="s1", name="s1", kind=SupplierKind.FACTORY, status=status)


def test_supplier_risk_rules() -> None:
    steady = _snapshot()
    assert supplier_risk(_supplier(), steady, steady) is None
    assert supplier_risk(_supplier(), steady, None) is None

    small_drop = supplier_risk(_supplier(), _snapshot(integrity=84), steady)
    assert small_drop is not None
    assert (small_drop.reasons, small_drop.severity) == (("integrity_drop",), "warning")
    big_drop = supplier_risk(_supplier(), _snapshot(integrity=74), steady)
    assert big_drop is not None
    assert big_drop.severity == AlertSeverity.CRITICAL

    rising = supplier_risk(_supplier(), _snapshot(refunds=0.03), steady)
    assert rising is not None
    assert (rising.reasons, rising.severity) == (("refund_rise",), AlertSeverity.WARNING)
    alarming = supplier_risk(_supplier(), _snapshot(refunds=0.12), steady)
    assert alarming is not None
    assert (alarming.reasons, alarming.severity) == (("refund_rise",), AlertSeverity.CRITICAL)

    empty = _snapshot(stocked=0)
    no_stock = supplier_risk(_supplier(), empty, steady)
    assert no_stock is not None
    assert no_stock.reasons == ("no_stock",)
    assert supplier_risk(_supplier(), empty, empty) is None  # a lasting state alerts once
    suspended = supplier_risk(_supplier(SupplierStatus.SUSPENDED), steady, steady)
    assert suspended is not None
    assert suspended.severity == AlertSeverity.CRITICAL


def test_a_risky_supplier_of_a_bought_product_comes_with_similar_suppliers(
    changed: Engine, tmp_path: Path
) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with transaction(changed) as session:
        session.add(
            SupplierSnapshot(
                supplier_id="s1",
                day=yesterday,
                integrity_score=95,
                quality_refund_rate=0.0,
                in_stock_products=2,
                active_products=2,
            )
        )
    suppliers = [{**SUPPLIERS[0], "integrity_score": 70}, SUPPLIERS[1]]
    sync_feed(changed, write_jsonl(tmp_path / "suppliers.jsonl", suppliers), kind="suppliers")

    report = watch_sources(changed, WatchSourcesInput(buyer_id="a"))

    risk = _by_kind(report.changes)["supplier_risk"]
    assert (risk.supplier_id, risk.relations) == ("s1", ["bought"])
    assert risk.severity == AlertSeverity.CRITICAL  # 25 points down
    assert "integrity_drop" in risk.reasons
    assert [card.id for card in risk.alternatives] == ["s2"]
    assert "换供" in risk.message or "可以换供" in risk.message
