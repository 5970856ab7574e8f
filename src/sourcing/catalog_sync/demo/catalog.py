"""Demo suppliers and product offers: who sells what, from which belt, at what price."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import product
from random import Random
from typing import Any, TypeVar

from sourcing.catalog_sync.demo.vocabulary import (
    BeltSpec,
    Leaf,
    SupplierProfileSpec,
    Vocabulary,
)
from sourcing.domain.kinds import ProductStatus, SupplierKind, SupplierStatus

T = TypeVar("T")

SUPPLIER_COLUMNS = (
    "id",
    "name",
    "kind",
    "province",
    "city",
    "industrial_belt",
    "integrity_score",
    "fulfilment_48h_rate",
    "quality_refund_rate",
    "response_rate",
    "years_on_platform",
    "badges",
    "customisable",
    "status",
)
MAX_SKUS = 6
DELISTED_SHARE = 0.01
TRUSTED_INTEGRITY = 88  # 专精特新 and 实力商家 go only to suppliers at least this trusted
CUSTOMISABLE_SHARE = {
    SupplierKind.FACTORY: 0.7,
    SupplierKind.BRAND_OEM: 0.95,
    SupplierKind.TRADER: 0.15,
}
KIND_PRICE_FACTOR = {
    SupplierKind.FACTORY: 0.92,
    SupplierKind.BRAND_OEM: 1.08,
    SupplierKind.TRADER: 1.05,
}


@dataclass(frozen=True, slots=True)
class Supplier:
    id: str
    name: str
    kind: SupplierKind
    province: str
    city: str
    belt: BeltSpec
    main_category: str
    profile: SupplierProfileSpec
    integrity_score: int
    fulfilment_48h_rate: float
    quality_refund_rate: float
    response_rate: float
    years_on_platform: int
    badges: tuple[str, ...]
    customisable: bool

    def csv_row(self) -> list[str | int | float]:
        return [
            self.id,
            self.name,
            self.kind.value,
            self.province,
            self.city,
            self.belt.name,
            self.integrity_score,
            self.fulfilment_48h_rate,
            self.quality_refund_rate,
            self.response_rate,
            self.years_on_platform,
            ";".join(self.badges),
            "true" if self.customisable else "false",
            SupplierStatus.ACTIVE.value,
        ]


@dataclass(frozen=True, slots=True)
class Offer:
    """What buyers and orders need to know about a generated product."""

    id: str
    supplier_id: str
    category: str
    moq: int
    tiers: tuple[tuple[int, int], ...]  # (min_quantity, unit price in cents), ascending
    sku_ids: tuple[str, ...]
    active: bool

    @property
    def price_cents(self) -> int:
        return self.tiers[0][1]

    def unit_price_at(self, quantity: int) -> int:
        starts = [start for start, _ in self.tiers]
        return self.tiers[max(0, bisect_right(starts, quantity) - 1)][1]


def yuan(cents: int) -> str:
    """1250 -> "12.50": the feed's money format, never more than two decimals."""
    return f"{cents // 100}.{cents % 100:02d}"


def _between(rng: Random, bounds: tuple[float, float], digits: int = 4) -> float:
    return round(rng.uniform(*bounds), digits)


def _deck(rng: Random, mix: Sequence[tuple[T, float, int]], count: int) -> list[T]:
    """`count` items dealt in the given shares, each at least its minimum, in random order.

    Dealing a fixed mix rather than drawing keeps small demos from missing a kind entirely;
    rounding is settled on the most common item.
    """
    counts = [max(minimum, round(share * count)) for _, share, minimum in mix]
    largest = max(range(len(mix)), key=lambda i: mix[i][1])
    counts[largest] = max(0, counts[largest] + count - sum(counts))
    deck = [item for (item, _, _), n in zip(mix, counts, strict=True) for _ in range(n)]
    rng.shuffle(deck)
    return deck[:count]


def _weighted(rng: Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(items, weights=weights, k=1)[0]


def _company_name(
    rng: Random, vocab: Vocabulary, city: str, belt: BeltSpec, kind: SupplierKind, taken: set[str]
) -> str:
    words = vocab.market.supplier_name_words
    trade = rng.choice(belt.trade_words)
    suffix = rng.choice(vocab.market.supplier_suffixes[kind])
    name = f"{city}市{rng.choice(words)}{trade}{suffix}"
    while name in taken:  # a second word keeps thousands of suppliers distinct
        name = f"{city}市{rng.choice(words)}{rng.choice(words)}{trade}{suffix}"
    taken.add(name)
    return name


def _badges(rng: Random, vocab: Vocabulary, kind: SupplierKind, integrity: int) -> tuple[str, ...]:
    names = vocab.market.badges
    good = integrity >= TRUSTED_INTEGRITY
    badges: list[str] = []
    if kind is not SupplierKind.TRADER and good and rng.random() < 0.35:
        badges.append(names.specialist)
    if kind is SupplierKind.BRAND_OEM:
        badges.append(names.brand_oem)
    if kind is not SupplierKind.TRADER and rng.random() < 0.6:
        badges.append(names.first_hand)
    if good and rng.random() < 0.5:
        badges.append(names.strong_merchant)
    return tuple(badges)


def plan_suppliers(vocab: Vocabulary, rng: Random, count: int) -> list[Supplier]:
    """Suppliers spread over belts; the first few cover every category so each has supply."""
    market = vocab.market
    belts = market.belts
    kinds = _deck(rng, [(k, w, 1) for k, w in market.supplier_kind_weights.items()], count)
    profiles = _deck(rng, [(p, p.share, p.minimum) for p in market.supplier_profiles], count)
    categories = vocab.top_categories
    taken: set[str] = set()
    suppliers: list[Supplier] = []
    for index, (kind, profile) in enumerate(zip(kinds, profiles, strict=True)):
        if index < len(categories):
            main = categories[index]
            belt = rng.choice([b for b in belts if main in b.categories])
        else:
            belt = _weighted(rng, belts, [b.weight for b in belts])
            main = rng.choice(belt.categories)
        city = rng.choice(belt.cities)
        integrity = rng.randint(*profile.integrity)
        suppliers.append(
            Supplier(
                id=f"s-{index + 1:04d}",
                name=_company_name(rng, vocab, city, belt, kind, taken),
                kind=kind,
                province=belt.province,
                city=city,
                belt=belt,
                main_category=main,
                profile=profile,
                integrity_score=integrity,
                fulfilment_48h_rate=_between(rng, profile.fulfilment_48h),
                quality_refund_rate=_between(rng, profile.quality_refund),
                response_rate=_between(rng, profile.response),
                years_on_platform=rng.randint(1, 16),
                badges=_badges(rng, vocab, kind, integrity),
                customisable=rng.random() < CUSTOMISABLE_SHARE[kind],
            )
        )
    return suppliers


def _round_price(cents: float) -> int:
    step = 1 if cents < 100 else 10 if cents < 10_000 else 100
    return max(step, round(cents / step) * step)


def _cheaper(cents: int, rng: Random) -> int:
    """The next tier's price: a few percent lower, on the same price grid, never higher."""
    step = 1 if cents <= 100 else 10 if cents <= 10_000 else 100
    lower = math.floor(cents * rng.uniform(0.88, 0.97) / step) * step
    return min(lower, cents - step)


def _price_tiers(
    rng: Random, vocab: Vocabulary, leaf: Leaf, moq: int, kind: SupplierKind
) -> list[tuple[int, int]]:
    low, high = leaf.price_cents
    base = math.exp(rng.uniform(math.log(low), math.log(high))) * KIND_PRICE_FACTOR[kind]
    price = _round_price(min(max(base, low), high))
    tiers = [(moq, price)]
    for multiplier in rng.choice(vocab.listing.tier_ladders)[1:]:
        price = _cheaper(price, rng)
        if price <= 0:
            break
        tiers.append((moq * multiplier, price))
    return tiers


def _pick_in_order(rng: Random, values: Sequence[str], count: int) -> list[str]:
    return [values[i] for i in sorted(rng.sample(range(len(values)), count))]


def _sku_specs(rng: Random, leaf: Leaf) -> list[dict[str, str]]:
    """1-6 SKUs from at most two axes (e.g. 颜色 × 尺码)."""
    (first_axis, first_values), *rest = leaf.sku_axes
    if not rest:
        chosen = _pick_in_order(rng, first_values, rng.randint(1, min(MAX_SKUS, len(first_values))))
        return [{first_axis: value} for value in chosen]
    second_axis, second_values = rest[0]
    first_count = rng.randint(1, min(3, len(first_values)))
    second_count = rng.randint(1, min(MAX_SKUS // first_count, len(second_values)))
    return [
        {first_axis: a, second_axis: b}
        for a, b in product(
            _pick_in_order(rng, first_values, first_count),
            _pick_in_order(rng, second_values, second_count),
        )
    ]


@dataclass(frozen=True, slots=True)
class _Draft:
    """The choices one product is built from, shared by its title, description and row."""

    leaf: Leaf
    supplier: Supplier
    noun: str
    style: str
    material: str
    scene: str
    points: tuple[str, ...]
    dupe: str
    customisable: bool
    moq: int
    lead_days: int


def _season_word(rng: Random, vocab: Vocabulary, today: date) -> str:
    spring_summer, autumn_winter = vocab.listing.seasons
    season = spring_summer if today.month <= 6 else autumn_winter
    return rng.choice(vocab.listing.new_season).format(year=today.year, season=season)


def _overlaps(first: str, second: str) -> bool:
    """True when the two share a two-character word, as in 食品级硅胶 and 硅胶铲勺."""
    return any(first[i : i + 2] in second for i in range(len(first) - 1))


def _title(rng: Random, vocab: Vocabulary, draft: _Draft, today: date) -> str:
    listing = vocab.listing
    parts: list[str] = []
    if rng.random() < 0.55:
        if draft.supplier.kind is SupplierKind.TRADER:
            parts.append(rng.choice(listing.trader_prefixes))
        elif rng.random() < 0.6:
            parts.append(rng.choice(draft.supplier.belt.title_prefixes))
        else:
            parts.append(rng.choice(listing.generic_prefixes))
    head = _season_word(rng, vocab, today) if rng.random() < 0.6 else ""
    head += draft.style if rng.random() < 0.6 else ""
    if draft.material and not _overlaps(draft.material, draft.noun) and rng.random() < 0.6:
        head += draft.material
    parts.append(head + draft.noun)
    if draft.dupe:
        parts.append(f"{rng.choice(listing.dupe_prefixes)} {draft.dupe}")
    selling = "".join(draft.points)
    if draft.scene and draft.scene not in selling and rng.random() < 0.5:
        selling += draft.scene
    if len(draft.leaf.nouns) > 1 and rng.random() < 0.3:
        selling += rng.choice([n for n in draft.leaf.nouns if n != draft.noun])
    parts.append(selling)
    if draft.customisable:
        parts.append(rng.choice(listing.custom_tails))
    elif rng.random() < 0.6:
        parts.append(rng.choice(listing.tails))
    return " ".join(parts)


def _description(rng: Random, vocab: Vocabulary, draft: _Draft) -> str:
    texts = vocab.listing.descriptions
    fields = {
        "noun": draft.noun,
        "points": "、".join(draft.points),
        "style": draft.style,
        "scene": draft.scene or "日常",
        "material": draft.material,
        "moq": draft.moq,
        "unit": draft.leaf.unit,
        "lead": draft.lead_days,
    }
    templates = [rng.choice(texts.intro)]
    if draft.material:
        templates.append(rng.choice(texts.material))
    templates.append(rng.choice(texts.supply))
    if draft.customisable:
        templates.append(rng.choice(texts.custom))
    if draft.dupe:
        templates.append(rng.choice(texts.dupe))
    templates.append(rng.choice(texts.service))
    return "".join(template.format(**fields) for template in templates)


def _draft(rng: Random, leaf: Leaf, supplier: Supplier, attributes: dict[str, str]) -> _Draft:
    customisable = supplier.customisable and rng.random() < 0.6
    lead_days = rng.randint(*leaf.lead_days)
    if customisable:  # custom work adds proofing and a production run before dispatch
        lead_days = min(30, lead_days + rng.randint(7, 20))
    points = rng.sample(leaf.selling_points, min(len(leaf.selling_points), rng.randint(1, 2)))
    return _Draft(
        leaf=leaf,
        supplier=supplier,
        noun=rng.choice(leaf.nouns),
        style=rng.choice(leaf.styles),
        material=attributes.get("材质", ""),
        scene=attributes.get("适用场景", ""),
        points=tuple(points),
        dupe=rng.choice(leaf.dupes) if leaf.dupes and rng.random() < 0.25 else "",
        customisable=customisable,
        moq=rng.choice(leaf.moq),
        lead_days=lead_days,
    )


def _sku_stock(rng: Random, supplier: Supplier, moq: int) -> int:
    if supplier.profile.all_stock_out or rng.random() < 0.07:
        return 0
    return moq * rng.randint(3, 300)


def build_product(
    rng: Random, vocab: Vocabulary, index: int, leaf: Leaf, supplier: Supplier, today: date
) -> tuple[dict[str, Any], Offer]:
    """One products.jsonl row and the summary that buyers and orders are drawn from."""
    product_id = f"p-{index + 1:06d}"
    attributes = {key: rng.choice(values) for key, values in leaf.attributes}
    draft = _draft(rng, leaf, supplier, attributes)
    tiers = _price_tiers(rng, vocab, leaf, draft.moq, supplier.kind)
    specs = _sku_specs(rng, leaf)
    sku_ids = tuple(f"{product_id}-{number:02d}" for number in range(1, len(specs) + 1))
    stocks = [_sku_stock(rng, supplier, draft.moq) for _ in specs]
    skus = [
        {"id": sku_id, "spec": spec, "price": yuan(tiers[0][1]), "stock": sku_stock}
        for sku_id, spec, sku_stock in zip(sku_ids, specs, stocks, strict=True)
    ]
    stock = sum(stocks)
    attributes |= {
        "风格": draft.style,
        "产地": f"{supplier.province}{supplier.city}",
        "货源类别": "现货" if stock else "订货",
        "是否支持定制": "是" if draft.customisable else "否",
    }
    profile = supplier.profile
    delisted = rng.random() < DELISTED_SHARE
    row = {
        "id": product_id,
        "title": _title(rng, vocab, draft, today),
        "supplier_id": supplier.id,
        "category": leaf.path,
        "attributes": attributes,
        "description": _description(rng, vocab, draft),
        "image_url": vocab.listing.image_url.format(id=product_id),
        "unit": leaf.unit,
        "moq": draft.moq,
        "price": yuan(tiers[0][1]),
        "price_tiers": [{"min_quantity": q, "price": yuan(c)} for q, c in tiers],
        "lead_time_days": draft.lead_days,
        "stock": stock,
        "sales_30d": int(draft.moq * rng.lognormvariate(2.0, 1.0) * profile.sales_factor),
        "repurchase_rate": round(
            min(0.8, max(0.01, rng.gauss(0.25, 0.08) + profile.repurchase_shift)), 2
        ),
        "customisable": draft.customisable,
        "status": (ProductStatus.DELISTED if delisted else ProductStatus.ACTIVE).value,
        "skus": skus,
    }
    offer = Offer(
        id=product_id,
        supplier_id=supplier.id,
        category=leaf.top,
        moq=draft.moq,
        tiers=tuple(tiers),
        sku_ids=sku_ids,
        active=not delisted,
    )
    return row, offer


def generate_products(
    rng: Random, vocab: Vocabulary, suppliers: Sequence[Supplier], count: int, today: date
) -> Iterator[tuple[dict[str, Any], Offer]]:
    """Products in id order; each supplier gets one first, then a category is drawn evenly
    and one of the suppliers whose belt serves it (bigger ones more often) lists it, so every
    category is well stocked whatever the supplier mix."""
    leaves_by_top: dict[str, list[Leaf]] = {}
    for leaf in vocab.leaves:
        leaves_by_top.setdefault(leaf.top, []).append(leaf)
    sizes = [rng.lognormvariate(0.0, 0.8) for _ in suppliers]
    serving = {
        top: [i for i, supplier in enumerate(suppliers) if top in supplier.belt.categories]
        for top in sorted(leaves_by_top)
    }
    served = [top for top, indexes in serving.items() if indexes]
    for index in range(count):
        if index < len(suppliers):
            supplier = suppliers[index]
            category = supplier.main_category
        else:
            category = rng.choice(served)
            candidates = serving[category]
            chosen = rng.choices(candidates, weights=[sizes[i] for i in candidates], k=1)[0]
            supplier = suppliers[chosen]
        leaf = rng.choice(leaves_by_top[category])
        yield build_product(rng, vocab, index, leaf, supplier, today)
