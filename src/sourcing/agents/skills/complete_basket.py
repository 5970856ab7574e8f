"""complete_basket (凑单/搭配): what is usually bought with the given products, and why."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import ProductStatus, SupplierStatus
from sourcing.domain.money import format_cents
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.domain.tables import Product, Supplier
from sourcing.prompts.loader import Language
from sourcing.retrieval.copurchase import Association, CoPurchase
from sourcing.retrieval.search import ProductSearch, SearchRequest

Source = Literal["co_purchase", "category", "semantic"]
OVERFETCH = 3  # candidates per slot, since delisted products and inputs are dropped later
SEMANTIC_HITS = 20
TITLE_CHARS = 24


class CompleteBasketInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_ids: list[str] = Field(min_length=1, max_length=20, description="the basket so far")
    limit: int = Field(default=10, ge=1, le=30)
    language: Annotated[Language, SERVICE] = "zh"


class BasketSuggestion(BaseModel):
    product_id: str
    title: str
    category_path: str
    price_cents: int | None
    price: str  # formatted, "面议" when negotiable
    unit: str
    moq: int
    supplier_id: str | None
    supplier_name: str
    source: Source
    goes_with: list[str]  # input product ids (or input categories) it is bought with
    confidence: float | None = None
    lift: float | None = None
    why: str


class CompleteBasketResult(BaseModel):
    product_ids: list[str]
    thin: bool  # too little co-purchase data for the inputs; suggestions fell back
    suggestions: list[BasketSuggestion]


@cache
def _phrases() -> dict[str, dict[str, str]]:
    text = files("sourcing.agents").joinpath("data/complete_basket.json").read_text("utf-8")
    phrases: dict[str, dict[str, str]] = json.loads(text)
    return phrases


class _Candidate(BaseModel):
    product_id: str
    source: Source
    goes_with: list[str]
    rule: Association | None = None
    from_category: str = ""


class _Context:
    """The inputs' products and leaves, and the candidates gathered so far."""

    def __init__(self, engine: Engine, request: CompleteBasketInput) -> None:
        self.engine = engine
        self.request = request
        with Session(engine) as session:
            self.category_of = OrderRepository(session).product_categories(request.product_ids)
            listings = CatalogRepository(session).listings(list(self.category_of))
        missing = [pid for pid in request.product_ids if pid not in self.category_of]
        if missing:
            raise NotFoundError(f"no products {missing}", product_ids=missing)
        self.titles = {product.id: product.title for product, _ in listings}
        self.inputs = list(dict.fromkeys(request.product_ids))
        self.leaves = list(dict.fromkeys(self.category_of[pid] for pid in self.inputs))
        self.candidates: list[_Candidate] = []

    def taken(self) -> set[str]:
        return {*self.inputs, *(c.product_id for c in self.candidates)}

    def add(self, candidate: _Candidate) -> None:
        if candidate.product_id not in self.taken():
            self.candidates.append(candidate)


def _from_co_purchase(ctx: _Context, stats: CoPurchase, wanted: int) -> None:
    for found in stats.complements(ctx.inputs, limit=wanted):
        ctx.add(
            _Candidate(
                product_id=found.item, source="co_purchase", goes_with=found.because, rule=found
            )
        )


def _from_categories(ctx: _Context, stats: CoPurchase, wanted: int) -> None:
    rules = stats.category_complements(ctx.leaves, limit=wanted)
    with Session(ctx.engine) as session:
        repo = OrderRepository(session)
        for rule in rules:
            for product_id in repo.best_sellers(rule.item, OVERFETCH):
                ctx.add(
                    _Candidate(
                        product_id=product_id,
                        source="category",
                        goes_with=rule.because,
                        rule=rule,
                        from_category=rule.because[0],
                    )
                )


def _semantic_queries(category_path: str) -> list[str]:
    # Titles carry constraint words (定制, 厂家) that the parser turns into hard filters, so the
    # category's own words, widening from the leaf to the top level, stand for the product.
    levels = category_path.split("/")
    return [" ".join(levels[1:]), *reversed(levels[:-1])]


def _from_semantics(ctx: _Context, search: ProductSearch, language: Language) -> None:
    for pid in ctx.inputs:
        for query in _semantic_queries(ctx.category_of[pid]):
            if not query.strip():
                continue
            request = SearchRequest(query=query, limit=SEMANTIC_HITS, language=language)
            for hit in search.search(request).hits:
                if hit.category_path not in ctx.leaves:
                    ctx.add(
                        _Candidate(product_id=hit.product_id, source="semantic", goes_with=[pid])
                    )


def _sellable(product: Product, supplier: Supplier | None) -> bool:
    return product.status == ProductStatus.ACTIVE and (
        supplier is None or supplier.status == SupplierStatus.ACTIVE
    )


def _short(text: str) -> str:
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS] + "…"


def _why(ctx: _Context, candidate: _Candidate, product: Product, language: Language) -> str:
    phrase = _phrases()[language][candidate.source]
    rule = candidate.rule
    names = [_short(ctx.titles.get(item, item)) for item in candidate.goes_with]
    sep = "、" if language == "zh" else ", "
    return phrase.format(
        goes_with=sep.join(names),
        confidence=f"{rule.confidence:.0%}" if rule else "",
        lift=f"{rule.lift:.1f}" if rule else "",
        count=rule.count if rule else 0,
        category=product.category_path.split("/")[-1],
        from_category=candidate.from_category.split("/")[-1],
    )


def _suggestion(
    ctx: _Context, candidate: _Candidate, product: Product, supplier: Supplier | None
) -> BasketSuggestion:
    rule = candidate.rule
    return BasketSuggestion(
        product_id=product.id,
        title=product.title,
        category_path=product.category_path,
        price_cents=product.price_cents,
        price=format_cents(product.price_cents) if product.price_cents is not None else "面议",
        unit=product.unit,
        moq=product.moq,
        supplier_id=product.supplier_id,
        supplier_name=supplier.name if supplier else "",
        source=candidate.source,
        goes_with=candidate.goes_with,
        confidence=round(rule.confidence, 3) if rule else None,
        lift=round(rule.lift, 2) if rule else None,
        why=_why(ctx, candidate, product, ctx.request.language),
    )


def _cards(ctx: _Context, candidates: Sequence[_Candidate]) -> list[BasketSuggestion]:
    with Session(ctx.engine) as session:
        listings = CatalogRepository(session).listings([c.product_id for c in candidates])
    by_id = {product.id: (product, supplier) for product, supplier in listings}
    cards = [
        _suggestion(ctx, c, *by_id[c.product_id])
        for c in candidates
        if c.product_id in by_id and _sellable(*by_id[c.product_id])
    ]
    return cards[: ctx.request.limit]


def complete_basket(
    engine: Engine, search: ProductSearch, copurchase: CoPurchase, request: CompleteBasketInput
) -> CompleteBasketResult:
    """Co-purchase complements first; when they are thin or run short, products of the leaf
    categories bought with the inputs' categories, then semantically near products of other
    leaves. Never the inputs, never delisted products."""
    ctx = _Context(engine, request)
    wanted = request.limit * OVERFETCH
    thin = copurchase.is_thin(ctx.inputs)
    if not thin:
        _from_co_purchase(ctx, copurchase, wanted)
    cards = _cards(ctx, ctx.candidates)
    if len(cards) < request.limit:
        _from_categories(ctx, copurchase, wanted)
        cards = _cards(ctx, ctx.candidates)
    if len(cards) < request.limit:
        _from_semantics(ctx, search, request.language)
        cards = _cards(ctx, ctx.candidates)
    return CompleteBasketResult(product_ids=ctx.inputs, thin=thin, suggestions=cards)
