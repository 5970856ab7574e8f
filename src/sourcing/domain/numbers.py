"""Bounded numbers: caps on count, money and quantity, checked on the text before any conversion."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from sourcing.domain.errors import BadInputError

# Decimal and int conversion of a long digit string (or of 1e400000) is quadratic and holds the
# interpreter; no number a buyer or a feed means is longer than this.
MAX_NUMBER_CHARS = 24
MAX_COUNT = 10_000_000  # pieces, an MOQ, an order quantity
MAX_BUDGET_CENTS = 100_000_000_000  # ¥1,000,000,000 for a whole plan or bundle
MAX_BUDGET_YUAN = Decimal(MAX_BUDGET_CENTS // 100)
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
# Plain decimals only: digits with optional thousands commas and a fraction; no exponent.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|[+-]?\.[0-9]+")


def bounded_decimal(text: str, *, field: str) -> Decimal:
    """A plain decimal string ("12.5", "1,000") as a Decimal; anything longer or in exponent form
    is a typed 422 naming `field`, decided before conversion."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if len(cleaned) > MAX_NUMBER_CHARS:
        raise BadInputError(
            f"{field}: a number of more than {MAX_NUMBER_CHARS} characters",
            field=field,
        )
    if not _PLAIN_DECIMAL.fullmatch(cleaned):
        raise BadInputError(
            f"{field} {cleaned!r} is not a number (plain decimal digits, no exponent)", field=field
        )
    return Decimal(cleaned.replace(",", ""))
