"""Feed readers: CSV, JSONL and XLSX files as a stream of (line number, raw row) pairs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sourcing.domain.errors import FeedError

SUPPORTED_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".xlsx")
# A file cut off in transfer ends mid-row; its last row is reported, never loaded half.
CUT_SHORT = (
    "the file ends inside this row (no line break after it): the row may be cut short; "
    "if the file is complete, end it with a line break"
)


@dataclass(frozen=True)
class RawRow:
    """One row as the file holds it; `error` is set when the line itself cannot be parsed."""

    line: int
    data: dict[str, Any]
    error: str = ""


def read_feed(path: Path) -> Iterator[RawRow]:
    """Rows of the feed at `path`, keys lower-cased and stripped, by the file's extension."""
    if not path.is_file():
        raise FeedError(f"feed {path} does not exist or is not a file", path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".xlsx":
        return _read_xlsx(path)
    supported = ", ".join(SUPPORTED_SUFFIXES)
    raise FeedError(
        f"feed {path.name} has an unsupported extension; use one of {supported}", path=str(path)
    )


def count_rows(path: Path) -> int:
    """A cheap row count for progress bars (physical lines minus the header for CSV)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            return max(int(workbook.worksheets[0].max_row or 1) - 1, 0)
        finally:
            workbook.close()
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0) if suffix == ".csv" else lines


def _clean_key(key: Any) -> str:
    return str(key).strip().lower().lstrip("\ufeff") if key is not None else ""


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            # Cut inside the last character: UTF-8 up to there; the last row is cut short.
            return raw[: exc.start].decode("utf-8-sig")
        # Chinese spreadsheet tools export GB18030/GBK by default.
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise FeedError(
                f"feed {path.name} is neither UTF-8 nor GB18030 text", path=str(path)
            ) from None
    return text


def _read_csv(path: Path) -> Iterator[RawRow]:
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_clean_key(name) for name in next(reader)]
    except StopIteration:
        raise FeedError(f"feed {path.name} is empty: no header row", path=str(path)) from None
    line = reader.line_num
    last: RawRow | None = None
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue
        if last is not None:
            yield last
        if len(values) != len(header):
            last = RawRow(start, {}, f"{len(values)} values for {len(header)} columns")
        else:
            last = RawRow(start, dict(zip(header, values, strict=True)))
    if last is not None:
        # A cut can land inside the last value ("25.5" read as "2"): only the missing line
        # break shows it.
        yield last if text.endswith(("\n", "\r")) else RawRow(last.line, {}, CUT_SHORT)


def _read_jsonl(path: Path) -> Iterator[RawRow]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            complete = raw.endswith(b"\n")
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                if complete:
                    raise FeedError(f"feed {path.name} is not UTF-8 text", path=str(path)) from None
                yield RawRow(number, {}, CUT_SHORT)  # cut inside a character
                continue
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
                yield RawRow(number, {}, reason if complete else CUT_SHORT)
                continue
            if not isinstance(data, dict):
                yield RawRow(number, {}, "a line must be a JSON object")
                continue
            yield RawRow(number, {_clean_key(k): v for k, v in data.items()})


def _read_xlsx(path: Path) -> Iterator[RawRow]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise FeedError(f"feed {path.name} is not a readable XLSX file: {exc}") from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        try:
            header = [_clean_key(name) for name in next(rows)]
        except StopIteration:
            raise FeedError(f"feed {path.name} is empty: no header row", path=str(path)) from None
        for number, values in enumerate(rows, start=2):
            if all(value is None or str(value).strip() == "" for value in values):
                continue
            data = {key: value for key, value in zip(header, values, strict=False) if key}
            yield RawRow(number, {k: "" if v is None else v for k, v in data.items()})
    finally:
        workbook.close()
