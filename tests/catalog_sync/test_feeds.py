"""Feed readers: CSV (UTF-8, BOM, GB18030), JSONL and XLSX give the same rows with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from sourcing.catalog_sync.feeds import count_rows, read_feed
from sourcing.domain.errors import FeedError
from tests.catalog_sync.feedfiles import write_csv


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_each_encoding_reads_the_same(tmp_path: Path, encoding: str) -> None:
    feed = write_csv(tmp_path / "f.csv", ["ID", " Title "], [["p1", "保温杯"]], encoding=encoding)
    rows = list(read_feed(feed))
    assert [(row.line, row.data) for row in rows] == [(2, {"id": "p1", "title": "保温杯"})]


def test_csv_line_numbers_count_physical_lines_and_skip_blank_rows(tmp_path: Path) -> None:
    feed = tmp_path / "f.csv"
    feed.write_text('id,description\np1,"two\nlines"\n\np2,x\np3,a,b\n', encoding="utf-8")
    rows = list(read_feed(feed))
    assert [(row.line, row.data.get("id"), row.error) for row in rows] == [
        (2, "p1", ""),
        (5, "p2", ""),
        (6, None, "3 values for 2 columns"),
    ]


def test_jsonl_reports_broken_lines_and_keeps_going(tmp_path: Path) -> None:
    feed = tmp_path / "f.jsonl"
    feed.write_text('{"id": "p1"}\n{"id": \n[1, 2]\n\n{"ID": "p2"}\n', encoding="utf-8")
    rows = list(read_feed(feed))
    assert [(row.line, row.data.get("id"), bool(row.error)) for row in rows] == [
        (1, "p1", False),
        (2, None, True),
        (3, None, True),
        (5, "p2", False),
    ]
    assert count_rows(feed) == 5


def test_xlsx_rows_carry_their_sheet_row_numbers(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["id", "title", "price"])
    sheet.append(["p1", "数据线", 3.5])
    sheet.append([None, None, None])
    sheet.append(["p2", "充电头", None])
    workbook.save(tmp_path / "f.xlsx")

    rows = list(read_feed(tmp_path / "f.xlsx"))

    assert [(row.line, row.data) for row in rows] == [
        (2, {"id": "p1", "title": "数据线", "price": 3.5}),
        (4, {"id": "p2", "title": "充电头", "price": ""}),
    ]
    assert count_rows(tmp_path / "f.xlsx") == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("feed.parquet", b"x", "unsupported extension"),
        ("empty.csv", b"", "no header row"),
        ("binary.csv", b"\xff\xfe\x00\x81\x00", "neither UTF-8 nor GB18030"),
    ],
)
def test_unreadable_feeds_raise_a_typed_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FeedError, match=message):
        list(read_feed(path))
