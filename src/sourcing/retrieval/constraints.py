"""Hard search constraints: what a buyer requires, applied as filters, never relaxed silently."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sourcing.domain.kinds import SupplierKind
from sourcing.domain.money import MAX_PRICE_CENTS
from sourcing.domain.numbers import MAX_COUNT

MAX_LEAD_TIME_DAYS = 3650


class Constraints(BaseModel):
    """Every field is optional; a set field must hold for every result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price_min_cents: int | None = Field(default=None, ge=0, le=MAX_PRICE_CENTS)
    price_max_cents: int | None = Field(default=None, ge=0, le=MAX_PRICE_CENTS)
    moq_max: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    # Regions match a supplier's province, city or industrial belt (产业带), by canonical name.
    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # first-level categories, e.g. 日用百货
    supplier_kinds: tuple[SupplierKind, ...] = ()  # factory-direct means (factory, brand_oem)
    customisable: bool | None = None
    lead_time_max_days: int | None = Field(default=None, ge=0, le=MAX_LEAD_TIME_DAYS)
    in_stock: bool | None = None

    @model_validator(mode="after")
    def _price_range_is_ordered(self) -> Constraints:
        low, high = self.price_min_cents, self.price_max_cents
        if low is not None and high is not None and low > high:
            raise ValueError("price_min_cents is above price_max_cents")
        return self

    def active(self) -> list[str]:
        """Names of the constraints that are set, in a stable order."""
        return [name for name, value in self if value is not None and value != ()]

    def without(self, name: str) -> Constraints:
        """The same constraints with `name` cleared: used to suggest a relaxation."""
        default = type(self).model_fields[name].default
        return self.model_copy(update={name: default})

    def merged(self, other: Constraints) -> Constraints:
        """`other`'s set fields override this one's (explicit filters beat parsed ones)."""
        return self.model_copy(update={name: getattr(other, name) for name in other.active()})


FACTORY_DIRECT = (SupplierKind.FACTORY, SupplierKind.BRAND_OEM)


class ParsedQuery(BaseModel):
    """A buyer's query split into hard constraints and the text left for semantic search."""

    model_config = ConfigDict(frozen=True)

    text: str  # the original query
    semantic_text: str  # the query with the constraint phrases taken out
    constraints: Constraints = Constraints()
    quantity: int | None = Field(default=None, ge=1)  # how many units the buyer wants to order
    matched: tuple[str, ...] = ()  # the phrases recognised as constraints, for explanations
