"""Hybrid product search: parse constraints, retrieve dense + sparse, fuse, score, diversify."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.kinds import SupplierKind
from sourcing.domain.money import PriceTier, format_cents, unit_price_at
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.tables import Product, Supplier
from sourcing.retrieval.bridge import WIDELY_USED, Cedict, expansions
from sourcing.retrieval.constraints import Constraints, ParsedQuery
from sourcing.retrieval.documents import detail_text
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import AnyOf, Condition, IndexHit, InRange, ProductIndex
from sourcing.retrieval.lexical import SparseVector, has_cjk, query_vector, tokenize, words_vector
from sourcing.retrieval.product_type import ProductType
from sourcing.retrieval.query_parser import QueryVocabulary, parse_query
from sourcing.retrieval.ranking import (
    QUALITY_REFUND_ALARM,
    SupplierSignals,
    business_score,
    diversify,
    jaccard,
    price_fit,
    rrf_fuse,
    spread,
    supplier_quality,
)
from sourcing.retrieval.rerank import Evidence, PoolItem, QueryTerms, Reranker, pool_features

Language = Literal["zh", "en"]
SCORE_DIGITS = 4  # index scores agree to this many decimals between loads of one catalog
TIE_MARGIN = 10  # hits fetched beyond the limit, so ties at the cut are settled by id


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    SPARSE = "sparse"


NAME_CHECK_DEPTH = 5  # titles read to tell a constraint word from part of a product's name
_LATIN_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class SearchTuning:
    """Knobs measured on the eval suite. The floors keep unrelated products out, so that a
    filter which removes every relevant product yields "nothing matches", not noise."""

    candidates: int = 100  # per ranking, before fusion
    rerank_depth: int = 40  # fused candidates scored and diversified (at least 4 × limit)
    dense_floor: float = 0.15  # USE cosine below this is unrelated in any language
    dense_ratio: float = 0.70  # ... and so is anything well below the best match overall
    unknown_words_dense_floor: float = 0.25  # Chinese words the catalog never uses
    sparse_ratio: float = 0.50  # share of the best lexical match a hit must reach
    # Exact words beat USE's looser sense of similarity where both speak (eval suite).
    sparse_weight: float = 1.0
    dense_weight: float = 0.8
    # Latin words in Chinese titles are mostly materials and ports (ABS, USB, Type-C) that
    # cut across categories, so an all-Latin query leans on the dense side, unless the catalog
    # has most of its words (an English catalog: walmart_amazon fusion 0.903 → 0.933).
    latin_sparse_weight: float = 0.5
    latin_known_share: float = 0.5
    latin_words_checked: int = 8  # each is one index lookup
    # The learned order blended with the fusion's: 1.0 was best on the real dev halves, 0.7 is
    # the most the demo suite takes without a regression (docs/retrieval.md).
    rerank_weight: float = 0.7
    bridged_weight: float = 1.0  # the ranking by dictionary synonyms and translations
    # Added to the score of products of the type the query names, so neighbours of another
    # type only fill after them; 0 turns the soft constraint off.
    type_band: float = 1.0
    per_supplier: int = 2
    diversity_trade_off: float = 0.85  # relevance against likeness to what is already shown


class SearchRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    query: str = Field(min_length=1, max_length=500)
    constraints: Constraints = Constraints()
    quantity: int | None = Field(default=None, ge=1, le=10_000_000)
    limit: int = Field(default=10, ge=1, le=50)
    mode: SearchMode = SearchMode.HYBRID
    diversify: bool = True
    language: Language = "zh"


class SupplierCard(BaseModel):
    id: str
    name: str
    kind: SupplierKind
    province: str
    city: str
    industrial_belt: str
    integrity_score: int
    fulfilment_48h_rate: float
    quality_refund_rate: float
    badges: list[str]
    quality: float

    @classmethod
    def of(cls, supplier: Supplier, quality: float) -> SupplierCard:
        shown = {
            "id", "name", "kind", "province", "city", "industrial_belt", "integrity_score",
            "fulfilment_48h_rate", "quality_refund_rate", "badges",
        }  # fmt: skip
        return cls(**supplier.model_dump(include=shown), quality=round(quality, 3))


class SearchHit(BaseModel):
    product_id: str
    title: str
    category_path: str
    image_url: str
    unit: str
    moq: int
    price_cents: int | None
    unit_price_cents: int | None  # at the asked quantity, else at the MOQ
    price_tiers: list[PriceTier]
    lead_time_days: int | None
    stock: int | None
    customisable: bool
    supplier: SupplierCard | None
    score: float
    why: list[str]

    @classmethod
    def of(
        cls,
        product: Product,
        supplier: SupplierCard | None,
        *,
        tiers: list[PriceTier],
        unit_price: int | None,
        score: float,
        why: list[str],
    ) -> SearchHit:
        """A card for `product`: its listing, prices at the asked quantity, score and reasons."""
        return cls(
            product_id=product.id,
            title=product.title,
            category_path=product.category_path,
            image_url=product.image_url,
            unit=product.unit,
            moq=product.moq,
            price_cents=product.price_cents,
            unit_price_cents=unit_price,
            price_tiers=tiers,
            lead_time_days=product.lead_time_days,
            stock=product.stock,
            customisable=product.customisable,
            supplier=supplier,
            score=round(score, 4),
            why=why,
        )


class Relaxation(BaseModel):
    constraint: str
    would_return: int  # relevant products once this constraint is dropped (capped)


class SearchResult(BaseModel):
    query: str
    semantic_text: str
    constraints: Constraints
    quantity: int | None
    hits: list[SearchHit]
    relaxations: list[Relaxation] = []
    timings_ms: dict[str, float] = {}


def conditions_for(constraints: Constraints, quantity: int | None) -> list[Condition]:
    """Index filters for hard constraints. With a quantity, price bounds are checked exactly
    after retrieval (tiers), so the index only pre-filters on the cheapest tier."""
    found: list[Condition] = []
    low, high = constraints.price_min_cents, constraints.price_max_cents
    if low is not None or high is not None:
        key = "price_cents" if quantity is None else "min_price_cents"
        found.append(InRange(key, gte=low, lte=high))
    if quantity is not None:
        found.append(InRange("moq", lte=quantity))
    if constraints.moq_max is not None:
        found.append(InRange("moq", lte=constraints.moq_max))
    if constraints.regions:
        found.append(AnyOf("regions", constraints.regions))
    if constraints.categories:
        found.append(AnyOf("category", constraints.categories))
    if constraints.supplier_kinds:
        found.append(AnyOf("supplier_kind", tuple(str(k) for k in constraints.supplier_kinds)))
    if constraints.customisable is not None:
        flag = int(constraints.customisable)
        found.append(InRange("customisable", gte=flag, lte=flag))
    if constraints.lead_time_max_days is not None:
        found.append(InRange("lead_time_days", lte=constraints.lead_time_max_days))
    if constraints.in_stock:
        found.append(InRange("in_stock", gte=1))
    return found


def _tiers(product: Product) -> list[PriceTier]:
    return [PriceTier.model_validate(tier) for tier in product.price_tiers]


def _within_price(constraints: Constraints, unit_price: int | None) -> bool:
    if constraints.price_min_cents is None and constraints.price_max_cents is None:
        return True
    if unit_price is None:
        return False
    low = constraints.price_min_cents or 0
    high = constraints.price_max_cents if constraints.price_max_cents is not None else unit_price
    return low <= unit_price <= high


def load_reason_phrases() -> dict[str, dict[str, str]]:
    """The phrases hits explain themselves with, per language (reasons.json)."""
    text = resources.files("sourcing.retrieval").joinpath("reasons.json").read_text("utf-8")
    phrases: dict[str, dict[str, str]] = json.loads(text)
    return phrases


def _why(
    product: Product,
    supplier: Supplier | None,
    title_tokens: Sequence[str],
    query_tokens: set[str],
    bridged_words: set[str],
    unit_price: int | None,
    quantity: int | None,
    phrases: dict[str, str],
    neighbour_of: str | None = None,
) -> list[str]:
    """Short factual reasons: not the type asked for (first, where so), matched words (typed,
    or bridged by the dictionary), trust signals, price at the asked quantity."""
    reasons = [phrases["neighbour"].format(kind=neighbour_of)] if neighbour_of else []
    matched = [token for token in title_tokens if token in query_tokens]
    if matched:
        reasons.append(phrases["matches"].format(words=phrases["separator"].join(matched[:5])))
    bridged = [token for token in title_tokens if token in bridged_words - query_tokens]
    if bridged:
        reasons.append(phrases["bridged"].format(words=phrases["separator"].join(bridged[:3])))
    if supplier is not None:
        reasons.append(
            phrases["trust"].format(
                kind=phrases[str(supplier.kind)],
                integrity=supplier.integrity_score,
                fulfilment=supplier.fulfilment_48h_rate,
                refunds=supplier.quality_refund_rate,
            )
        )
        if supplier.quality_refund_rate > QUALITY_REFUND_ALARM:
            reasons.append(phrases["risky_refunds"])
    if unit_price is not None:
        count = quantity or product.moq
        reasons.append(
            phrases["price"].format(count=count, unit=product.unit, price=format_cents(unit_price))
        )
    if not (product.stock or 0):
        reasons.append(phrases["out_of_stock"])
    return reasons


def retrieve(
    index: ProductIndex,
    embedder: Embedder,
    text: str,
    *,
    conditions: Sequence[Condition] = (),
    mode: SearchMode = SearchMode.HYBRID,
    tuning: SearchTuning = SearchTuning(),
    timings: dict[str, float] | None = None,
    bridged: Sequence[str] = (),
    latin_known: bool = False,
) -> Evidence:
    """Products by reciprocal-rank fusion of the dense and sparse rankings (or just one),
    with each ranking's scores for the reranker.

    Under hard constraints each ranking keeps only products whose score is near the best match
    in the whole catalog (the filters left out), so filters never promote unrelated products.
    Without them the ratio floors would only cut recall (Recall@50 on zh_titles_dev 0.66 →
    0.54): an absolute dense floor is all that applies.
    """
    timings = {} if timings is None else timings
    evidence = Evidence(fused={}, bridged_words=tuple(bridged))
    rankings: list[list[str]] = []
    weights: list[float] = []
    lexical_evidence = True
    if mode in (SearchMode.HYBRID, SearchMode.SPARSE) or has_cjk(text):
        started = time.perf_counter()
        sparse, best = _kept(index, query_vector(text), conditions, tuning, tuning.sparse_ratio)
        lexical_evidence = best > 0
        if mode != SearchMode.DENSE:
            evidence.sparse, evidence.sparse_best = sparse, best
            rankings.append(list(sparse))
            leans_dense = not has_cjk(text) and not latin_known
            weights.append(tuning.latin_sparse_weight if leans_dense else tuning.sparse_weight)
        if bridged:
            found, best = _kept(
                index, words_vector(bridged), conditions, tuning, tuning.sparse_ratio
            )
            lexical_evidence = lexical_evidence or best > 0
            if mode != SearchMode.DENSE:
                evidence.bridged, evidence.bridged_best = found, best
                rankings.append(list(found))
                weights.append(tuning.bridged_weight)
        timings["sparse_ms"] = _ms_since(started)
    if mode in (SearchMode.HYBRID, SearchMode.DENSE):
        started = time.perf_counter()
        vector = embedder.embed_query(text)
        timings["embed_ms"] = _ms_since(started)
        started = time.perf_counter()
        floor = tuning.dense_floor
        if has_cjk(text) and not lexical_evidence:
            floor = tuning.unknown_words_dense_floor
        evidence.dense, evidence.dense_best = _kept(
            index, vector, conditions, tuning, tuning.dense_ratio, floor
        )
        rankings.append(list(evidence.dense))
        weights.append(tuning.dense_weight)
        timings["dense_ms"] = _ms_since(started)
    evidence.fused = rrf_fuse(rankings, weights)
    return evidence


def _kept(
    index: ProductIndex,
    vector: NDArray[np.float32] | SparseVector,
    conditions: Sequence[Condition],
    tuning: SearchTuning,
    ratio: float,
    floor: float = 0.0,
) -> tuple[dict[str, float], float]:
    """One ranking's hits by id, best first, and the best score in the whole catalog; under
    filters only hits within `ratio` of that best are kept."""
    hits, best = _search_near_best(index, vector, conditions, tuning.candidates, floor)
    if conditions:
        hits = [hit for hit in hits if hit.score >= ratio * best]
    return {hit.product_id: hit.score for hit in hits}, best


def _search_near_best(
    index: ProductIndex,
    vector: NDArray[np.float32] | SparseVector,
    conditions: Sequence[Condition],
    limit: int,
    floor: float,
) -> tuple[list[IndexHit], float]:
    """Filtered hits above `floor`, and the best score of the query over the whole index."""
    hits = index.search(
        vector, conditions=conditions, limit=limit + TIE_MARGIN, score_threshold=floor or None
    )
    hits = in_canonical_order(hits)[:limit]
    if not conditions:
        return hits, hits[0].score if hits else 0.0
    best = index.search(vector, limit=1)
    return hits, best[0].score if best else 0.0


def in_canonical_order(hits: Sequence[IndexHit]) -> list[IndexHit]:
    """Best first, equal scores by product id: the index returns ties (duplicate titles) in
    storage order and sums IDF in float32, so two loads of one catalog differ in the 7th
    digit; rounding and the id make the ranking a function of the catalog and the query."""
    return sorted(hits, key=lambda hit: (-round(hit.score, SCORE_DIGITS), hit.product_id))


@dataclass(frozen=True)
class _Listing:
    """A retrieved product within the hard constraints, before it is scored."""

    product: Product
    supplier: Supplier | None
    tiers: list[PriceTier]
    unit_price: int | None
    title_tokens: tuple[str, ...]  # unique, in title order


@dataclass(frozen=True)
class _Candidate:
    """What scoring worked out once, for diversity and the hit card to reuse."""

    product: Product
    supplier: Supplier | None
    tiers: list[PriceTier]
    unit_price: int | None
    quality: float | None
    score: float
    title_tokens: tuple[str, ...]  # unique, in title order
    token_set: frozenset[str]
    neighbour_of: str | None = None  # the type the query names, where this is not of it


class ProductSearch:
    """The search pipeline over one index, one embedder and the catalog database."""

    def __init__(
        self,
        *,
        engine: Engine,
        index: ProductIndex,
        embedder: Embedder,
        vocabulary: QueryVocabulary,
        tuning: SearchTuning = SearchTuning(),
        reranker: Reranker | None = None,
        cedict: Cedict | None = None,
    ) -> None:
        self.engine, self.index, self.embedder = engine, index, embedder
        self.vocabulary, self.tuning, self.reranker = vocabulary, tuning, reranker
        self.cedict = cedict
        self.phrases = load_reason_phrases()

    def parse(self, request: SearchRequest) -> ParsedQuery:
        parsed = parse_query(request.query, self.vocabulary)
        names = self._names_among(request.query, parsed.matched)
        if names:
            parsed = parse_query(request.query, self.vocabulary, names=names)
        constraints = parsed.constraints.merged(request.constraints)
        quantity = request.quantity or parsed.quantity
        return parsed.model_copy(update={"constraints": constraints, "quantity": quantity})

    def _names_among(self, text: str, matched: Sequence[str]) -> list[str]:
        """Constraint words that are part of a product's name here: where titles say "card
        factory", "greeting card factory" is software, not a factory-direct filter. Only an
        English word after another is checked, against the titles of the best few matches."""
        names = []
        for phrase in dict.fromkeys(matched):
            if not _LATIN_WORD.fullmatch(phrase):
                continue
            before = re.search(rf"([a-z0-9]+)\s+{re.escape(phrase)}(?![a-z])", text, re.I)
            if before is None:
                continue
            words = f"{before.group(1)} {phrase}".lower()
            hits = self.index.search(query_vector(words), limit=NAME_CHECK_DEPTH)
            with Session(self.engine) as session:
                found = CatalogRepository(session).listings([hit.product_id for hit in hits])
            if any(words in " ".join(product.title.lower().split()) for product, _ in found):
                names.append(phrase)
        return names

    def search(self, request: SearchRequest) -> SearchResult:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        parsed = self.parse(request)
        evidence, listings = self._candidates(parsed, request, timings)
        timings["load_ms"] = _ms_since(started) - sum(timings.values())
        scoring_started = time.perf_counter()
        candidates = self._score(listings, evidence, parsed)
        timings["score_ms"] = _ms_since(scoring_started)
        if request.diversify:
            candidates = diversify(
                candidates,
                relevance=lambda c: c.score,
                trade_off=self.tuning.diversity_trade_off,
                group=lambda c: c.product.supplier_id or c.product.id,
                similarity=lambda a, b: jaccard(a.token_set, b.token_set),
                limit=request.limit,
                per_group=self.tuning.per_supplier,
            )
        query_tokens = set(tokenize(parsed.semantic_text))
        bridged_words = set(evidence.bridged_words)
        hits = [
            self._hit(candidate, query_tokens, bridged_words, parsed.quantity, request.language)
            for candidate in candidates[: request.limit]
        ]
        relaxations = [] if hits else self._relaxations(parsed, request.mode)
        timings["total_ms"] = _ms_since(started)
        return SearchResult(
            query=request.query,
            semantic_text=parsed.semantic_text,
            constraints=parsed.constraints,
            quantity=parsed.quantity,
            hits=hits,
            relaxations=relaxations,
            timings_ms={key: round(value, 2) for key, value in timings.items()},
        )

    def feature_rows(self, request: SearchRequest) -> tuple[list[str], list[list[float]]]:
        """The candidates a search would rerank and their reranker features (for training)."""
        parsed = self.parse(request)
        evidence, listings = self._candidates(parsed, request, {})
        return [item.product.id for item in listings], self._features(listings, evidence, parsed)

    def _candidates(
        self, parsed: ParsedQuery, request: SearchRequest, timings: dict[str, float]
    ) -> tuple[Evidence, list[_Listing]]:
        evidence = self._retrieve(parsed, request.mode, timings)
        depth = max(self.tuning.rerank_depth, 4 * request.limit)
        with Session(self.engine) as session:
            found = CatalogRepository(session).listings(list(evidence.fused)[:depth])
        return evidence, self._within_constraints(found, parsed)

    def _retrieve(
        self, parsed: ParsedQuery, mode: SearchMode, timings: dict[str, float]
    ) -> Evidence:
        conditions = conditions_for(parsed.constraints, parsed.quantity)
        return retrieve(
            self.index,
            self.embedder,
            parsed.semantic_text,
            conditions=conditions,
            mode=mode,
            tuning=self.tuning,
            timings=timings,
            bridged=self._bridged(parsed),
            latin_known=self._latin_known(parsed.semantic_text),
        )

    def _latin_known(self, text: str) -> bool:
        """Whether the catalog has most words of an all-Latin query (an English catalog)."""
        if has_cjk(text):
            return False
        words = list(dict.fromkeys(re.findall(r"[a-z]+", text.lower())))
        words = words[: self.tuning.latin_words_checked]
        if not words:
            return False
        known = sum(self._in_catalog(word) for word in words)
        return known / len(words) >= self.tuning.latin_known_share

    def _bridged(self, parsed: ParsedQuery) -> list[str]:
        if self.cedict is None:
            return []
        return expansions(parsed.semantic_text, self.cedict, self._products_using)

    def _in_catalog(self, word: str) -> bool:
        return self._products_using(word, at_most=1) > 0

    def _products_using(self, word: str, at_most: int = WIDELY_USED) -> int:
        """How many products have the word (up to `at_most`): a Chinese one whole, an English
        one stemmed."""
        vector = words_vector([word]) if has_cjk(word) else query_vector(word)
        return len(self.index.search(vector, limit=at_most)) if vector.indices else 0

    @staticmethod
    def _within_constraints(
        found: Sequence[tuple[Product, Supplier | None]], parsed: ParsedQuery
    ) -> list[_Listing]:
        listings = []
        for product, supplier in found:
            tiers = _tiers(product)
            unit_price = unit_price_at(tiers, parsed.quantity or product.moq) if tiers else None
            if not _within_price(parsed.constraints, unit_price):
                continue  # the exact tier price at the asked quantity breaks the price bound
            title_tokens = tuple(dict.fromkeys(tokenize(product.title)))
            listings.append(_Listing(product, supplier, tiers, unit_price, title_tokens))
        return listings

    def _features(
        self, listings: Sequence[_Listing], evidence: Evidence, parsed: ParsedQuery
    ) -> list[list[float]]:
        pool = [
            PoolItem(
                item.product.id,
                item.product.title,
                item.title_tokens,
                frozenset(tokenize(detail_text(item.product))),
            )
            for item in listings
        ]
        query = QueryTerms.of(parsed.semantic_text, evidence.bridged_words)
        return pool_features(query, evidence, pool)

    def _relevance(
        self, listings: Sequence[_Listing], evidence: Evidence, parsed: ParsedQuery
    ) -> dict[str, float]:
        """0–1 per product: the reranker's order where a model is loaded, else the fusion's."""
        if self.reranker is None or not listings:
            return spread({item.product.id: evidence.fused[item.product.id] for item in listings})
        scores = self.reranker.score(self._features(listings, evidence, parsed))
        learned = spread(
            {item.product.id: float(value) for item, value in zip(listings, scores, strict=True)}
        )
        fused = spread({item.product.id: evidence.fused[item.product.id] for item in listings})
        weight = self.tuning.rerank_weight
        return {pid: weight * learned[pid] + (1 - weight) * fused[pid] for pid in learned}

    def _score(
        self, listings: Sequence[_Listing], evidence: Evidence, parsed: ParsedQuery
    ) -> list[_Candidate]:
        relevance_of = self._relevance(listings, evidence, parsed)
        kind = None
        if self.tuning.type_band:
            kind = ProductType.of(parsed.semantic_text, self._products_using)
        of_kind = {
            item.product.id
            for item in listings
            if kind and kind.covers(item.product.title, item.product.category_path)
        }
        scored = []
        for item in listings:
            product, supplier = item.product, item.supplier
            quality = supplier_quality(SupplierSignals.of(supplier)) if supplier else None
            fit = price_fit(item.unit_price, parsed.constraints.price_max_cents)
            score = business_score(
                relevance_of[product.id],
                0.5 if quality is None else quality,
                fit,
                in_stock=bool(product.stock),
            )
            neighbour = kind.label if kind and of_kind and product.id not in of_kind else None
            if of_kind and not neighbour:
                score += self.tuning.type_band
            scored.append(
                _Candidate(
                    product,
                    supplier,
                    item.tiers,
                    item.unit_price,
                    quality,
                    score,
                    item.title_tokens,
                    frozenset(item.title_tokens),
                    neighbour,
                )
            )
        return sorted(scored, key=lambda c: (-c.score, c.product.id))

    def _hit(
        self,
        candidate: _Candidate,
        query_tokens: set[str],
        bridged_words: set[str],
        quantity: int | None,
        language: Language,
    ) -> SearchHit:
        product, supplier = candidate.product, candidate.supplier
        card = SupplierCard.of(supplier, candidate.quality or 0.0) if supplier else None
        return SearchHit.of(
            product,
            card,
            tiers=candidate.tiers,
            unit_price=candidate.unit_price,
            score=candidate.score,
            why=_why(
                product,
                supplier,
                candidate.title_tokens,
                query_tokens,
                bridged_words,
                candidate.unit_price,
                quantity,
                self.phrases[language],
                candidate.neighbour_of,
            ),
        )

    def _relaxations(self, parsed: ParsedQuery, mode: SearchMode) -> list[Relaxation]:
        """For each hard constraint: how many relevant products dropping it alone would give."""
        found = []
        names = parsed.constraints.active() + (["quantity"] if parsed.quantity else [])
        for name in names:
            relaxed = (
                parsed.model_copy(update={"quantity": None})
                if name == "quantity"
                else parsed.model_copy(update={"constraints": parsed.constraints.without(name)})
            )
            evidence = self._retrieve(relaxed, mode, {})
            with Session(self.engine) as session:
                listings = CatalogRepository(session).listings(list(evidence.fused))
            count = len(self._within_constraints(listings, relaxed))
            if count:
                found.append(Relaxation(constraint=name, would_return=count))
        return sorted(found, key=lambda r: -r.would_return)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
