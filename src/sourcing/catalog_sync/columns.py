"""Feed headers as merchants export them (商品ID, offer_id, 单价 …) read as the schema's columns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

from sourcing.catalog_sync.feeds import RawRow
from sourcing.catalog_sync.normalise import PRODUCT_COLUMNS, SUPPLIER_COLUMNS
from sourcing.domain.errors import BadInputError

FeedKind = Literal["products", "suppliers"]
MAX_MAPPED_COLUMNS = 64  # a saved mapping per source; a feed has a few dozen columns at most
MAX_HEADER = 64
_MAX_PLANS = 64  # JSONL rows may differ in keys; past this many key sets none is cached


def schema_columns(kind: FeedKind) -> frozenset[str]:
    return PRODUCT_COLUMNS if kind == "products" else SUPPLIER_COLUMNS


@lru_cache(maxsize=1)
def _aliases() -> dict[str, dict[str, str]]:
    """header → column per kind, from column_aliases.json (headers lower-cased)."""
    text = resources.files("sourcing.catalog_sync").joinpath("column_aliases.json").read_text()
    table: dict[str, dict[str, list[str]]] = json.loads(text)
    return {
        kind: {alias.lower(): column for column, aliases in by_column.items() for alias in aliases}
        for kind, by_column in table.items()
    }


def parse_mapping(pairs: Iterable[str], kind: FeedKind) -> dict[str, str]:
    """`货号=id` pairs as {header: column}; a column the schema lacks is refused."""
    mapping: dict[str, str] = {}
    known = schema_columns(kind)
    for pair in pairs:
        header, sign, column = pair.partition("=")
        header, column = header.strip().lower(), column.strip().lower()
        if not sign or not header or not column:
            raise BadInputError(f"a column mapping is HEADER=COLUMN, not {pair[:80]!r}")
        if len(header) > MAX_HEADER:
            raise BadInputError(f"a header is at most {MAX_HEADER} characters: {header[:80]!r}")
        if column not in known:
            raise BadInputError(
                f"{column!r} is no {kind} column; use one of {', '.join(sorted(known))}"
            )
        mapping[header] = column
    if len(mapping) > MAX_MAPPED_COLUMNS:
        raise BadInputError(f"at most {MAX_MAPPED_COLUMNS} mapped columns")
    return mapping


@dataclass
class ColumnReader:
    """Renames each row's headers to the schema's columns: the schema's own name as it is, then
    the source's saved mapping, then the aliases of real exports. A header whose column the
    row already has under its own name is left alone (and reported unknown), never merged."""

    kind: FeedKind
    saved: Mapping[str, str]

    def __post_init__(self) -> None:
        self.read_as: dict[str, str] = {}  # header → column, for the report
        self._plans: dict[frozenset[str], dict[str, str]] = {}

    def rows(self, rows: Iterable[RawRow]) -> Iterator[RawRow]:
        for raw in rows:
            if not raw.data:
                yield raw
                continue
            plan = self._plan(raw.data.keys())
            yield RawRow(raw.line, {plan.get(k, k): v for k, v in raw.data.items()}, raw.error)

    def _plan(self, headers: Iterable[str]) -> dict[str, str]:
        key = frozenset(headers)
        plan = self._plans.get(key)
        if plan is None:
            plan, taken = {}, set(key & schema_columns(self.kind))
            aliases = _aliases()[self.kind]
            for header in sorted(key - taken, key=lambda h: (h not in self.saved, h)):
                column = self.saved.get(header) or aliases.get(header)
                if column and column not in taken:
                    plan[header] = column
                    taken.add(column)
            self.read_as.update(plan)
            if len(self._plans) < _MAX_PLANS:
                self._plans[key] = plan
        return plan
