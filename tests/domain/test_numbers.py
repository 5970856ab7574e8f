"""Bounded number parsing: any text is a bounded value or a typed 422, decided before conversion."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcing.domain.errors import BadInputError
from sourcing.domain.money import MAX_PRICE_CENTS, parse_price_cents
from sourcing.domain.numbers import MAX_NUMBER_CHARS, bounded_decimal
from sourcing.retrieval.query_parser import parse_query

NUMBERISH = st.text(alphabet="0123456789.,eE+-_ ¥元", max_size=60)


@given(NUMBERISH)
def test_any_price_text_is_a_bounded_cent_value_or_a_typed_error(text: str) -> None:
    try:
        cents = parse_price_cents(text)
    except BadInputError:
        return  # a typed 422 (BadInputError's status)
    assert 0 <= cents <= MAX_PRICE_CENTS


@given(st.integers(min_value=-(10**400), max_value=10**400))
def test_any_integer_price_is_bounded_or_refused(value: int) -> None:
    try:
        cents = parse_price_cents(value)
    except BadInputError:
        assert value < 0 or value * 100 > MAX_PRICE_CENTS
    else:
        assert cents == value * 100


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**6))
def test_plain_decimals_within_the_cap_round_trip(value: Decimal) -> None:
    assert parse_price_cents(format(value, "f")) == int(value * 100)


@pytest.mark.parametrize(
    "text", ["1e400000", "1e999999", "9" * (MAX_NUMBER_CHARS + 1), "1" + ",000" * 5000, "NaN"]
)
def test_hostile_numbers_are_refused_at_once(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(BadInputError, match="budget"):
        bounded_decimal(text, field="budget")
    assert time.perf_counter() - started < 0.01


# No deadline: the first example also loads the grammar, and time is not what this checks.
@settings(deadline=None)
@given(st.lists(st.sampled_from(["000", "999", "1"]), min_size=1, max_size=300))
def test_a_message_with_any_comma_grouped_amount_parses_to_valid_constraints(
    groups: list[str],
) -> None:
    parsed = parse_query(f"收纳盒 1,{','.join(groups)}元以内 起批量{''.join(groups)}个")
    high = parsed.constraints.price_max_cents
    assert high is None or high <= MAX_PRICE_CENTS


def test_an_amount_with_more_groups_than_a_price_has_stays_text() -> None:
    parsed = parse_query("收纳盒 1,000,000,000,000,000元以内")
    assert parsed.constraints.price_max_cents is None
    assert parse_query("收纳盒 1,000元以内").constraints.price_max_cents == 100_000
