"""Assortment routes: bundles (智能组货), alternatives (相似货盘/平替), shelf fillers, baskets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sourcing.agents.skills.build_bundle import BuildBundleInput, BuildBundleResult, build_bundle
from sourcing.agents.skills.cards import ProductCard, bundle_cards
from sourcing.agents.skills.complete_basket import (
    CompleteBasketInput,
    CompleteBasketResult,
    complete_basket,
)
from sourcing.agents.skills.similar_assortment import (
    ShelfFillersInput,
    ShelfFillersResult,
    SimilarMode,
    SimilarProductsInput,
    SimilarProductsResult,
    SimilarSuppliersInput,
    SimilarSuppliersResult,
    shelf_fillers,
    similar_products,
    similar_suppliers,
)
from sourcing.app.deps import ANY_KEY, IdPath, PrincipalDep, SkillsDep
from sourcing.domain.errors import BadInputError
from sourcing.domain.kinds import ApiRole
from sourcing.prompts.loader import Language

router = APIRouter(prefix="/v1", tags=["assortment"], dependencies=ANY_KEY)


class BundleResponse(BuildBundleResult):
    cards: list[ProductCard]  # the items as product cards, with slot and line total


@router.post("/bundles")
def create_bundle(request: BuildBundleInput, skills: SkillsDep) -> BundleResponse:
    """A complete assortment within the budget and MOQs; an unmet budget is said, not hidden."""
    result = build_bundle(
        skills.engine,
        skills.search,
        request,
        scenes=skills.scenes,
        complements=skills.copurchase,
    )
    return BundleResponse.model_validate(dict(result) | {"cards": bundle_cards(result)})


@router.get("/products/{product_id}/similar")
def similar_to_product(
    product_id: IdPath,
    skills: SkillsDep,
    mode: SimilarMode = "substitutes",
    quantity: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    language: Language = "zh",
) -> SimilarProductsResult:
    """Other sources, cheaper equivalents (平替) or factory-direct versions, compared at one
    quantity: what is the same, what differs and the price difference."""
    request = SimilarProductsInput(
        product_id=product_id, mode=mode, quantity=quantity, limit=limit, language=language
    )
    return similar_products(skills.engine, skills.search, request)


@router.get("/suppliers/{supplier_id}/similar")
def similar_to_supplier(
    supplier_id: IdPath,
    skills: SkillsDep,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    language: Language = "zh",
) -> SimilarSuppliersResult:
    """Suppliers with a catalog like this one's, ranked by overlap and trust (换供)."""
    request = SimilarSuppliersInput(supplier_id=supplier_id, limit=limit, language=language)
    return similar_suppliers(skills.engine, request)


class ShelfRequest(BaseModel):
    product_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=200, description="omit: a buyer key's own orders"
    )
    limit: int = Field(default=10, ge=1, le=20)
    language: Language = "zh"


@router.post("/assortment/shelf-fillers")
def fill_the_shelf(
    request: ShelfRequest, principal: PrincipalDep, skills: SkillsDep
) -> ShelfFillersResult:
    """Products that fit beside an assortment and are not stocked yet; without ids, the
    assortment is the calling buyer's own orders (never another buyer's)."""
    own_buyer = principal.subject if principal.role == ApiRole.BUYER else None
    if request.product_ids is None and own_buyer is None:
        raise BadInputError("give product_ids; only a buyer key can use its own orders")
    shelf = ShelfFillersInput(
        product_ids=request.product_ids,
        buyer_id=None if request.product_ids else own_buyer,
        limit=request.limit,
        language=request.language,
    )
    return shelf_fillers(skills.engine, skills.search, shelf)


@router.post("/baskets/complete")
def complete_a_basket(request: CompleteBasketInput, skills: SkillsDep) -> CompleteBasketResult:
    """What buyers usually order with these products (co-purchase, then related shelves)."""
    return complete_basket(skills.engine, skills.search, skills.copurchase, request)
