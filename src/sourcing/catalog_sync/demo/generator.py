"""Writes a deterministic demo marketplace as feed and reference files (docs/feeds.md)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from random import Random
from typing import Any

from pydantic import BaseModel, ConfigDict

from sourcing.catalog_sync.demo.activity import (
    HISTORY_DAYS,
    Buyer,
    Order,
    ScenesSpec,
    demand_curves,
    load_scenes,
    plan_buyers,
    plan_scene_shoppers,
    simulate_orders,
    simulate_scene_orders,
)
from sourcing.catalog_sync.demo.catalog import (
    SUPPLIER_COLUMNS,
    Offer,
    Supplier,
    generate_products,
    plan_suppliers,
)
from sourcing.catalog_sync.demo.signals import FestivalDay, festival_calendar, trend_rows
from sourcing.catalog_sync.demo.vocabulary import KnowledgeEntry, Vocabulary, load_vocabulary

PRODUCTS_PER_SUPPLIER = 15
MIN_SUPPLIERS = 20
PRODUCTS_PER_BUYER = 20
BUYERS_RANGE = (30, 2000)
TREND_COLUMNS = ("keyword", "category", "source", "day", "value")
FESTIVAL_HORIZON = timedelta(days=365)
# order effects reach up to 40 days before a festival, so look that far past the history's ends
EFFECT_REACH = timedelta(days=45)


class DemoManifest(BaseModel):
    """What `generate_demo` wrote: one path and one count per file."""

    model_config = ConfigDict(frozen=True)

    out_dir: Path
    seed: int
    today: date
    suppliers_path: Path
    products_path: Path
    buyers_path: Path
    orders_path: Path
    trends_path: Path
    festivals_path: Path
    knowledge_path: Path
    suppliers: int
    products: int
    skus: int
    buyers: int
    orders: int
    trend_points: int
    festivals: int
    knowledge_docs: int

    @property
    def paths(self) -> tuple[Path, ...]:
        return (
            self.suppliers_path,
            self.products_path,
            self.buyers_path,
            self.orders_path,
            self.trends_path,
            self.festivals_path,
            self.knowledge_path,
        )


def _dumps(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def _write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(_dumps(row))
            count += 1
    return count


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _write_products(
    path: Path,
    rng: Random,
    vocab: Vocabulary,
    suppliers: Sequence[Supplier],
    count: int,
    today: date,
) -> tuple[list[Offer], dict[str, str], int]:
    """Stream products.jsonl; keep only the small offer summaries (and each offer's leaf
    category) for buyers and orders."""
    offers: list[Offer] = []
    leaf_of: dict[str, str] = {}
    skus = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row, offer in generate_products(rng, vocab, suppliers, count, today):
            out.write(_dumps(row))
            offers.append(offer)
            leaf_of[offer.id] = row["category"]
            skus += len(offer.sku_ids)
    return offers, leaf_of, skus


def _active_by_category(offers: Iterable[Offer]) -> dict[str, list[Offer]]:
    grouped: dict[str, list[Offer]] = {}
    for offer in offers:
        if offer.active:
            grouped.setdefault(offer.category, []).append(offer)
    return grouped


def _order_rows(orders: Sequence[Order], first_day: date) -> Iterable[dict[str, Any]]:
    width = max(6, len(str(len(orders))))
    for number, order in enumerate(orders, start=1):
        yield order.row(f"o-{number:0{width}d}", first_day)


def _knowledge_rows(entries: Sequence[KnowledgeEntry]) -> Iterable[dict[str, Any]]:
    return (entry.model_dump(mode="json") for entry in entries)


def _simulate(
    rng: Random,
    vocab: Vocabulary,
    offers: Sequence[Offer],
    buyer_count: int,
    festivals: Sequence[FestivalDay],
    first_day: date,
) -> tuple[list[Buyer], list[Order]]:
    by_category = _active_by_category(offers)
    buyers = plan_buyers(rng, vocab, buyer_count, by_category)
    curves = demand_curves(vocab.signals, vocab.top_categories, festivals, first_day)
    return buyers, simulate_orders(rng, buyers, curves, by_category)


def _scene_orders(
    rng: Random,
    vocab: Vocabulary,
    offers: Sequence[Offer],
    leaf_of: dict[str, str],
    buyers: Sequence[Buyer],
    festivals: Sequence[FestivalDay],
    first_day: date,
) -> list[Order]:
    """Themed multi-supplier restocks of some buyers, so baskets carry complements."""
    spec = load_scenes()
    _check_scene_leaves(spec, vocab)
    by_leaf: dict[str, list[Offer]] = {}
    for offer in offers:
        if offer.active:
            by_leaf.setdefault(leaf_of[offer.id], []).append(offer)
    shoppers = plan_scene_shoppers(rng, spec, buyers, by_leaf)
    curves = demand_curves(vocab.signals, vocab.top_categories, festivals, first_day)
    return simulate_scene_orders(rng, spec, shoppers, curves, leaf_of, by_leaf)


def _check_scene_leaves(spec: ScenesSpec, vocab: Vocabulary) -> None:
    known = {leaf.path for leaf in vocab.leaves}
    unknown = sorted({p for s in spec.scene_baskets for p in s.leaves} - known)
    if unknown:
        raise ValueError(f"scenes.json names unknown leaf categories {unknown}")


def generate_demo(
    out_dir: Path, *, products: int = 2000, seed: int = 7, today: date
) -> DemoManifest:
    """Write suppliers.csv, products.jsonl, buyers.jsonl, orders.jsonl, trends.csv,
    festivals.jsonl and knowledge.jsonl into `out_dir`.

    The same `seed` and `today` give byte-identical files; nothing reads the clock.
    """
    if products < 1:
        raise ValueError("products must be at least 1")
    vocab = load_vocabulary()
    rng = Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out_dir / name
        for name in (
            "suppliers.csv",
            "products.jsonl",
            "buyers.jsonl",
            "orders.jsonl",
            "trends.csv",
            "festivals.jsonl",
            "knowledge.jsonl",
        )
    }
    first_day = today - timedelta(days=HISTORY_DAYS)

    suppliers = plan_suppliers(vocab, rng, max(MIN_SUPPLIERS, products // PRODUCTS_PER_SUPPLIER))
    _write_csv(paths["suppliers.csv"], SUPPLIER_COLUMNS, (s.csv_row() for s in suppliers))
    offers, leaf_of, sku_count = _write_products(
        paths["products.jsonl"], rng, vocab, suppliers, products, today
    )

    calendar = festival_calendar(
        vocab.signals.festivals, first_day - EFFECT_REACH, today + FESTIVAL_HORIZON
    )
    buyer_count = min(BUYERS_RANGE[1], max(BUYERS_RANGE[0], products // PRODUCTS_PER_BUYER))
    buyers, orders = _simulate(rng, vocab, offers, buyer_count, calendar, first_day)
    # A separate stream, appended last, keeps every earlier file and order exactly as it was.
    scene_rng = Random(f"{seed}-scenes")
    orders += _scene_orders(scene_rng, vocab, offers, leaf_of, buyers, calendar, first_day)
    _write_jsonl(paths["buyers.jsonl"], (b.row() for b in buyers))
    _write_jsonl(paths["orders.jsonl"], _order_rows(orders, first_day))

    trend_count = _write_csv(
        paths["trends.csv"], TREND_COLUMNS, trend_rows(rng, vocab.signals.trend_keywords, today)
    )
    shown = [f for f in calendar if today - FESTIVAL_HORIZON <= f.day]
    festival_count = _write_jsonl(paths["festivals.jsonl"], (f.row() for f in shown))
    knowledge_count = _write_jsonl(paths["knowledge.jsonl"], _knowledge_rows(vocab.knowledge))

    return DemoManifest(
        out_dir=out_dir,
        seed=seed,
        today=today,
        suppliers_path=paths["suppliers.csv"],
        products_path=paths["products.jsonl"],
        buyers_path=paths["buyers.jsonl"],
        orders_path=paths["orders.jsonl"],
        trends_path=paths["trends.csv"],
        festivals_path=paths["festivals.jsonl"],
        knowledge_path=paths["knowledge.jsonl"],
        suppliers=len(suppliers),
        products=len(offers),
        skus=sku_count,
        buyers=len(buyers),
        orders=len(orders),
        trend_points=trend_count,
        festivals=festival_count,
        knowledge_docs=knowledge_count,
    )
