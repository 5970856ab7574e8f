"""Demo buyers and a year of their orders: seasonal demand, repeat purchases, scene restocks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.resources import files
from random import Random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sourcing.catalog_sync.demo.catalog import Offer, yuan
from sourcing.catalog_sync.demo.signals import FestivalDay
from sourcing.catalog_sync.demo.vocabulary import ChannelSpec, SignalsSpec, Vocabulary

HISTORY_DAYS = 365
OFFER_TRIES = 12
INTERVAL_NOISE = (0.85, 1.15)
LATE_STARTER_SHARE = 0.15  # series that begin mid-year: a product the buyer took on later
UTC_OFFSET = "+08:00"


@dataclass(frozen=True, slots=True)
class Series:
    """A buyer re-buying the same SKUs of one offer every `interval` days or so."""

    offer: Offer
    sku_ids: tuple[str, ...]
    interval: float
    base_quantity: int
    start: float


@dataclass(frozen=True, slots=True)
class Buyer:
    id: str
    name: str
    channel: ChannelSpec
    region: str
    preferred_categories: tuple[str, ...]
    price_band: tuple[int, int]  # cents
    series: tuple[Series, ...]
    follows: tuple[str, ...]
    watches: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "channel": self.channel.name.value,
            "region": self.region,
            "preferred_categories": list(self.preferred_categories),
            "price_min": yuan(self.price_band[0]),
            "price_max": yuan(self.price_band[1]),
            "follows": list(self.follows),
            "watches": list(self.watches),
        }


@dataclass(frozen=True, slots=True)
class Order:
    day: int  # days after the history's first day
    second_of_day: int
    buyer_id: str
    offer: Offer
    lines: tuple[tuple[str, int], ...]  # (sku id, quantity)

    def row(self, order_id: str, first_day: date) -> dict[str, Any]:
        hours, rest = divmod(self.second_of_day, 3600)
        minutes, seconds = divmod(rest, 60)
        day = first_day + timedelta(days=self.day)
        return {
            "id": order_id,
            "buyer_id": self.buyer_id,
            "supplier_id": self.offer.supplier_id,
            "ordered_at": f"{day.isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}{UTC_OFFSET}",
            "lines": [
                {
                    "product_id": self.offer.id,
                    "sku_id": sku_id,
                    "quantity": quantity,
                    "unit_price": yuan(self.offer.unit_price_at(quantity)),
                }
                for sku_id, quantity in self.lines
            ],
        }


def demand_curves(
    signals: SignalsSpec, categories: Sequence[str], festivals: Sequence[FestivalDay], first: date
) -> dict[str, tuple[float, ...]]:
    """Per category, a daily demand multiplier: month of year times festival effects."""
    festival_factor = [1.0] * HISTORY_DAYS
    for effect in signals.order_effects:
        for festival in (f for f in festivals if f.name == effect.festival):
            for shift in range(effect.from_days, effect.to_days + 1):
                offset = (festival.day - first).days + shift
                if 0 <= offset < HISTORY_DAYS:
                    festival_factor[offset] *= effect.factor
    days = [first + timedelta(days=offset) for offset in range(HISTORY_DAYS)]
    return {
        category: tuple(
            signals.months_for(category)[day.month - 1] * festival_factor[offset]
            for offset, day in enumerate(days)
        )
        for category in categories
    }


def _pick_offer(
    rng: Random, candidates: Sequence[Offer], band: tuple[int, int], exclude: Sequence[Offer]
) -> Offer:
    """A random offer, preferring one inside the buyer's price band not already chosen."""
    offer = rng.choice(candidates)
    for _ in range(OFFER_TRIES):
        if band[0] <= offer.price_cents <= band[1] and offer not in exclude:
            break
        offer = rng.choice(candidates)
    return offer


def _unique_name(
    rng: Random, vocab: Vocabulary, channel: ChannelSpec, city: str, taken: set[str]
) -> str:
    words = vocab.market.buyer_name_words
    pattern = rng.choice(channel.name_patterns)
    name = pattern.format(word=rng.choice(words), city=city)
    while name in taken:  # two words, then a number, keep two thousand shops apart
        name = pattern.format(word=rng.choice(words) + rng.choice(words), city=city)
        if name in taken:
            name = f"{name}{len(taken)}"
    taken.add(name)
    return name


def _preferred(rng: Random, channel: ChannelSpec, available: Sequence[str]) -> tuple[str, ...]:
    pool = [c for c in channel.affinity if c in available] or list(available)
    chosen = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
    if rng.random() < 0.2:  # some shops also carry a category outside their channel's habits
        chosen.append(rng.choice([c for c in available if c not in chosen] or available))
    return tuple(chosen)


def _series(
    rng: Random,
    channel: ChannelSpec,
    offers: Sequence[Offer],
    band: tuple[int, int],
    taken: list[Offer],
) -> Series:
    offer = _pick_offer(rng, offers, band, taken)
    interval = rng.uniform(*channel.interval_days)
    skus = rng.sample(offer.sku_ids, min(len(offer.sku_ids), rng.randint(1, 3)))
    late = rng.random() < LATE_STARTER_SHARE
    return Series(
        offer=offer,
        sku_ids=tuple(sorted(skus)),
        interval=interval,
        base_quantity=offer.moq * rng.randint(*channel.quantity_multiplier),
        start=rng.uniform(0.0, HISTORY_DAYS * 0.66 if late else interval),
    )


def plan_buyers(
    rng: Random, vocab: Vocabulary, count: int, offers_by_category: Mapping[str, Sequence[Offer]]
) -> list[Buyer]:
    """Buyers of every channel, each with repeat-purchase series, follows and watches."""
    channels = vocab.market.channels
    available = [c for c in vocab.top_categories if offers_by_category.get(c)]
    taken_names: set[str] = set()
    buyers: list[Buyer] = []
    for index in range(count):
        channel = (
            channels[index]
            if index < len(channels)
            else rng.choices(channels, weights=[c.weight for c in channels], k=1)[0]
        )
        region = rng.choice(vocab.market.regions)
        city = rng.choice(region.cities)
        preferred = _preferred(rng, channel, available)
        low, high = rng.choice(channel.price_bands)
        band = (low * 100, high * 100)
        series: list[Series] = []
        for _ in range(rng.randint(*channel.series)):
            category_offers = offers_by_category[rng.choice(preferred)]
            series.append(_series(rng, channel, category_offers, band, [s.offer for s in series]))
        browsed = [
            rng.choice(offers_by_category[rng.choice(preferred)]) for _ in range(rng.randint(1, 4))
        ]
        follows = [s.offer.supplier_id for s in series] + [o.supplier_id for o in browsed[:2]]
        watches = [s.offer.id for s in series[:2]] + [o.id for o in browsed]
        buyers.append(
            Buyer(
                id=f"b-{index + 1:04d}",
                name=_unique_name(rng, vocab, channel, city, taken_names),
                channel=channel,
                region=city if city == region.province else f"{region.province}{city}",
                preferred_categories=preferred,
                price_band=band,
                series=tuple(series),
                follows=tuple(dict.fromkeys(follows)),
                watches=tuple(dict.fromkeys(watches)),
            )
        )
    return buyers


def _quantity(rng: Random, base: float, moq: int) -> int:
    if base >= 100:
        rounded = round(base / 10) * 10
    elif base >= 20:
        rounded = round(base / 5) * 5
    else:
        rounded = round(base)
    return max(moq, rounded)


def _time_of_day(rng: Random) -> int:
    return rng.randint(8, 22) * 3600 + rng.randint(0, 3599)


def _repeat_orders(rng: Random, buyer: Buyer, curves: Mapping[str, Sequence[float]]) -> list[Order]:
    """Reorders come sooner and larger when demand is high, later around the holiday shutdown."""
    orders: list[Order] = []
    for series in buyer.series:
        curve = curves[series.offer.category]
        moment = series.start
        while moment < HISTORY_DAYS:
            day = int(moment)
            boost = math.sqrt(curve[day])
            lines = tuple(
                (
                    sku,
                    _quantity(
                        rng,
                        series.base_quantity * boost * rng.uniform(*INTERVAL_NOISE),
                        series.offer.moq,
                    ),
                )
                for sku in series.sku_ids
            )
            orders.append(Order(day, _time_of_day(rng), buyer.id, series.offer, lines))
            moment += series.interval * rng.uniform(*INTERVAL_NOISE) / boost
    return orders


def _seasonal_day(rng: Random, curve: Sequence[float]) -> int:
    """A day drawn in proportion to demand (rejection sampling)."""
    ceiling = max(curve)
    day = rng.randrange(HISTORY_DAYS)
    while rng.random() * ceiling > curve[day]:
        day = rng.randrange(HISTORY_DAYS)
    return day


def _one_off_orders(
    rng: Random,
    buyer: Buyer,
    repeat_count: int,
    curves: Mapping[str, Sequence[float]],
    offers_by_category: Mapping[str, Sequence[Offer]],
) -> list[Order]:
    """Trial and festival stock-up orders outside the buyer's regular series."""
    orders: list[Order] = []
    for _ in range(round(repeat_count * buyer.channel.one_off_share)):
        category = rng.choice(buyer.preferred_categories)
        offer = _pick_offer(rng, offers_by_category[category], buyer.price_band, ())
        skus = rng.sample(offer.sku_ids, min(len(offer.sku_ids), rng.randint(1, 2)))
        lines = tuple((sku, offer.moq * rng.randint(1, 3)) for sku in sorted(skus))
        day = _seasonal_day(rng, curves[category])
        orders.append(Order(day, _time_of_day(rng), buyer.id, offer, lines))
    return orders


def simulate_orders(
    rng: Random,
    buyers: Sequence[Buyer],
    curves: Mapping[str, Sequence[float]],
    offers_by_category: Mapping[str, Sequence[Offer]],
) -> list[Order]:
    """Every buyer's orders over the history, in time order."""
    orders: list[Order] = []
    for buyer in buyers:
        repeats = _repeat_orders(rng, buyer, curves)
        orders += repeats
        orders += _one_off_orders(rng, buyer, len(repeats), curves, offers_by_category)
    return sorted(orders, key=lambda o: (o.day, o.second_of_day, o.buyer_id, o.offer.id))


class SceneSpec(BaseModel):
    """A themed assortment (场景化组货) restocked together, as leaf category paths."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    leaves: tuple[str, ...] = Field(min_length=2)


class ScenesSpec(BaseModel):
    """How scene shoppers behave: who they are, how often they restock, how loyal they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shopper_share: float = Field(ge=0, le=1)
    min_shoppers: int = Field(ge=0)
    interval_days: tuple[float, float]
    assortment: tuple[int, int]
    keep: float = Field(ge=0, le=1)  # chance a restock includes an item of the assortment
    swap: float = Field(ge=0, le=1)  # chance that item is swapped for another of its leaf
    scene_baskets: tuple[SceneSpec, ...] = Field(min_length=1)


def load_scenes() -> ScenesSpec:
    text = files("sourcing.catalog_sync.demo").joinpath("scenes.json").read_text(encoding="utf-8")
    return ScenesSpec.model_validate_json(text)


@dataclass(frozen=True, slots=True)
class SceneShopper:
    buyer: Buyer
    scene: str
    assortment: tuple[Offer, ...]
    interval: float
    start: float


def _assortment(
    rng: Random, buyer: Buyer, leaves: Sequence[str], offers_by_leaf: Mapping[str, Sequence[Offer]]
) -> tuple[Offer, ...]:
    stocked = [leaf for leaf in leaves if offers_by_leaf.get(leaf)]
    return tuple(_pick_offer(rng, offers_by_leaf[leaf], buyer.price_band, ()) for leaf in stocked)


def plan_scene_shoppers(
    rng: Random,
    spec: ScenesSpec,
    buyers: Sequence[Buyer],
    offers_by_leaf: Mapping[str, Sequence[Offer]],
) -> list[SceneShopper]:
    """A share of the buyers who also restock one themed assortment across suppliers."""
    count = min(len(buyers), max(spec.min_shoppers, round(len(buyers) * spec.shopper_share)))
    shoppers: list[SceneShopper] = []
    for buyer in sorted(rng.sample(list(buyers), count), key=lambda b: b.id):
        scene = rng.choice(spec.scene_baskets)
        size = rng.randint(*spec.assortment)
        leaves = rng.sample(scene.leaves, min(len(scene.leaves), size))
        assortment = _assortment(rng, buyer, sorted(leaves), offers_by_leaf)
        interval = rng.uniform(*spec.interval_days)
        if len(assortment) >= 2:
            shoppers.append(
                SceneShopper(buyer, scene.name, assortment, interval, rng.uniform(0, interval))
            )
    return shoppers


def _restock(
    rng: Random,
    spec: ScenesSpec,
    shopper: SceneShopper,
    leaf_of: Mapping[str, str],
    offers_by_leaf: Mapping[str, Sequence[Offer]],
) -> list[Offer]:
    chosen: list[Offer] = []
    for offer in shopper.assortment:
        if rng.random() >= spec.keep:
            continue
        if rng.random() < spec.swap:  # some variety: another supplier's offer of the same leaf
            offer = rng.choice(offers_by_leaf[leaf_of[offer.id]])
        if offer not in chosen:
            chosen.append(offer)
    return chosen


def _scene_order(rng: Random, day: int, buyer: Buyer, offer: Offer) -> Order:
    skus = rng.sample(offer.sku_ids, min(len(offer.sku_ids), rng.randint(1, 2)))
    lines = tuple((sku, offer.moq * rng.randint(1, 3)) for sku in sorted(skus))
    return Order(day, _time_of_day(rng), buyer.id, offer, lines)


def simulate_scene_orders(
    rng: Random,
    spec: ScenesSpec,
    shoppers: Sequence[SceneShopper],
    curves: Mapping[str, Sequence[float]],
    leaf_of: Mapping[str, str],
    offers_by_leaf: Mapping[str, Sequence[Offer]],
) -> list[Order]:
    """Each scene shopper's restocks: one order per product, all on the same day, in time order."""
    orders: list[Order] = []
    for shopper in shoppers:
        curve = curves[shopper.assortment[0].category]
        moment = shopper.start
        while moment < HISTORY_DAYS:
            day = int(moment)
            chosen = _restock(rng, spec, shopper, leaf_of, offers_by_leaf)
            if len(chosen) >= 2:
                orders += [_scene_order(rng, day, shopper.buyer, offer) for offer in chosen]
            moment += shopper.interval * rng.uniform(*INTERVAL_NOISE) / math.sqrt(curve[day])
    return sorted(orders, key=lambda o: (o.day, o.second_of_day, o.buyer_id, o.offer.id))
