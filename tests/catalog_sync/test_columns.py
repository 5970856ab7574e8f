"""Feeds as merchants export them: real header names, and a saved mapping per source."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from sourcing.app.cli import app
from sourcing.catalog_sync.columns import parse_mapping
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.errors import BadInputError
from sourcing.domain.repositories.catalog import CatalogRepository
from tests.catalog_sync.feedfiles import write_csv, write_jsonl

EXPORT_HEADER = ["商品ID", "商品标题", "单价", "起批量", "库存", "类目", "单位"]


def test_an_export_s_chinese_headers_are_read_as_the_schema(engine: Engine, tmp_path: Path) -> None:
    rows = [["a1", "ins风硅胶折叠水杯", "12.50", "2", "40", "日用百货/杯具/水杯", "个"]]
    report = sync_feed(engine, write_csv(tmp_path / "export.csv", EXPORT_HEADER, rows))
    assert (report.added, report.rejected_rows, report.unknown_columns) == (1, 0, [])
    assert report.read_as["商品id"] == "id"
    assert report.read_as["单价"] == "price"
    with Session(engine) as session:
        loaded = CatalogRepository(session).get_product("a1")
    assert (loaded.title, loaded.moq, loaded.stock, loaded.unit) == (
        "ins风硅胶折叠水杯",
        2,
        40,
        "个",
    )
    assert loaded.price_cents == 1250
    assert loaded.category_path == "日用百货/杯具/水杯"


def test_a_product_id_column_is_the_id(engine: Engine, tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "offers.jsonl", [{"product_id": "p9", "title": "帆布袋"}])
    report = sync_feed(engine, feed)
    assert (report.added, report.rejected) == (1, [])


def test_the_schema_s_own_column_wins_over_an_alias(engine: Engine, tmp_path: Path) -> None:
    feed = write_csv(tmp_path / "both.csv", ["id", "商品id", "title"], [["own", "alias", "杯子"]])
    report = sync_feed(engine, feed)
    assert report.added == 1
    assert "商品id" in report.unknown_columns  # not merged into id, and said so
    with Session(engine) as session:
        assert CatalogRepository(session).get_product("own").title == "杯子"


def test_a_saved_mapping_reads_the_source_s_later_feeds(engine: Engine, tmp_path: Path) -> None:
    header, rows = ["货号", "品名"], [["h1", "陶瓷马克杯"]]
    first = sync_feed(
        engine,
        write_csv(tmp_path / "shop.csv", header, rows),
        column_map={"货号": "id", "品名": "title"},
    )
    assert first.added == 1
    again = sync_feed(engine, write_csv(tmp_path / "shop.csv", header, [*rows, ["h2", "玻璃杯"]]))
    assert (again.added, again.rejected_rows) == (1, 0)
    other = sync_feed(engine, write_csv(tmp_path / "other.csv", header, rows))
    assert other.added == 0
    assert {row.reason for row in other.rejected} == {"is required"}  # not this source's map


def test_a_mapping_names_schema_columns_only() -> None:
    assert parse_mapping(["货号=ID", " 品名 = title "], "products") == {
        "货号": "id",
        "品名": "title",
    }
    with pytest.raises(BadInputError, match="no products column"):
        parse_mapping(["货号=sku_code"], "products")
    with pytest.raises(BadInputError, match="HEADER=COLUMN"):
        parse_mapping(["货号"], "products")


def test_the_cli_refuses_a_bad_mapping_before_touching_anything(tmp_path: Path) -> None:
    feed = write_csv(tmp_path / "shop.csv", ["货号"], [["h1"]])
    result = CliRunner().invoke(app, ["sync", str(feed), "--map", "货号=nonsense"])
    assert result.exit_code == 2
    assert "no products column" in result.output
