"""相似货盘 (similar_assortment): alternatives to a product, similar suppliers, shelf fillers."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Literal, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import SupplierKind
from sourcing.domain.money import PriceTier, format_cents, unit_price_at
from sourcing.domain.repositories.assortment import AssortmentRepository
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.tables import Product, Supplier
from sourcing.retrieval.documents import dense_text
from sourcing.retrieval.index import AnyOf
from sourcing.retrieval.ranking import SupplierSignals, diversify, supplier_quality
from sourcing.retrieval.search import ProductSearch, SearchHit, SearchRequest, SupplierCard

Language = Literal["zh", "en"]
SimilarMode = Literal["substitutes", "cheaper", "factory_direct"]
Listing = tuple[Product, Supplier | None]
FACTORY_KINDS = frozenset({SupplierKind.FACTORY, SupplierKind.BRAND_OEM})


@dataclass(frozen=True)
class AssortmentTuning:
    """Weights of the re-ranking; attribute_weight 0 ranks by text similarity and trust only
    (the eval suite reports both)."""

    attribute_weight: float = 0.5  # share of the score riding on key attributes kept
    quality_weight: float = 0.2  # share riding on the supplier's trust score
    out_of_stock_factor: float = 0.7
    per_supplier: int = 1  # second sources: one alternative per supplier
    text_candidates: int = 10  # search hits a query_text is resolved from
    sibling_factor: float = 0.85  # a sibling leaf fits the shelf a little less than the same
    centroid_products: int = 50  # most recently stocked products the shelf is embedded from


@dataclass(frozen=True)
class AssortmentVocabulary:
    """agents/data/assortment.json: which attributes define a product, and the phrases."""

    key_attributes: tuple[str, ...]
    listing_attributes: frozenset[str]
    phrases: dict[str, dict[str, str]]


@cache
def load_assortment_vocabulary() -> AssortmentVocabulary:
    raw = json.loads(
        resources.files("sourcing.agents").joinpath("data/assortment.json").read_text("utf-8")
    )
    return AssortmentVocabulary(
        key_attributes=tuple(raw["key_attributes"]),
        listing_attributes=frozenset(raw["listing_attributes"]),
        phrases=raw["phrases"],
    )


def key_attributes(product: Product, vocabulary: AssortmentVocabulary) -> dict[str, str]:
    """The attributes a substitute must keep: material, efficacy, fitting model, SPF, flavour."""
    return {
        name: product.attributes[name]
        for name in vocabulary.key_attributes
        if name in product.attributes
    }


def keeps_key_attributes(
    original: Product, other: Product, vocabulary: AssortmentVocabulary
) -> bool:
    """Same leaf category and every key attribute of the original with the same value."""
    if original.category_path != other.category_path:
        return False
    wanted = key_attributes(original, vocabulary)
    return all(other.attributes.get(name) == value for name, value in wanted.items())


def comparison_quantity(asked: int | None, original: Product, other: Product) -> int:
    """One rule for every price comparison: the asked quantity, raised to both MOQs, so that
    both listings can actually be ordered at it."""
    return max(asked or 1, original.moq, other.moq)


def price_at(product: Product, quantity: int) -> int | None:
    tiers = [PriceTier.model_validate(tier) for tier in product.price_tiers]
    if not tiers:
        return product.price_cents if quantity >= product.moq else None
    return unit_price_at(tiers, quantity)


def _quality(supplier: Supplier | None) -> float:
    return supplier_quality(SupplierSignals.of(supplier)) if supplier is not None else 0.5


def _supplier_card(supplier: Supplier) -> SupplierCard:
    return SupplierCard.of(supplier, _quality(supplier))


def _trust_line(supplier: Supplier, phrases: dict[str, str]) -> str:
    return phrases["trust"].format(
        kind=phrases[str(supplier.kind)],
        integrity=supplier.integrity_score,
        fulfilment=supplier.fulfilment_48h_rate,
    )


def _hit(listing: Listing, unit_price: int | None, score: float, why: list[str]) -> SearchHit:
    product, supplier = listing
    return SearchHit.of(
        product,
        _supplier_card(supplier) if supplier is not None else None,
        tiers=[PriceTier.model_validate(tier) for tier in product.price_tiers],
        unit_price=unit_price,
        score=score,
        why=why,
    )


def listing_card(listing: Listing) -> SearchHit:
    """A product's card at its MOQ, as search shows it (for a product named by id)."""
    product = listing[0]
    return _hit(listing, price_at(product, product.moq), 1.0, [])


def _leaf_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _shelf_of(path: str) -> str:
    """The parent of a leaf ("日用百货/杯壶水具" for "日用百货/杯壶水具/保温杯")."""
    return path.rsplit("/", 1)[0] if "/" in path else path


def _similarities(
    search: ProductSearch, vector: NDArray[np.float32], product_ids: Sequence[str]
) -> dict[str, float]:
    """Dense cosine of `vector` to each of `product_ids` that is indexed."""
    if not product_ids:
        return {}
    hits = search.index.search(
        vector, conditions=[AnyOf("product_id", tuple(product_ids))], limit=len(product_ids)
    )
    return {hit.product_id: hit.score for hit in hits}


def _listings(session: Session, product_ids: Sequence[str]) -> list[Listing]:
    return CatalogRepository(session).listings(list(product_ids))


# similar products


class SimilarProductsInput(BaseModel):
    """A product (by id, or described in any language) and which kind of alternative."""

    model_config = ConfigDict(frozen=True)

    product_id: str | None = Field(default=None, min_length=1, max_length=64)
    query_text: str | None = Field(
        default=None, min_length=1, max_length=500, description="describes the product instead"
    )
    mode: SimilarMode = Field(
        default="substitutes", description="substitutes, cheaper (平替) or factory_direct"
    )
    quantity: int | None = Field(
        default=None, ge=1, le=10_000_000, description="units, to compare prices"
    )
    limit: int = Field(default=5, ge=1, le=20)
    language: Annotated[Language, SERVICE] = "zh"

    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        if (self.product_id is None) == (self.query_text is None):
            raise ValueError("give exactly one of product_id and query_text")
        return self


class Alternative(BaseModel):
    product: SearchHit
    quantity: int  # both unit prices are taken at this quantity
    unit_price_cents: int | None
    original_unit_price_cents: int | None
    price_difference_cents: int | None  # alternative minus original; negative is cheaper
    similarity: float  # dense cosine between the two listings
    key_attributes_kept: bool
    same: list[str]
    differs: list[str]


class SimilarProductsResult(BaseModel):
    """`note` says why the list is empty or narrower than asked."""

    original: SearchHit | None
    mode: SimilarMode
    quantity: int | None
    alternatives: list[Alternative]
    note: str | None = None  # no_match, no_alternatives, nothing_cheaper, original_price_unknown,
    # no_factory_version


def _compare(
    original: Product,
    listing: Listing,
    original_supplier: Supplier | None,
    vocabulary: AssortmentVocabulary,
    phrases: dict[str, str],
) -> tuple[list[str], list[str]]:
    """What the alternative shares with the original and what differs, as short phrases."""
    product, supplier = listing
    same = [phrases["leaf"].format(leaf=_leaf_name(original.category_path))]
    differs = []
    for name, value in original.attributes.items():
        if name in vocabulary.listing_attributes:
            continue
        other = product.attributes.get(name)
        if other == value:
            same.append(phrases["attribute_same"].format(name=name, value=value))
        elif other is None:
            differs.append(phrases["attribute_missing"].format(name=name))
        else:
            differs.append(
                phrases["attribute_differs"].format(name=name, original=value, other=other)
            )
    if original_supplier and supplier and original_supplier.kind != supplier.kind:
        kinds = {
            "original": phrases[str(original_supplier.kind)],
            "other": phrases[str(supplier.kind)],
        }
        differs.append(phrases["supplier_kind"].format(**kinds))
    if original.moq != product.moq:
        differs.append(phrases["moq"].format(original=original.moq, other=product.moq))
    return same, differs


def _resolve_text(
    search: ProductSearch, request: SimilarProductsInput, tuning: AssortmentTuning
) -> str | None:
    """The listing a description stands for: the best hybrid-search match."""
    assert request.query_text is not None
    found = search.search(
        SearchRequest(
            query=request.query_text,
            limit=tuning.text_candidates,
            diversify=False,
            language=request.language,
        )
    )
    return found.hits[0].product_id if found.hits else None


def _alternative(
    original: Listing,
    listing: Listing,
    similarity: float,
    request: SimilarProductsInput,
    tuning: AssortmentTuning,
) -> Alternative:
    vocabulary = load_assortment_vocabulary()
    phrases = vocabulary.phrases[request.language]
    product, supplier = listing
    quantity = comparison_quantity(request.quantity, original[0], product)
    price = price_at(product, quantity)
    original_price = price_at(original[0], quantity)
    wanted = key_attributes(original[0], vocabulary)
    kept_share = (
        sum(product.attributes.get(name) == value for name, value in wanted.items()) / len(wanted)
        if wanted
        else 1.0
    )
    score = (
        max(similarity, 0.0)
        * (1 - tuning.attribute_weight + tuning.attribute_weight * kept_share)
        * (1 - tuning.quality_weight + tuning.quality_weight * _quality(supplier))
        * (1.0 if product.stock else tuning.out_of_stock_factor)
    )
    same, differs = _compare(original[0], listing, original[1], vocabulary, phrases)
    why = [_trust_line(supplier, phrases)] if supplier is not None else []
    if price is not None:
        why.append(
            phrases["price"].format(moq=product.moq, unit=product.unit, price=format_cents(price))
        )
    return Alternative(
        product=_hit(listing, price, score, why),
        quantity=quantity,
        unit_price_cents=price,
        original_unit_price_cents=original_price,
        price_difference_cents=(
            price - original_price if price is not None and original_price is not None else None
        ),
        similarity=round(similarity, 4),
        key_attributes_kept=keeps_key_attributes(original[0], product, vocabulary),
        same=same,
        differs=differs,
    )


def _fits_mode(alternative: Alternative, mode: SimilarMode) -> bool:
    if mode == "cheaper":
        difference = alternative.price_difference_cents
        return alternative.key_attributes_kept and difference is not None and difference < 0
    if mode == "factory_direct":
        supplier = alternative.product.supplier
        return supplier is not None and supplier.kind in FACTORY_KINDS
    return True


def _empty_note(mode: SimilarMode, original_priced: bool, candidates: int) -> str:
    if candidates == 0:
        return "no_alternatives"
    if mode == "cheaper":
        return "nothing_cheaper" if original_priced else "original_price_unknown"
    if mode == "factory_direct":
        return "no_factory_version"
    return "no_alternatives"


def similar_products(
    engine: Engine,
    search: ProductSearch,
    request: SimilarProductsInput,
    tuning: AssortmentTuning = AssortmentTuning(),
) -> SimilarProductsResult:
    """Listings of other suppliers in the same leaf, by dense similarity of the product's own
    indexed text, re-ranked by key attributes kept × supplier trust; filtered by `mode`."""
    product_id = request.product_id or _resolve_text(search, request, tuning)
    if product_id is None:
        return SimilarProductsResult(
            original=None, mode=request.mode, quantity=request.quantity, alternatives=[],
            note="no_match",
        )  # fmt: skip
    with Session(engine) as session:
        found = _listings(session, [product_id])
        if not found:
            raise NotFoundError(f"no product {product_id!r}", product_id=product_id)
        original = found[0]
        ids = AssortmentRepository(session).listing_ids_in_leaves([original[0].category_path])
        candidates = [
            listing
            for listing in _listings(session, ids)
            if listing[0].id != product_id
            and (
                original[0].supplier_id is None or listing[0].supplier_id != original[0].supplier_id
            )
        ]
    vector = search.embedder.embed_documents([dense_text(*original)])[0]
    similarity = _similarities(search, vector, [product.id for product, _ in candidates])
    alternatives = sorted(
        (
            _alternative(original, listing, similarity[listing[0].id], request, tuning)
            for listing in candidates
            if listing[0].id in similarity
        ),
        key=lambda a: (-a.product.score, a.product.product_id),
    )
    kept = _per_supplier(
        [a for a in alternatives if _fits_mode(a, request.mode)], tuning.per_supplier
    )[: request.limit]
    quantity = comparison_quantity(request.quantity, original[0], original[0])
    original_hit = _hit(original, price_at(original[0], quantity), 1.0, [])
    note = None
    if not kept:
        priced = original_hit.unit_price_cents is not None
        note = _empty_note(request.mode, priced, len(alternatives))
    return SimilarProductsResult(
        original=original_hit,
        mode=request.mode,
        quantity=request.quantity,
        alternatives=kept,
        note=note,
    )


def _per_supplier(alternatives: Sequence[Alternative], cap: int) -> list[Alternative]:
    seen: Counter[str] = Counter()
    kept = []
    for alternative in alternatives:
        supplier = alternative.product.supplier
        key = supplier.id if supplier is not None else alternative.product.product_id
        if seen[key] < cap:
            seen[key] += 1
            kept.append(alternative)
    return kept


# similar suppliers


class SimilarSuppliersInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    supplier_id: str = Field(min_length=1, max_length=64, description="e.g. s-0001")
    limit: int = Field(default=5, ge=1, le=20)
    language: Annotated[Language, SERVICE] = "zh"

    @field_validator("supplier_id")
    @classmethod
    def _as_stored(cls, value: str) -> str:
        return value.strip().lower()


class SimilarSupplier(BaseModel):
    supplier: SupplierCard
    overlap: float  # cosine of the two suppliers' product counts per leaf category
    shared_categories: list[str]  # leaf paths both list, the most stocked first
    same_belt: bool
    score: float  # (0.9 overlap + 0.1 same belt) × trust
    why: list[str]


class SimilarSuppliersResult(BaseModel):
    supplier: SupplierCard
    similar: list[SimilarSupplier]
    note: str | None = None  # no_catalog, no_overlap


def catalog_overlap(left: dict[str, int], right: dict[str, int]) -> float:
    """Cosine similarity of two leaf-category count vectors."""
    dot = sum(count * right.get(leaf, 0) for leaf, count in left.items())
    if not dot:
        return 0.0
    norm = math.sqrt(sum(c * c for c in left.values()) * sum(c * c for c in right.values()))
    return dot / norm


def _similar_supplier(
    target: Supplier,
    counts: dict[str, int],
    other: Supplier,
    other_counts: dict[str, int],
    phrases: dict[str, str],
) -> SimilarSupplier:
    overlap = catalog_overlap(counts, other_counts)
    shared = sorted(
        set(counts) & set(other_counts),
        key=lambda leaf: (-min(counts[leaf], other_counts[leaf]), leaf),
    )
    same_belt = bool(target.industrial_belt) and target.industrial_belt == other.industrial_belt
    why = [phrases["overlap"].format(count=len(shared)), _trust_line(other, phrases)]
    if same_belt:
        why.append(phrases["same_belt"].format(belt=other.industrial_belt))
    return SimilarSupplier(
        supplier=_supplier_card(other),
        overlap=round(overlap, 4),
        shared_categories=shared,
        same_belt=same_belt,
        score=round((0.9 * overlap + 0.1 * same_belt) * _quality(other), 4),
        why=why,
    )


def similar_suppliers(engine: Engine, request: SimilarSuppliersInput) -> SimilarSuppliersResult:
    """Active suppliers whose catalogs overlap the given one's, by overlap × trust."""
    phrases = load_assortment_vocabulary().phrases[request.language]
    with Session(engine) as session:
        repository = AssortmentRepository(session)
        counts = repository.leaf_counts_of(request.supplier_id)
        target = CatalogRepository(session).get_supplier(request.supplier_id)
        everyone = repository.leaf_counts_by_supplier()
        others = {
            supplier.id: supplier
            for supplier in repository.suppliers(sorted(everyone))
            if supplier.id != request.supplier_id
        }
    if not counts:
        return SimilarSuppliersResult(
            supplier=_supplier_card(target), similar=[], note="no_catalog"
        )
    found = [
        _similar_supplier(target, counts, other, everyone[other.id], phrases)
        for other in others.values()
        if catalog_overlap(counts, everyone[other.id]) > 0
    ]
    found.sort(key=lambda s: (-s.score, s.supplier.id))
    return SimilarSuppliersResult(
        supplier=_supplier_card(target),
        similar=found[: request.limit],
        note=None if found else "no_overlap",
    )


# shelf fillers


class ShelfFillersInput(BaseModel):
    """The buyer's assortment: the products they stock, or their id to read it from orders."""

    model_config = ConfigDict(frozen=True)

    product_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=200, description="omit: the buyer's own orders"
    )
    buyer_id: Annotated[str | None, SERVICE] = Field(default=None, min_length=1, max_length=64)
    limit: int = Field(default=10, ge=1, le=20)
    language: Annotated[Language, SERVICE] = "zh"

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.product_ids is None and self.buyer_id is None:
            raise ValueError("give product_ids, or ask with a buyer key for its own orders")
        return self

    @property
    def from_orders(self) -> bool:
        """The assortment is the buyer's orders: product_ids, when given, are it instead."""
        return self.product_ids is None


class ShelfFiller(BaseModel):
    product: SearchHit
    leaf: str
    same_leaf: bool  # True: a leaf the buyer already stocks; False: a sibling leaf
    why: list[str]


class ShelfFillersResult(BaseModel):
    stocked: list[str]  # the assortment the fillers were chosen for
    shelves: list[str]  # parent categories of the stocked leaves
    fillers: list[ShelfFiller]
    note: str | None = None  # no_orders, nothing_new


@dataclass(frozen=True)
class _Filler:
    listing: Listing
    score: float
    same_leaf: bool


def _stocked_ids(session: Session, request: ShelfFillersInput) -> list[str]:
    if request.from_orders and request.buyer_id is not None:
        return AssortmentRepository(session).ordered_product_ids(request.buyer_id)
    return list(dict.fromkeys(request.product_ids or []))


def _centroid(search: ProductSearch, stocked: Sequence[Listing]) -> NDArray[np.float32]:
    vectors = search.embedder.embed_documents([dense_text(*listing) for listing in stocked])
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    centroid: NDArray[np.float32] = (mean / norm if norm else mean).astype(np.float32)
    return centroid


def _filler_why(
    filler: _Filler, leaf_counts: Counter[str], phrases: dict[str, str], known: set[str]
) -> list[str]:
    product, supplier = filler.listing
    leaf = _leaf_name(product.category_path)
    if filler.same_leaf:
        why = [
            phrases["same_leaf_stocked"].format(count=leaf_counts[product.category_path], leaf=leaf)
        ]
    else:
        shelf = _leaf_name(_shelf_of(product.category_path))
        why = [phrases["sibling_leaf"].format(shelf=shelf, leaf=leaf)]
    if supplier is not None:
        why.append(_trust_line(supplier, phrases))
        if supplier.id not in known:
            why.append(phrases["new_supplier"])
    if product.price_cents is not None:
        price = format_cents(product.price_cents)
        why.append(phrases["price"].format(moq=product.moq, unit=product.unit, price=price))
    return why


def shelf_fillers(
    engine: Engine,
    search: ProductSearch,
    request: ShelfFillersInput,
    tuning: AssortmentTuning = AssortmentTuning(),
) -> ShelfFillersResult:
    """Products for the same shelf (the stocked leaves and their siblings) the buyer does not
    stock yet, near the assortment's centroid, spread over suppliers and sub-categories."""
    with Session(engine) as session:
        stocked_ids = _stocked_ids(session, request)
        stocked = _listings(session, stocked_ids)
        missing = sorted(set(stocked_ids) - {product.id for product, _ in stocked})
        if missing:
            raise NotFoundError(f"no products {', '.join(missing)}", product_ids=missing)
        shelves = sorted({_shelf_of(product.category_path) for product, _ in stocked})
        ids = AssortmentRepository(session).listing_ids_under(shelves)
        held = set(stocked_ids)
        candidates = _listings(session, [pid for pid in ids if pid not in held])
    if not stocked:
        return ShelfFillersResult(stocked=[], shelves=[], fillers=[], note="no_orders")
    centroid = _centroid(search, stocked[: tuning.centroid_products])
    similarity = _similarities(search, centroid, [product.id for product, _ in candidates])
    leaf_counts = Counter(product.category_path for product, _ in stocked)
    scored = sorted(
        (
            _score_filler(listing, similarity[listing[0].id], leaf_counts, tuning)
            for listing in candidates
            if listing[0].id in similarity
        ),
        key=lambda f: (-f.score, f.listing[0].id),
    )
    suppliers = {f.listing[0].supplier_id or f.listing[0].id for f in scored}
    chosen = diversify(
        scored,
        group=lambda f: f.listing[0].supplier_id or f.listing[0].id,
        similarity=lambda a, b: float(a.listing[0].category_path == b.listing[0].category_path),
        limit=request.limit,
        per_group=max(1, math.ceil(request.limit / max(len(suppliers), 1))),
        trade_off=0.5,
    )
    phrases = load_assortment_vocabulary().phrases[request.language]
    known = {product.supplier_id for product, _ in stocked if product.supplier_id}
    fillers = [
        ShelfFiller(
            product=_hit(f.listing, f.listing[0].price_cents, f.score, []),
            leaf=f.listing[0].category_path,
            same_leaf=f.same_leaf,
            why=_filler_why(f, leaf_counts, phrases, known),
        )
        for f in chosen
    ]
    return ShelfFillersResult(
        stocked=stocked_ids,
        shelves=shelves,
        fillers=fillers,
        note=None if fillers else "nothing_new",
    )


def _score_filler(
    listing: Listing, similarity: float, leaf_counts: Counter[str], tuning: AssortmentTuning
) -> _Filler:
    product, supplier = listing
    same_leaf = product.category_path in leaf_counts
    score = (
        max(similarity, 0.0)
        * (1.0 if same_leaf else tuning.sibling_factor)
        * (1 - tuning.quality_weight + tuning.quality_weight * _quality(supplier))
        * (1.0 if product.stock else tuning.out_of_stock_factor)
    )
    return _Filler(listing, score, same_leaf)
