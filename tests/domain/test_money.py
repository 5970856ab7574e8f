"""Money is integer cents everywhere: parsing, tiers, and the schema itself."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Integer
from sqlmodel import SQLModel

import sourcing.domain.tables  # noqa: F401  (registers the tables)
from sourcing.domain.errors import BadInputError
from sourcing.domain.money import PriceTier, format_cents, parse_price_cents, unit_price_at


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12.5", 1250),
        ("¥12.5", 1250),
        ("￥ 12.50", 1250),
        ("12.5元", 1250),
        ("１２．５元", 1250),
        ("RMB 3", 300),
        ("1,299", 129900),
        ("0.01", 1),
        (Decimal("7.77"), 777),
        (5, 500),
    ],
)
def test_price_strings_parse_to_exact_cents(text: str | Decimal | int, cents: int) -> None:
    assert parse_price_cents(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "1.234", "-2", "NaN", "inf", "1e400"])
def test_bad_prices_raise_a_typed_error(text: str) -> None:
    with pytest.raises(BadInputError):
        parse_price_cents(text)


def test_unit_price_follows_the_tier_for_the_quantity() -> None:
    tiers = [
        PriceTier(min_quantity=2, unit_price_cents=1250),
        PriceTier(min_quantity=100, unit_price_cents=1100),
    ]
    assert unit_price_at(tiers, 1) is None
    assert unit_price_at(tiers, 99) == 1250
    assert unit_price_at(tiers, 100) == 1100


def test_format_cents() -> None:
    assert format_cents(123456) == "¥1,234.56"
    assert format_cents(5) == "¥0.05"


def test_every_money_column_is_an_integer() -> None:
    money_columns = [
        column
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_cents")
    ]
    assert len(money_columns) >= 6
    assert all(isinstance(column.type, Integer) for column in money_columns)
