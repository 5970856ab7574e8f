"""Co-purchase association rules (support, confidence, lift) at product and leaf-category level."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sourcing.domain.tables import CoPurchaseItem, CoPurchasePair

Level = Literal["product", "category"]
PRODUCT: Level = "product"
CATEGORY: Level = "category"
BASKETS_KEY = ""  # the CoPurchaseItem row whose count is the number of baskets of its level
THIN_BASKETS = 3  # inputs seen in fewer baskets than this say little about what goes with them


class Association(BaseModel):
    """The strongest rule input → `item`; `score` sums confidence × lift over every input."""

    model_config = ConfigDict(frozen=True)

    item: str
    count: int  # baskets holding the input and the item
    support: float  # count / all baskets
    confidence: float  # count / baskets holding the input
    lift: float  # confidence / share of baskets holding the item; > 1 means bought together
    score: float
    because: list[str]  # inputs it is bought with, strongest first


class Complement(Association):
    """A product usually bought with the inputs; `level` says which statistics found it."""

    level: Level = PRODUCT


class CategoryComplement(Association):
    """A leaf category usually bought with the input categories."""


@dataclass
class _Stats:
    """Basket counts of one level: per item, per pair (both directions), and in all."""

    baskets: int = 0
    items: Counter[str] = field(default_factory=Counter)
    pairs: dict[str, Counter[str]] = field(default_factory=dict)

    def add_basket(self, basket: Collection[str]) -> None:
        self.baskets += 1
        self.items.update(basket)
        for a, b in combinations(sorted(basket), 2):
            self.pairs.setdefault(a, Counter())[b] += 1
            self.pairs.setdefault(b, Counter())[a] += 1

    def prune(self, min_pair_count: int) -> None:
        for a in list(self.pairs):
            kept = Counter({b: n for b, n in self.pairs[a].items() if n >= min_pair_count})
            if kept:
                self.pairs[a] = kept
            else:
                del self.pairs[a]

    def rule(self, a: str, b: str) -> tuple[int, float, float, float]:
        """count, support, confidence and lift of a → b."""
        count = self.pairs[a][b]
        confidence = count / self.items[a]
        lift = confidence * self.baskets / self.items[b]
        return count, count / self.baskets, confidence, lift

    def associations(self, inputs: Sequence[str], exclude: Collection[str]) -> list[Association]:
        strongest: dict[str, tuple[float, str]] = {}
        score: dict[str, float] = {}
        because: dict[str, list[tuple[float, str]]] = {}
        for a in dict.fromkeys(inputs):
            for b in self.pairs.get(a, ()):
                if b in exclude:
                    continue
                _, _, confidence, lift = self.rule(a, b)
                strength = confidence * lift
                score[b] = score.get(b, 0.0) + strength
                because.setdefault(b, []).append((strength, a))
                if b not in strongest or strength > strongest[b][0]:
                    strongest[b] = (strength, a)
        ranked = sorted(score, key=lambda b: (-score[b], b))
        return [self._association(b, strongest[b][1], score[b], because[b]) for b in ranked]

    def _association(
        self, b: str, a: str, score: float, because: list[tuple[float, str]]
    ) -> Association:
        count, support, confidence, lift = self.rule(a, b)
        return Association(
            item=b,
            count=count,
            support=round(support, 6),
            confidence=round(confidence, 6),
            lift=round(lift, 6),
            score=round(score, 6),
            because=[item for _, item in sorted(because, key=lambda s: (-s[0], s[1]))],
        )


class CoPurchase:
    """What is bought together, learned from baskets; pure, built by a job, read at start-up."""

    def __init__(
        self,
        products: _Stats,
        categories: _Stats,
        category_of: Mapping[str, str],
        min_pair_count: int,
    ) -> None:
        self._products = products
        self._categories = categories
        self._category_of = dict(category_of)
        self.min_pair_count = min_pair_count
        by_category: dict[str, list[str]] = {}
        for item in sorted(products.items, key=lambda i: (-products.items[i], i)):
            if item in self._category_of:
                by_category.setdefault(self._category_of[item], []).append(item)
        self._by_category = by_category

    @classmethod
    def empty(cls) -> CoPurchase:
        """No statistics yet: every input is thin and the callers fall back."""
        return cls.build([], {})

    @classmethod
    def build(
        cls,
        baskets: Iterable[Sequence[str]],
        category_of: Mapping[str, str],
        *,
        min_pair_count: int = 2,
    ) -> CoPurchase:
        """Count every basket (duplicates inside one count once); drop rarer pairs."""
        if min_pair_count < 1:
            raise ValueError("min_pair_count must be at least 1")
        products, categories = _Stats(), _Stats()
        for basket in baskets:
            items = set(basket)
            if not items:
                continue
            products.add_basket(items)
            leaves = {category_of[i] for i in items if category_of.get(i)}
            if leaves:
                categories.add_basket(leaves)
        products.prune(min_pair_count)
        categories.prune(min_pair_count)
        return cls(products, categories, category_of, min_pair_count)

    @property
    def basket_count(self) -> int:
        return self._products.baskets

    def item_count(self, item: str) -> int:
        """Baskets holding this product."""
        return self._products.items[item]

    def category_of(self, item: str) -> str | None:
        return self._category_of.get(item)

    def complements(
        self, items: Sequence[str], *, limit: int = 10, exclude: Collection[str] = ()
    ) -> list[Complement]:
        """Products bought with `items` (never the inputs), best score first."""
        found = self._products.associations(items, {*items, *exclude})
        return [Complement(**a.model_dump()) for a in found[:limit]]

    def category_complements(
        self, categories: Sequence[str], *, limit: int = 10
    ) -> list[CategoryComplement]:
        """Leaf categories bought with `categories` (never the inputs), best score first."""
        found = self._categories.associations(categories, set(categories))
        return [CategoryComplement(**a.model_dump()) for a in found[:limit]]

    def recommend(
        self, items: Sequence[str], *, limit: int = 10, exclude: Collection[str] = ()
    ) -> list[Complement]:
        """Product complements, topped up by category back-off: the most-bought products of
        the leaf categories bought with the inputs' categories (level "category")."""
        found = self.complements(items, limit=limit, exclude=exclude)
        taken = {*items, *exclude, *(c.item for c in found)}
        leaves = [leaf for i in items if (leaf := self._category_of.get(i))]
        for rule in self.category_complements(list(dict.fromkeys(leaves)), limit=limit):
            for product in self._by_category.get(rule.item, []):
                if len(found) >= limit:
                    return found
                if product not in taken:
                    taken.add(product)
                    found.append(
                        Complement(**rule.model_dump() | {"item": product}, level=CATEGORY)
                    )
        return found

    def popular(self, limit: int = 10, *, exclude: Collection[str] = ()) -> list[str]:
        """The products in most baskets, ties by id."""
        ranked = sorted(self._products.items, key=lambda i: (-self._products.items[i], i))
        return [item for item in ranked if item not in exclude][:limit]

    def is_thin(self, items: Sequence[str]) -> bool:
        """True when the inputs sit in too few baskets, or none of them has a complement."""
        seen = max((self._products.items[i] for i in items), default=0)
        linked = any(i in self._products.pairs for i in items)
        return seen < THIN_BASKETS or not linked

    def to_rows(self) -> tuple[list[CoPurchasePair], list[CoPurchaseItem]]:
        """Both directions of every kept pair, and each item's basket count."""
        pairs: list[CoPurchasePair] = []
        items: list[CoPurchaseItem] = []
        for level, stats in ((PRODUCT, self._products), (CATEGORY, self._categories)):
            items.append(CoPurchaseItem(level=level, item=BASKETS_KEY, count=stats.baskets))
            items += [
                CoPurchaseItem(level=level, item=i, count=n) for i, n in sorted(stats.items.items())
            ]
            for a in sorted(stats.pairs):
                for b in sorted(stats.pairs[a]):
                    count, support, confidence, lift = stats.rule(a, b)
                    pairs.append(
                        CoPurchasePair(
                            level=level,
                            item_a=a,
                            item_b=b,
                            count=count,
                            support=support,
                            confidence=confidence,
                            lift=lift,
                        )
                    )
        return pairs, items

    @classmethod
    def from_rows(
        cls,
        pairs: Iterable[CoPurchasePair],
        items: Iterable[CoPurchaseItem],
        category_of: Mapping[str, str],
        *,
        min_pair_count: int = 2,
    ) -> CoPurchase:
        """Stored statistics back in memory; support, confidence and lift follow from counts."""
        stats = {PRODUCT: _Stats(), CATEGORY: _Stats()}
        for row in items:
            level = stats[_level(row.level)]
            if row.item == BASKETS_KEY:
                level.baskets = row.count
            else:
                level.items[row.item] = row.count
        for pair in pairs:
            stats[_level(pair.level)].pairs.setdefault(pair.item_a, Counter())[pair.item_b] = (
                pair.count
            )
        return cls(stats[PRODUCT], stats[CATEGORY], category_of, min_pair_count)


def _level(value: str) -> Level:
    if value == PRODUCT:
        return PRODUCT
    if value == CATEGORY:
        return CATEGORY
    raise ValueError(f"unknown co-purchase level {value!r}")
