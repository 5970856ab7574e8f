"""The cards a buyer sees, one typed model per kind told apart by `card`: what the REST API,
the SSE events, the OpenAI facade's `cards` field and the widget all carry."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, Field

from sourcing.agents.skills.build_bundle import BuildBundleResult
from sourcing.agents.skills.complete_basket import BasketSuggestion
from sourcing.agents.skills.discover_opportunities import Opportunity
from sourcing.agents.skills.plan_replenishment import ReplenishmentLine
from sourcing.agents.skills.similar_assortment import Alternative, SimilarSupplier
from sourcing.agents.skills.supplier_profile import SupplierProfile, TrustSignal
from sourcing.agents.skills.watch_sources import SourceChange
from sourcing.domain.records import SupplierSummary
from sourcing.domain.tables import Supplier
from sourcing.retrieval.search import SearchHit


class ProductCard(SearchHit):
    """A product as search ranks it; in a bundle also its slot and line, in a comparison what
    it shares with and how it differs from the original."""

    card: Literal["product"] = "product"
    slot: str | None = None
    quantity: int | None = None  # a bundle's line quantity
    line_total_cents: int | None = None
    compared_at_quantity: int | None = None  # both unit prices of a comparison at this quantity
    price_difference_cents: int | None = None  # negative is cheaper than the original
    same: list[str] = Field(default_factory=list)
    differs: list[str] = Field(default_factory=list)


class SupplierCard(BaseModel):
    """A supplier's profile: its trust signals in plain words and what to watch out for."""

    card: Literal["supplier"] = "supplier"
    supplier: Supplier
    quality: float
    summary: SupplierSummary
    warnings: list[str]
    signals: list[TrustSignal] = []


class SimilarSupplierCard(SimilarSupplier):
    card: Literal["similar_supplier"] = "similar_supplier"


class BasketCard(BasketSuggestion):
    card: Literal["basket_suggestion"] = "basket_suggestion"


class OpportunityCard(Opportunity):
    card: Literal["opportunity"] = "opportunity"


class ReorderCard(ReplenishmentLine):
    card: Literal["reorder"] = "reorder"


class SourceChangeCard(SourceChange):
    card: Literal["source_change"] = "source_change"


Card = Annotated[
    ProductCard
    | SupplierCard
    | SimilarSupplierCard
    | BasketCard
    | OpportunityCard
    | ReorderCard
    | SourceChangeCard,
    Field(discriminator="card"),
]
C = TypeVar("C", bound=BaseModel)


def card_of(kind: type[C], item: BaseModel, **extra: object) -> C:
    """`item`'s fields as a card of `kind` (nested models pass through, not re-validated)."""
    return kind.model_validate(dict(item) | extra)


def product_card(hit: SearchHit) -> ProductCard:
    return card_of(ProductCard, hit)


def supplier_card(profile: SupplierProfile) -> SupplierCard:
    # The profile's prose is the answer's text, not part of the card: SupplierCard ignores it.
    return card_of(SupplierCard, profile)


def alternative_card(alternative: Alternative) -> ProductCard:
    return card_of(
        ProductCard,
        alternative.product,
        price_difference_cents=alternative.price_difference_cents,
        same=alternative.same,
        differs=alternative.differs,
        compared_at_quantity=alternative.quantity,
    )


def bundle_cards(result: BuildBundleResult) -> list[ProductCard]:
    """Product cards with the slot each fills and what it costs at the bundle's quantity."""
    return [
        card_of(
            ProductCard,
            item.product,
            slot=item.slot_name,
            quantity=item.quantity,
            unit_price_cents=item.unit_price_cents,
            line_total_cents=item.line_total_cents,
        )
        for item in result.items
    ]


def cited_product_id(card: BaseModel) -> str | None:
    """The product a card is about, if it is about one (an opportunity or a supplier is not)."""
    if isinstance(card, ProductCard | BasketCard | ReorderCard):
        return card.product_id
    return None
