"""Alert jobs over real syncs: a price event becomes one alert, reruns add none, risk and 换供."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sourcing.agents.alerts import AlertDraft, action_for, run_alert_jobs, watch_alerts
from sourcing.agents.skills.similar_assortment import SimilarProductsInput, similar_products
from sourcing.agents.skills.watch_sources import SourceChange
from sourcing.catalog_sync.reference import load_reference
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.kinds import AlertSeverity, BuyerChannel, SyncMode
from sourcing.domain.repositories.alerts import AlertRepository
from sourcing.domain.tables import (
    Alert,
    Buyer,
    Follow,
    OrderLine,
    PurchaseOrder,
    SupplierSnapshot,
    Watch,
)
from sourcing.retrieval.embedders import Embedder
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl
from tests.retrieval.demo_search import Demo


@pytest.fixture
def catalog(engine: Engine, tmp_path: Path) -> Engine:
    """Two suppliers, p1 (s1) and p2 (s2); buyer a watches p1, buyer b watches p2."""
    sync_feed(engine, write_jsonl(tmp_path / "suppliers.jsonl", SUPPLIERS), kind="suppliers")
    products = [product("p1"), product("p2", supplier_id="s2")]
    sync_feed(engine, write_jsonl(tmp_path / "products.jsonl", products))
    with transaction(engine) as session:
        for buyer_id in ("a", "b"):
            session.add(Buyer(id=buyer_id, name=buyer_id, channel=BuyerChannel.TAOBAO))
        session.flush()
        session.add(Watch(buyer_id="a", product_id="p1"))
        session.add(Watch(buyer_id="b", product_id="p2"))
    return engine


def _reprice(tmp_path: Path, engine: Engine, price: str) -> int:
    row = product(
        "p1",
        price_tiers=[{"min_quantity": 2, "price": price}],
        skus=[
            {"id": "white", "spec": {"颜色": "白色"}, "price": price, "stock": 10},
            {"id": "black", "spec": {"颜色": "黑色"}, "price": price, "stock": 5},
        ],
    )
    feed = write_jsonl(tmp_path / "delta.jsonl", [row])
    return sync_feed(engine, feed, mode=SyncMode.DELTA, source="products").run_id


def _alerts(engine: Engine, buyer_id: str) -> list[Alert]:
    with Session(engine) as session:
        return AlertRepository(session).for_buyer(buyer_id, limit=500)


def test_a_price_event_from_a_sync_becomes_exactly_one_alert(
    catalog: Engine, tmp_path: Path
) -> None:
    run_alert_jobs(catalog, None)  # whatever the initial load raised is not this test's business
    before_a, before_b = len(_alerts(catalog, "a")), len(_alerts(catalog, "b"))
    run_id = _reprice(tmp_path, catalog, "15.00")  # product and both SKUs: three price events

    report = run_alert_jobs(catalog, None, sync_run_id=run_id)

    assert (report.created, report.by_kind) == (1, {"price_up": 1})
    alerts = _alerts(catalog, "a")
    assert len(alerts) == before_a + 1
    alert = alerts[0]
    assert alert.kind == "price_up"
    assert alert.severity == AlertSeverity.WARNING  # +20 %
    assert alert.product_id == "p1"
    assert alert.supplier_id == "s1"
    assert alert.dedup_key == f"price_up:p1:run{run_id}"
    assert alert.action == {"type": "open_product", "product_id": "p1"}
    assert alert.payload["change_percent"] == 20.0
    assert alert.payload["sku_ids"] == ["black", "white"]
    assert "¥12.50" in alert.title
    assert "¥15.00" in alert.title
    assert alert.source_event_id is not None
    assert len(_alerts(catalog, "b")) == before_b  # b does not watch p1

    # The same events seen again, through any window, raise nothing new.
    for window in ({"sync_run_id": run_id}, {}, {"since_event_id": 0}):
        again = run_alert_jobs(catalog, None, **window)  # type: ignore[arg-type]
        assert again.created == 0
    assert len(_alerts(catalog, "a")) == before_a + 1


def test_running_the_job_twice_creates_nothing_new(catalog: Engine, tmp_path: Path) -> None:
    _reprice(tmp_path, catalog, "11.00")
    arrival = write_jsonl(tmp_path / "arrival.jsonl", [product("p9")])
    sync_feed(catalog, arrival, mode=SyncMode.DELTA, source="products")
    with transaction(catalog) as session:
        session.add(Follow(buyer_id="b", supplier_id="s1"))
    first = run_alert_jobs(catalog, None)
    second = run_alert_jobs(catalog, None)

    assert first.created >= 2  # a: price_down; b: s1's new p9 (the import is no news)
    assert {"price_down", "new_arrival"} <= set(first.by_kind)
    assert second.created == 0
    assert second.skipped_duplicates == first.created + first.skipped_duplicates
    assert second.snapshots == 0  # one snapshot per supplier and day


def test_extra_sources_are_stored_and_a_failing_one_is_reported(catalog: Engine) -> None:
    def reorder(engine: Engine) -> list[AlertDraft]:
        return [
            AlertDraft(
                buyer_id="a",
                kind="reorder",
                title="补货",
                dedup_key="reorder:p1:2026-11-25",
                action={"type": "draft_reorder", "product_id": "p1"},
            )
        ]

    def broken(engine: Engine) -> list[AlertDraft]:
        raise RuntimeError("boom")

    report = run_alert_jobs(catalog, None, [reorder, broken])
    assert report.by_kind.get("reorder") == 1
    assert report.failed_sources == ["broken"]
    assert run_alert_jobs(catalog, None, [reorder]).created == 0


def test_an_integrity_drop_between_snapshots_is_a_supplier_risk(
    catalog: Engine, tmp_path: Path
) -> None:
    now = datetime(2026, 11, 25, 8, tzinfo=UTC)
    suppliers = [{**SUPPLIERS[0], "integrity_score": 95}, SUPPLIERS[1]]
    sync_feed(catalog, write_jsonl(tmp_path / "suppliers.jsonl", suppliers), kind="suppliers")
    run_alert_jobs(catalog, None, now=now - timedelta(days=1))  # yesterday's snapshot
    suppliers[0]["integrity_score"] = 85
    sync_feed(catalog, write_jsonl(tmp_path / "suppliers.jsonl", suppliers), kind="suppliers")

    drafts = [d for d in watch_alerts(catalog, None, now=now) if d.kind == "supplier_risk"]
    assert [(d.buyer_id, d.supplier_id) for d in drafts] == [("a", "s1")]  # a watches p1 of s1
    risk = drafts[0]
    assert risk.severity == AlertSeverity.WARNING  # 10 points
    assert risk.payload["reasons"] == ["integrity_drop"]
    assert (risk.payload["old_value"], risk.payload["new_value"]) == ("95", "85")
    assert risk.action["type"] == "show_alternatives"
    assert risk.action["supplier_ids"] == ["s2"]  # same leaf category
    assert risk.dedup_key == "supplier_risk:s1:integrity_drop:2026-11-25"

    assert run_alert_jobs(catalog, None, now=now).by_kind.get("supplier_risk") == 1
    assert run_alert_jobs(catalog, None, now=now + timedelta(hours=3)).created == 0
    with Session(catalog) as session:
        days = session.exec(
            select(SupplierSnapshot.day).where(SupplierSnapshot.supplier_id == "s1")
        )
        assert sorted(days) == [date(2026, 11, 24), date(2026, 11, 25)]


# 换供 over a real demo catalog


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("alerts"), use_embedder, products=300)
    load_reference(demo.engine, demo.feeds)
    yield demo
    demo.close()


def _bought_with_alternatives(demo: Demo) -> tuple[str, str]:
    """A (buyer, product) where the product has substitutes from other suppliers."""
    with Session(demo.engine) as session:
        rows = session.exec(
            select(PurchaseOrder.buyer_id, OrderLine.product_id)
            .join(OrderLine, col(OrderLine.order_id) == col(PurchaseOrder.id))
            .order_by(col(OrderLine.product_id))
        ).all()
    for buyer_id, product_id in dict.fromkeys(rows):
        request = SimilarProductsInput(product_id=product_id, limit=3)
        if similar_products(demo.engine, demo.search, request).alternatives:
            return buyer_id, product_id
    raise AssertionError("no bought product has substitutes in the demo")


def _delist(demo: Demo, product_id: str, path: Path) -> int:
    products = demo.environment.manifest.products_path
    rows: list[dict[str, Any]] = [
        json.loads(line) for line in products.read_text("utf-8").split("\n") if line
    ]
    row = next(row for row in rows if row["id"] == product_id)
    feed = write_jsonl(path / "delist.jsonl", [{**row, "status": "delisted"}])
    return sync_feed(demo.engine, feed, mode=SyncMode.DELTA, source=products.stem).run_id


def test_a_delisted_bought_product_is_critical_with_alternatives(
    demo: Demo, tmp_path: Path
) -> None:
    buyer_id, product_id = _bought_with_alternatives(demo)
    run_id = _delist(demo, product_id, tmp_path)

    report = run_alert_jobs(demo.engine, demo.search, sync_run_id=run_id)

    assert report.by_kind.get("delisted", 0) >= 1
    (alert,) = [a for a in _alerts(demo.engine, buyer_id) if a.kind == "delisted"]
    assert alert.product_id == product_id
    assert alert.severity == AlertSeverity.CRITICAL
    assert alert.action["type"] == "show_alternatives"
    alternatives = alert.payload["alternatives"]
    assert alternatives
    assert alert.action["product_ids"] == [a["id"] for a in alternatives]
    assert all(a["kind"] == "product" and a["id"] != product_id for a in alternatives)
    assert all(a["supplier_id"] != alert.supplier_id for a in alternatives)
    assert run_alert_jobs(demo.engine, demo.search, sync_run_id=run_id).created == 0


def _change(kind: str, **values: Any) -> SourceChange:
    base: dict[str, Any] = {
        "kind": kind,
        "severity": AlertSeverity.INFO,
        "relations": ["bought"],
        "product_id": "p1",
        "supplier_id": "s1",
        "at": datetime(2026, 11, 25, tzinfo=UTC),
        "message": kind,
    }
    return SourceChange.model_validate(base | values)


def test_one_click_actions() -> None:
    assert action_for(_change("price_down"))["type"] == "draft_reorder"
    assert action_for(_change("back_in_stock"))["type"] == "draft_reorder"
    assert action_for(_change("price_down", relations=["watched"]))["type"] == "open_product"
    assert action_for(_change("price_up")) == {"type": "open_product", "product_id": "p1"}
    assert action_for(_change("stock_out", sku_ids=["red"]))["type"] == "open_product"
    assert action_for(_change("stock_out")) == {
        "type": "show_alternatives",
        "product_id": "p1",
        "product_ids": [],
    }
    risk = action_for(_change("supplier_risk", reasons=["no_stock"], day=date(2026, 11, 25)))
    assert risk == {"type": "show_alternatives", "supplier_id": "s1", "supplier_ids": []}
    several = _change("new_arrival", relations=["followed"], product_ids=["p1", "p2"])
    assert action_for(several)["type"] == "open_supplier"
    one = _change("new_arrival", relations=["followed"], product_ids=["p1"])
    assert action_for(one) == {"type": "open_product", "product_id": "p1"}
