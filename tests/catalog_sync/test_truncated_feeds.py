"""Feed files cut off mid-row (an interrupted upload): the cut row is reported, the rest loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from sourcing.catalog_sync.feeds import CUT_SHORT
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.errors import FeedError
from sourcing.domain.tables import Product
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_csv, write_jsonl

HEADER = ["id", "title", "supplier_id", "price", "moq"]
ROWS = [
    ["p1", "硅胶折叠水杯", "s1", "12.5", "2"],
    ["p2", "不锈钢保温杯", "s1", "18", "1"],
    ["p3", "真空保温杯商务款", "s1", "25.5", "10"],
]
LAST = "p3,真空保温杯商务款,s1,25.5,10\r\n".encode()


@pytest.fixture
def suppliers(sqlite_engine: Engine, tmp_path: Path) -> Engine:
    sync_feed(sqlite_engine, write_jsonl(tmp_path / "s.jsonl", SUPPLIERS), kind="suppliers")
    return sqlite_engine


def _truncate(path: Path, keep: int) -> Path:
    path.write_bytes(path.read_bytes()[:keep])
    return path


def _titles(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {p.id: p.title for p in session.exec(select(Product)).all()}


@pytest.mark.parametrize(
    "cut",
    [
        "p3,真空保温杯商务款,s1,25.5,1".encode(),  # inside the last value: 10 would read as 1
        "p3,真空保温杯商务款,s1,2".encode(),  # mid-row: 25.5 would read as 2 with no MOQ
        "p3,真空保".encode()[:-1],  # inside a character
    ],
    ids=["last-value", "mid-row", "mid-character"],
)
def test_a_csv_cut_mid_row_reports_the_row_and_loads_the_rest(
    suppliers: Engine, tmp_path: Path, cut: bytes
) -> None:
    feed = write_csv(tmp_path / "feed.csv", HEADER, ROWS)
    assert feed.read_bytes().endswith(LAST)
    _truncate(feed, len(feed.read_bytes()) - len(LAST) + len(cut))

    report = sync_feed(suppliers, feed)

    assert report.added == 2
    assert [(r.file, r.line, r.reason) for r in report.rejected] == [("feed.csv", 4, CUT_SHORT)]
    assert _titles(suppliers) == {"p1": "硅胶折叠水杯", "p2": "不锈钢保温杯"}  # UTF-8 intact


def test_a_csv_short_of_columns_in_the_middle_is_rejected_not_loaded_half(
    suppliers: Engine, tmp_path: Path
) -> None:
    feed = write_csv(tmp_path / "feed.csv", HEADER, [ROWS[0], ["p2", "不锈钢保温杯", "s1"]])
    report = sync_feed(suppliers, feed)
    assert report.added == 1
    assert [(r.line, r.reason) for r in report.rejected] == [(3, "3 values for 5 columns")]


@pytest.mark.parametrize("keep", [-25, -4], ids=["mid-row", "inside-a-character"])
def test_a_jsonl_cut_mid_row_reports_the_row_and_loads_the_rest(
    suppliers: Engine, tmp_path: Path, keep: int
) -> None:
    rows = [product("p1"), product("p2"), product("p3", title="真空保温杯商务款")]
    feed = write_jsonl(tmp_path / "feed.jsonl", rows)
    raw = feed.read_bytes()
    # The last line ends `…"stock": 5}]}\n`; -4 cuts after `]`, -25 inside the last SKU. For
    # the character case, cut inside the title's last character instead.
    if keep == -4:
        keep = raw.rindex("款".encode()) + 1 - len(raw)
    _truncate(feed, len(raw) + keep)

    report = sync_feed(suppliers, feed)

    assert report.added == 2
    assert [(r.file, r.line, r.reason) for r in report.rejected] == [("feed.jsonl", 3, CUT_SHORT)]
    assert set(_titles(suppliers)) == {"p1", "p2"}


def test_an_xlsx_cut_short_is_refused_whole_and_loads_nothing(
    suppliers: Engine, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [HEADER, *ROWS]:
        sheet.append(row)
    feed = tmp_path / "feed.xlsx"
    workbook.save(feed)
    # A zip is read from its end: a cut file has no directory, so no row can be trusted.
    _truncate(feed, len(feed.read_bytes()) * 2 // 3)
    with pytest.raises(FeedError, match="not a readable XLSX file"):
        sync_feed(suppliers, feed)
    assert _titles(suppliers) == {}
