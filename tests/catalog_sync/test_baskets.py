"""Basket files (plain and order-lines CSV) with per-line problems, and the build job."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from sourcing.catalog_sync.baskets import build_copurchase, load_copurchase, read_baskets
from sourcing.domain.db import transaction
from sourcing.domain.tables import Product

KNOWN = {"p1", "p2", "p3", "p4"}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_basket_file_skips_comments_and_reports_each_bad_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.txt", "# camping\np1, p2,p2\n\np1,ghost,p3\np2,,p4\n  # end\n")
    report = read_baskets(path, KNOWN)
    assert report.format == "baskets"
    assert report.lines == 3
    assert report.baskets == [["p1", "p2"], ["p1", "p3"], ["p2", "p4"]]
    assert [(p.file, p.line, p.reason) for p in report.problems] == [
        (str(path), 4, "unknown product id 'ghost'"),
        (str(path), 5, "empty item between commas"),
    ]


def test_without_known_ids_every_item_is_kept(tmp_path: Path) -> None:
    report = read_baskets(_write(tmp_path, "b.txt", "x,y\n"))
    assert report.baskets == [["x", "y"]]
    assert report.problems == []


def test_empty_file_has_no_baskets(tmp_path: Path) -> None:
    report = read_baskets(_write(tmp_path, "b.txt", "\n# nothing\n"), KNOWN)
    assert (report.lines, report.baskets, report.problems) == (0, [], [])


def test_order_lines_csv_groups_by_order(tmp_path: Path) -> None:
    text = (
        "Order_ID,sku,Product_ID,qty\no1,s,p1,2\no2,s,p3,1\no1,s,p2,1\no1,s,p1,5\n"
        ",s,p4,1\no2,s,nope,1\no2,s,,1\n"
    )
    path = _write(tmp_path, "lines.csv", text)
    report = read_baskets(path, KNOWN)
    assert report.format == "order_lines"
    assert report.lines == 7
    assert report.baskets == [["p1", "p2"], ["p3"]]
    assert [(p.line, p.reason) for p in report.problems] == [
        (6, "missing order id"),
        (7, "unknown product id 'nope'"),
        (8, "missing product id"),
    ]


def test_order_lines_csv_groups_by_buyer_and_day(tmp_path: Path) -> None:
    text = (
        "buyer_id,ordered_at,product_id\n"
        "b1,2026-01-02T09:00:00+08:00,p1\n"
        "b1,2026-01-02,p2\n"
        "b2,2026-01-02,p3\n"
        "b1,2026-01-03,p4\n"
        "b1,yesterday,p4\n"
    )
    report = read_baskets(_write(tmp_path, "lines.csv", text), KNOWN)
    assert report.baskets == [["p1", "p2"], ["p3"], ["p4"]]
    assert [(p.line, p.reason) for p in report.problems] == [
        (6, "missing buyer id or unreadable date")
    ]


def test_csv_header_without_a_grouping_column_is_reported(tmp_path: Path) -> None:
    report = read_baskets(_write(tmp_path, "lines.csv", "product_id,date\np1,2026-01-01\n"), KNOWN)
    assert report.format == "order_lines"
    assert report.baskets == []
    assert report.problems[0].line == 1
    assert "header needs" in report.problems[0].reason


def test_build_job_stores_stats_that_load_back(sqlite_engine: Engine, tmp_path: Path) -> None:
    with transaction(sqlite_engine) as session:
        for pid, leaf in [("p1", "A/a/x"), ("p2", "A/a/y"), ("p3", "B/b/z"), ("p4", "B/b/z")]:
            session.add(Product(id=pid, title=pid, category_path=leaf))
    path = _write(tmp_path, "b.txt", "p1,p2\np1,p2,p3\np1,p2\np4\np9,p1\n")
    report = build_copurchase(sqlite_engine, basket_file=path)
    assert (report.order_baskets, report.file_baskets, report.basket_count) == (0, 5, 5)
    assert report.product_pairs == 2  # p1 → p2 and p2 → p1
    assert [(p.line, p.reason) for p in report.problems] == [(5, "unknown product id 'p9'")]
    stats = load_copurchase(sqlite_engine)
    assert stats.basket_count == 5
    [rule] = stats.complements(["p1"])
    assert (rule.item, rule.count) == ("p2", 3)
    assert rule.lift == 5 * 3 / (4 * 3)
    again = build_copurchase(sqlite_engine)  # no orders, no file: the stats are emptied
    assert again.basket_count == 0
    assert load_copurchase(sqlite_engine).complements(["p1"]) == []
