"""Catalog sync on SQLite and PostgreSQL: rejections, idempotency, delisting, events, crashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from sourcing.catalog_sync.feeds import RawRow, read_feed
from sourcing.catalog_sync.sync import sync_feed, sync_rows
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import (
    CatalogEventKind,
    ProductStatus,
    SupplierStatus,
    SyncMode,
    SyncStatus,
)
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.tables import CatalogEvent, Product, Sku, Supplier, SyncRun
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_csv, write_jsonl


@pytest.fixture
def suppliers_loaded(engine: Engine, tmp_path: Path) -> Engine:
    report = sync_feed(
        engine, write_jsonl(tmp_path / "suppliers.jsonl", SUPPLIERS), kind="suppliers"
    )
    assert report.added == len(SUPPLIERS)
    return engine


def _events(
    engine: Engine, run_id: int | None = None
) -> list[tuple[str, str, str | None, str | None, str | None]]:
    with Session(engine) as session:
        events = CatalogRepository(session).events(sync_run_id=run_id)
        return [(e.kind, e.product_id, e.sku_id, e.old_value, e.new_value) for e in events]


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_still_load(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    feed = write_csv(
        tmp_path / "feed.csv",
        ["id", "title", "supplier_id", "price", "moq", "repurchase_rate", "colour_code"],
        [
            ["p1", "硅胶折叠水杯", "s1", "¥12.5", "2", "35%", "x"],
            ["p2", "", "s1", "3", "1", "", ""],
            ["p3", "不锈钢保温杯", "s1", "12.345", "1", "", ""],
            ["p4", "保温杯", "s404", "20", "1", "", ""],
            ["p5", "手机壳", "s1", "abc", "-3", "2", ""],
            ["p1", "重复的行", "s1", "5", "1", "", ""],
            ["Ｐ６", "全角编号的ＵＳＢ风扇", "s2", "１５元", "１０", "", ""],
        ],
    )
    report = sync_feed(suppliers_loaded, feed)

    assert report.added == 2
    assert report.rejected_rows == 5
    reasons = {(r.line, r.field): r.reason for r in report.rejected}
    assert reasons[(3, "title")] == "is required"
    assert "more than two decimal places" in reasons[(4, "price")]
    assert reasons[(5, "supplier_id")] == "unknown supplier 's404'"
    assert "not a number" in reasons[(6, "price")]
    assert "below 1" in reasons[(6, "moq")]
    assert "outside 0–1" in reasons[(6, "repurchase_rate")]
    assert "first seen at line 2" in reasons[(7, "id")]
    assert all(r.file == "feed.csv" for r in report.rejected)
    assert report.unknown_columns == ["colour_code"]
    with Session(suppliers_loaded) as session:
        p6 = session.get(Product, "P6")
        assert p6 is not None
        assert (p6.title, p6.price_cents, p6.moq) == ("全角编号的USB风扇", 1500, 10)
        assert session.get(Product, "p1").repurchase_rate == pytest.approx(0.35)  # type: ignore[union-attr]


def test_rerunning_the_same_feed_changes_nothing(suppliers_loaded: Engine, tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [product("p1"), product("p2")])
    first = sync_feed(suppliers_loaded, feed)
    second = sync_feed(suppliers_loaded, feed)

    assert (first.added, len(_events(suppliers_loaded, first.run_id))) == (2, 2)
    assert (second.added, second.updated, second.unchanged, second.delisted) == (0, 0, 2, 0)
    assert second.changed_ids == []
    assert _events(suppliers_loaded, second.run_id) == []


def test_snapshot_delists_absent_products_and_delta_does_not(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    sync_feed(
        suppliers_loaded,
        write_jsonl(tmp_path / "feed.jsonl", [product("p1"), product("p2"), product("p3")]),
    )
    delta = sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1")]), mode=SyncMode.DELTA
    )
    assert delta.delisted == 0

    snapshot = sync_feed(suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1")]))

    assert snapshot.delisted == 2
    assert sorted(snapshot.changed_ids) == ["p2", "p3"]
    assert _events(suppliers_loaded, snapshot.run_id) == [
        ("product_delisted", "p2", None, None, None),
        ("product_delisted", "p3", None, None, None),
    ]
    with Session(suppliers_loaded) as session:
        assert session.get(Product, "p2").status == ProductStatus.DELISTED  # type: ignore[union-attr]


def test_snapshot_of_another_source_leaves_this_source_alone(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    sync_feed(suppliers_loaded, write_jsonl(tmp_path / "a.jsonl", [product("p1")]))
    other = sync_feed(suppliers_loaded, write_jsonl(tmp_path / "b.jsonl", [product("p9")]))
    assert other.delisted == 0


def test_a_rejected_row_is_not_delisted_by_a_snapshot(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1"), product("p2")])
    )
    broken = product("p2", price_tiers="not tiers")
    report = sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1"), broken])
    )

    assert report.rejected_rows == 1
    assert report.delisted == 0
    with Session(suppliers_loaded) as session:
        assert session.get(Product, "p2").status == ProductStatus.ACTIVE  # type: ignore[union-attr]


def test_changes_emit_price_sku_and_stock_events(suppliers_loaded: Engine, tmp_path: Path) -> None:
    sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1"), product("p2")])
    )
    changed = product(
        "p1",
        price_tiers=[
            {"min_quantity": 2, "price": "11.90"},
            {"min_quantity": 100, "price": "10.50"},
        ],
        skus=[
            {"id": "white", "spec": {"颜色": "白色"}, "price": "11.90", "stock": 0},
            {"id": "pink", "spec": {"颜色": "粉色"}, "price": "11.90", "stock": 8},
        ],
    )
    report = sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [changed, product("p2")])
    )

    assert (report.updated, report.unchanged) == (1, 1)
    assert _events(suppliers_loaded, report.run_id) == [
        ("price_changed", "p1", None, "1250", "1190"),
        ("sku_added", "p1", "pink", None, None),
        ("sku_removed", "p1", "black", None, None),
        ("price_changed", "p1", "white", "1250", "1190"),
        ("stock_out", "p1", "white", "10", "0"),
    ]
    with Session(suppliers_loaded) as session:
        skus = {sku.id: sku for sku in session.exec(select(Sku).where(Sku.product_id == "p1"))}
        assert skus["black"].status == "removed"
        assert skus["pink"].stock == 8
        assert session.get(Product, "p1").stock == 8  # type: ignore[union-attr]

    restocked = changed | {"skus": [changed["skus"][0] | {"stock": 3}, changed["skus"][1]]}
    back = sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [restocked, product("p2")])
    )
    assert _events(suppliers_loaded, back.run_id) == [("back_in_stock", "p1", "white", "0", "3")]


def test_a_delisted_product_that_returns_is_relisted(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1"), product("p2")])
    )
    sync_feed(suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1")]))
    again = sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "feed.jsonl", [product("p1"), product("p2")])
    )

    assert again.updated == 1
    assert _events(suppliers_loaded, again.run_id) == [("product_relisted", "p2", None, None, None)]


def test_a_run_that_crashes_half_way_is_completed_by_a_rerun(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [product(f"p{i:03d}") for i in range(95)])

    def crash_after(rows: Iterator[RawRow], limit: int) -> Iterator[RawRow]:
        for count, row in enumerate(rows):
            if count == limit:
                raise KeyboardInterrupt("simulated crash")
            yield row

    with pytest.raises(KeyboardInterrupt):
        sync_rows(
            suppliers_loaded,
            crash_after(read_feed(feed), 47),
            file=feed.name,
            kind="products",
            mode=SyncMode.SNAPSHOT,
            source="feed",
            batch_size=10,
        )
    with Session(suppliers_loaded) as session:
        assert len(session.exec(select(Product)).all()) == 40  # four whole batches committed
        crashed = session.exec(select(SyncRun).where(SyncRun.feed_kind == "products")).one()
        assert crashed.status == "failed"

    rerun = sync_feed(suppliers_loaded, feed, batch_size=10)

    assert (rerun.added, rerun.unchanged, rerun.delisted) == (55, 40, 0)
    with Session(suppliers_loaded) as session:
        assert len(session.exec(select(Product)).all()) == 95
        added = session.exec(
            select(CatalogEvent).where(CatalogEvent.kind == CatalogEventKind.PRODUCT_ADDED)
        ).all()
        assert sorted(e.product_id for e in added) == [f"p{i:03d}" for i in range(95)]


def test_a_rerun_into_the_crashed_run_keeps_one_run_with_every_event(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [product(f"p{i:03d}") for i in range(30)])
    crashed = sync_feed(suppliers_loaded, write_jsonl(tmp_path / "half.jsonl", [product("p000")]))
    with Session(suppliers_loaded) as session:
        CatalogRepository(session).finish_sync_run(
            crashed.run_id, status=SyncStatus.FAILED, counts={}, error="killed"
        )
        session.commit()

    rerun = sync_feed(suppliers_loaded, feed, source="half", run_id=crashed.run_id)

    assert (rerun.run_id, rerun.added, rerun.unchanged) == (crashed.run_id, 29, 1)
    with Session(suppliers_loaded) as session:
        runs = session.exec(select(SyncRun).where(SyncRun.feed_kind == "products")).all()
        assert [(r.id, r.status, r.error) for r in runs] == [
            (crashed.run_id, SyncStatus.COMPLETED, "")
        ]
    added = [
        event for event in _events(suppliers_loaded, crashed.run_id) if event[0] == "product_added"
    ]
    assert sorted(e[1] for e in added) == [f"p{i:03d}" for i in range(30)]


def test_a_rerun_into_a_run_that_does_not_exist_is_refused(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [product("p000")])
    with pytest.raises(NotFoundError, match="no sync run 999"):
        sync_feed(suppliers_loaded, feed, run_id=999)


def test_supplier_snapshot_suspends_absent_suppliers(
    suppliers_loaded: Engine, tmp_path: Path
) -> None:
    updated = [SUPPLIERS[0] | {"integrity_score": "88"}]
    report = sync_feed(
        suppliers_loaded, write_jsonl(tmp_path / "suppliers.jsonl", updated), kind="suppliers"
    )

    assert (report.updated, report.delisted) == (1, 1)
    with Session(suppliers_loaded) as session:
        assert session.get(Supplier, "s1").integrity_score == 88  # type: ignore[union-attr]
        assert session.get(Supplier, "s2").status == SupplierStatus.SUSPENDED  # type: ignore[union-attr]
