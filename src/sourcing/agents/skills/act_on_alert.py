"""An alert's one-click action carried out: the alternatives as cards, a reorder draft, the
supplier and its new products, the product, or the opportunity list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.cards import (
    OpportunityCard,
    ProductCard,
    SupplierCard,
    card_of,
    product_card,
    supplier_card,
)
from sourcing.agents.skills.discover_opportunities import (
    DiscoverOpportunitiesInput,
    discover_opportunities,
)
from sourcing.agents.skills.similar_assortment import listing_card, price_at
from sourcing.agents.skills.supplier_profile import SupplierProfileInput, supplier_profile
from sourcing.domain.errors import BadInputError
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.drafts import ReorderDraftRepository
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.domain.tables import Alert, Product, ReorderDraft
from sourcing.prompts.loader import Language, PromptLibrary
from sourcing.retrieval.search import ProductSearch

ActionType = Literal[
    "show_alternatives", "draft_reorder", "open_supplier", "open_product", "open_opportunities"
]
ActionCard = ProductCard | SupplierCard
MAX_IDS = 20  # an action names a handful of products or suppliers; more is not one click


class AlertActionResult(BaseModel):
    alert_id: int
    action: ActionType
    cards: list[ActionCard]
    draft: ReorderDraft | None = None
    opportunities: list[OpportunityCard] = []


def act_on_alert(
    engine: Engine,
    search: ProductSearch,
    prompts: PromptLibrary,
    session: Session,
    alert: Alert,
    language: Language = "zh",
) -> AlertActionResult:
    """Carry out `alert.action` for its buyer; a reorder draft is added to the caller's
    session, not committed (the request owns the unit of work)."""
    action = alert.action or {}
    kind = action.get("type")
    assert alert.id is not None
    if kind == "show_alternatives":
        cards = _supplier_cards(engine, prompts, _ids(action.get("supplier_ids")), language)
        cards += _product_cards(session, _ids(action.get("product_ids")))
        return AlertActionResult(alert_id=alert.id, action=kind, cards=cards)
    if kind == "draft_reorder":
        draft = _draft(session, alert, str(action.get("product_id")), _ids(action.get("sku_ids")))
        cards = _product_cards(session, [draft.product_id])
        return AlertActionResult(alert_id=alert.id, action=kind, cards=cards, draft=draft)
    if kind == "open_supplier":
        supplier_id = str(action.get("supplier_id"))
        cards = _supplier_cards(engine, prompts, [supplier_id], language)
        cards += _product_cards(session, _ids(action.get("product_ids")))
        return AlertActionResult(alert_id=alert.id, action=kind, cards=cards)
    if kind == "open_product":
        cards = _product_cards(session, [str(action.get("product_id"))])
        return AlertActionResult(alert_id=alert.id, action=kind, cards=cards)
    if kind == "open_opportunities":
        category = action.get("category")
        request = DiscoverOpportunitiesInput(
            buyer_id=alert.buyer_id,
            categories=[str(category)] if category else None,
            limit=10,
            language=language,
        )
        found = discover_opportunities(engine, search, request)
        shown = [card_of(OpportunityCard, item) for item in found.opportunities]
        return AlertActionResult(alert_id=alert.id, action=kind, cards=[], opportunities=shown)
    raise BadInputError(f"alert {alert.id} has no action to carry out")


def _ids(value: object) -> list[str]:
    return [str(item) for item in value][:MAX_IDS] if isinstance(value, list) else []


def _product_cards(session: Session, product_ids: Sequence[str]) -> list[ActionCard]:
    listings = CatalogRepository(session).listings(product_ids)
    return [product_card(listing_card(listing)) for listing in listings]


def _supplier_cards(
    engine: Engine, prompts: PromptLibrary, supplier_ids: Sequence[str], language: Language
) -> list[ActionCard]:
    return [
        supplier_card(
            supplier_profile(
                engine, prompts, SupplierProfileInput(supplier_id=supplier_id, language=language)
            )
        )
        for supplier_id in supplier_ids
    ]


def _draft(session: Session, alert: Alert, product_id: str, sku_ids: list[str]) -> ReorderDraft:
    """The buyer's last order of the product again (each SKU's last quantity, at least the
    MOQ), priced at today's tier for that quantity."""
    catalog = CatalogRepository(session)
    product = catalog.get_product(product_id)
    if product.supplier_id is None:
        raise BadInputError(f"product {product_id} has no supplier to reorder from")
    last: dict[str | None, int] = {}
    for line in OrderRepository(session).ordered_lines(alert.buyer_id):
        if line.product_id == product_id:
            last[line.sku_id] = line.quantity
    skus = {sku.id: sku for sku in catalog.skus_of(product_id)}
    wanted = [sku for sku in sku_ids if sku in skus] or [sku for sku in last if sku in skus]
    lines = [_line(product, sku, last.get(sku)) for sku in wanted]
    if not lines:
        lines = [_line(product, None, last.get(None))]
    return ReorderDraftRepository(session).add(
        alert.buyer_id,
        product_id=product_id,
        supplier_id=product.supplier_id,
        lines=lines,
        alert_id=alert.id,
    )


def _line(product: Product, sku_id: str | None, last_quantity: int | None) -> dict[str, Any]:
    quantity = max(product.moq, last_quantity or 0)
    return {"sku_id": sku_id, "quantity": quantity, "unit_price_cents": price_at(product, quantity)}
