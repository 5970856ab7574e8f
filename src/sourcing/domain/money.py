"""Money as integer cents (分): parsing of price strings, tier lookup, formatting. Never float."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from sourcing.domain.errors import BadInputError
from sourcing.domain.numbers import bounded_decimal

MAX_PRICE_CENTS = 100_000_000  # ¥1,000,000 per unit: anything above is a data-entry error
_CURRENCY_NOISE = re.compile(r"^(?:rmb|cny|¥|￥)|(?:元|块钱|块|rmb|cny)$", re.IGNORECASE)


class PriceTier(BaseModel):
    """阶梯价: from `min_quantity` units on, each unit costs `unit_price_cents`."""

    model_config = ConfigDict(frozen=True)

    min_quantity: int = Field(ge=1)
    unit_price_cents: int = Field(ge=0, le=MAX_PRICE_CENTS)


def parse_price_cents(text: str | int | Decimal) -> int:
    """Parse "¥12.5", "12.5元", "１２.５０", "RMB 3" or a Decimal into cents.

    Rejects negatives, more than two decimals (no silent rounding) and absurd values.
    """
    if isinstance(text, bool):
        raise BadInputError("price must be a number, not a boolean")
    if isinstance(text, int):
        amount = Decimal(text)
    elif isinstance(text, Decimal):
        amount = text
    else:
        cleaned = unicodedata.normalize("NFKC", str(text)).strip()
        cleaned = _CURRENCY_NOISE.sub("", cleaned).strip()
        if not cleaned:
            raise BadInputError(f"price {text!r} has no number")
        amount = bounded_decimal(cleaned, field="price")
    if not amount.is_finite():
        raise BadInputError(f"price {text!r} is not a finite number")
    if amount < 0:
        raise BadInputError(f"price {text!r} is negative")
    if amount > MAX_PRICE_CENTS // 100:
        raise BadInputError(f"price {text!r} is above the ¥{MAX_PRICE_CENTS // 100:,} cap")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise BadInputError(f"price {text!r} has more than two decimal places")
    return int(cents)


def format_cents(cents: int) -> str:
    """12345 -> "¥123.45"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}¥{whole:,}.{frac:02d}"


def unit_price_at(tiers: Sequence[PriceTier], quantity: int) -> int | None:
    """The unit price in cents when buying `quantity` units; None below the first tier (MOQ)."""
    price: int | None = None
    for tier in sorted(tiers, key=lambda t: t.min_quantity):
        if quantity >= tier.min_quantity:
            price = tier.unit_price_cents
    return price


def validate_tiers(tiers: Sequence[PriceTier]) -> list[PriceTier]:
    """Sort tiers and check that buying more never costs more per unit."""
    ordered = sorted(tiers, key=lambda t: t.min_quantity)
    for lower, higher in itertools.pairwise(ordered):
        if lower.min_quantity == higher.min_quantity:
            raise BadInputError(f"two price tiers start at quantity {lower.min_quantity}")
        if higher.unit_price_cents > lower.unit_price_cents:
            raise BadInputError(
                f"tier from {higher.min_quantity} costs more per unit than tier from "
                f"{lower.min_quantity}"
            )
    return ordered
