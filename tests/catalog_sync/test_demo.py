"""The demo marketplace generator: deterministic, well-formed and realistic feed files."""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from sourcing.catalog_sync.demo import DemoManifest, generate_demo
from sourcing.catalog_sync.demo.vocabulary import load_vocabulary
from sourcing.domain.kinds import BuyerChannel, SupplierKind, TrendSource
from sourcing.domain.money import PriceTier, parse_price_cents, validate_tiers

TODAY = date(2026, 3, 15)
SMALL = 300
FILES = (
    "suppliers.csv",
    "products.jsonl",
    "buyers.jsonl",
    "orders.jsonl",
    "trends.csv",
    "festivals.jsonl",
    "knowledge.jsonl",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate_demo(tmp_path_factory.mktemp("demo"), products=SMALL, seed=7, today=TODAY)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows))


def _cents(text: str) -> int:
    assert len(text.partition(".")[2]) <= 2, text
    return parse_price_cents(text)


def test_same_seed_and_day_give_byte_identical_files(tmp_path: Path, demo: DemoManifest) -> None:
    again = generate_demo(tmp_path / "again", products=SMALL, seed=7, today=TODAY)
    for name in FILES:
        assert (demo.out_dir / name).read_bytes() == (again.out_dir / name).read_bytes(), name


def test_another_seed_gives_another_catalog(tmp_path: Path, demo: DemoManifest) -> None:
    other = generate_demo(tmp_path, products=SMALL, seed=8, today=TODAY)
    assert other.products_path.read_bytes() != demo.products_path.read_bytes()


def test_manifest_lists_every_file_with_its_count(demo: DemoManifest) -> None:
    assert sorted(p.name for p in demo.paths) == sorted(FILES)
    assert all(p.exists() for p in demo.paths)
    assert demo.products == len(_jsonl(demo.products_path)) == SMALL
    assert demo.suppliers == len(_csv(demo.suppliers_path)) == 20
    assert demo.buyers == len(_jsonl(demo.buyers_path)) == 30
    assert demo.orders == len(_jsonl(demo.orders_path))
    assert demo.skus == sum(len(p["skus"]) for p in _jsonl(demo.products_path))


def test_vocabulary_loads_from_the_package() -> None:
    vocabulary = load_vocabulary()
    assert len(vocabulary.top_categories) >= 12
    assert len(vocabulary.signals.trend_keywords) >= 40
    assert 15 <= len(vocabulary.knowledge) <= 25


def test_catalog_spans_at_least_twelve_categories_with_three_levels(demo: DemoManifest) -> None:
    products = _jsonl(demo.products_path)
    paths = [p["category"].split("/") for p in products]
    assert all(len(levels) == 3 for levels in paths)
    assert len({levels[0] for levels in paths}) >= 12
    assert {"日用百货", "服装服饰", "3C数码配件", "小家电", "宠物用品"} <= {lv[0] for lv in paths}


def test_products_reference_existing_suppliers_and_unique_ids(demo: DemoManifest) -> None:
    supplier_ids = {s["id"] for s in _csv(demo.suppliers_path)}
    products = _jsonl(demo.products_path)
    assert {p["supplier_id"] for p in products} == supplier_ids
    assert len({p["id"] for p in products}) == len(products)
    sku_ids = [sku["id"] for p in products for sku in p["skus"]]
    assert len(set(sku_ids)) == len(sku_ids)
    assert products[0]["id"] == "p-000001"


def test_prices_and_tiers_follow_the_feed_rules(demo: DemoManifest) -> None:
    for product in _jsonl(demo.products_path):
        tiers = [
            PriceTier(min_quantity=t["min_quantity"], unit_price_cents=_cents(t["price"]))
            for t in product["price_tiers"]
        ]
        assert validate_tiers(tiers) == tiers  # ascending quantities, price never rises
        assert tiers[0].min_quantity == product["moq"] >= 1
        assert _cents(product["price"]) == tiers[0].unit_price_cents > 0
        assert all(_cents(sku["price"]) > 0 for sku in product["skus"])
        assert product["stock"] == sum(sku["stock"] for sku in product["skus"])
        assert len(product["title"]) <= 200


def test_skus_vary_and_each_names_a_distinct_spec(demo: DemoManifest) -> None:
    products = _jsonl(demo.products_path)
    counts = Counter(len(product["skus"]) for product in products)
    assert min(counts) == 1
    assert max(counts) == 6
    assert len(counts) >= 4  # single-SKU offers and colour × size grids alike
    for product in products:
        specs = [tuple(sorted(sku["spec"].items())) for sku in product["skus"]]
        assert len(set(specs)) == len(specs), product["id"]


def test_customised_products_take_longer_to_dispatch(demo: DemoManifest) -> None:
    products = _jsonl(demo.products_path)
    custom = [p["lead_time_days"] for p in products if p["customisable"]]
    stock = [p["lead_time_days"] for p in products if not p["customisable"]]
    assert statistics.median(custom) >= statistics.median(stock) + 5
    assert max(custom) <= 30


def test_category_price_bands_are_realistic(tmp_path: Path) -> None:
    products = _jsonl(generate_demo(tmp_path, products=2000, today=TODAY).products_path)
    by_leaf: dict[str, list[float]] = defaultdict(list)
    for product in products:
        by_leaf[product["category"].split("/")[-1]].append(_cents(product["price"]) / 100)
    assert min(by_leaf["手机壳"]) >= 3
    assert max(by_leaf["手机壳"]) <= 15
    assert min(by_leaf["女士T恤"]) >= 15
    assert max(by_leaf["女士T恤"]) <= 45
    assert statistics.median(by_leaf["空气炸锅"]) > 80


def test_titles_read_like_wholesale_listings(demo: DemoManifest) -> None:
    products = _jsonl(demo.products_path)
    titles = [p["title"] for p in products]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in title) for title in titles)
    assert any("LOGO" in t or "Type-C" in t or "ins风" in t for t in titles)
    assert any("平替" in t or "大牌同厂" in t for t in titles)
    for product in products:
        assert {"风格", "产地", "货源类别"} <= product["attributes"].keys()
        assert len(product["attributes"]) >= 5


def test_suppliers_mix_good_and_bad_trust_signals(demo: DemoManifest) -> None:
    suppliers = _csv(demo.suppliers_path)
    refunds = [float(s["quality_refund_rate"]) for s in suppliers]
    assert any(r > 0.08 for r in refunds)
    assert sum(0.005 <= r <= 0.03 for r in refunds) > len(refunds) / 2
    assert {s["kind"] for s in suppliers} == {k.value for k in SupplierKind}
    assert all(0 <= int(s["integrity_score"]) <= 100 for s in suppliers)
    assert any("专精特新" in s["badges"] or "品牌代工厂" in s["badges"] for s in suppliers)
    assert len({s["industrial_belt"] for s in suppliers}) >= 8


def test_some_suppliers_are_entirely_out_of_stock(demo: DemoManifest) -> None:
    stock: Counter[str] = Counter()
    for product in _jsonl(demo.products_path):
        stock[product["supplier_id"]] += product["stock"]
    assert any(total == 0 for total in stock.values())
    assert sum(total > 0 for total in stock.values()) > len(stock) / 2


def test_every_channel_has_buyers_who_follow_and_watch(demo: DemoManifest) -> None:
    buyers = _jsonl(demo.buyers_path)
    supplier_ids = {s["id"] for s in _csv(demo.suppliers_path)}
    product_ids = {p["id"] for p in _jsonl(demo.products_path)}
    assert {b["channel"] for b in buyers} == {c.value for c in BuyerChannel}
    for buyer in buyers:
        assert buyer["follows"]
        assert set(buyer["follows"]) <= supplier_ids
        assert buyer["watches"]
        assert set(buyer["watches"]) <= product_ids
        assert buyer["preferred_categories"]
        assert _cents(buyer["price_min"]) < _cents(buyer["price_max"])


def test_order_lines_use_real_skus_moq_and_tier_prices(demo: DemoManifest) -> None:
    products = {p["id"]: p for p in _jsonl(demo.products_path)}
    buyer_ids = {b["id"] for b in _jsonl(demo.buyers_path)}
    for order in _jsonl(demo.orders_path):
        ordered_at = datetime.fromisoformat(order["ordered_at"])
        assert ordered_at.utcoffset() == timedelta(hours=8)
        assert TODAY - timedelta(days=366) < ordered_at.date() < TODAY
        assert order["buyer_id"] in buyer_ids
        for line in order["lines"]:
            product = products[line["product_id"]]
            assert product["supplier_id"] == order["supplier_id"]
            assert line["sku_id"] in {sku["id"] for sku in product["skus"]}
            assert line["quantity"] >= product["moq"]
            tier = [t for t in product["price_tiers"] if t["min_quantity"] <= line["quantity"]][-1]
            assert _cents(line["unit_price"]) == _cents(tier["price"])


def test_orders_are_seasonal(demo: DemoManifest) -> None:
    months = Counter(o["ordered_at"][:7] for o in _jsonl(demo.orders_path))
    full_months = [count for month, count in sorted(months.items())][1:-1]  # ends are partial
    assert len(full_months) == 11
    assert max(full_months) >= 1.5 * min(full_months)
    assert months["2025-11"] > months["2026-02"]  # 双11 stock-up versus the 春节 shutdown


def test_buyers_rebuy_the_same_skus_at_regular_intervals(demo: DemoManifest) -> None:
    days: dict[tuple[str, str], list[date]] = defaultdict(list)
    for order in _jsonl(demo.orders_path):
        for line in order["lines"]:
            days[order["buyer_id"], line["sku_id"]].append(
                date.fromisoformat(order["ordered_at"][:10])
            )
    repeated = {pair: sorted(d) for pair, d in days.items() if len(d) >= 3}
    assert len(repeated) >= 100
    regular = 0
    for dates in repeated.values():
        gaps = [(b - a).days for a, b in pairwise(dates)]
        regular += statistics.median(gaps) >= 5 and statistics.pstdev(gaps) < statistics.mean(gaps)
    assert regular >= len(repeated) / 2


def test_trends_cover_a_year_with_named_shapes(demo: DemoManifest) -> None:
    rows = _csv(demo.trends_path)
    assert list(rows[0]) == ["keyword", "category", "source", "day", "value"]
    series: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        series[row["keyword"], row["source"]].append(float(row["value"]))
    assert {source for _, source in series} == {s.value for s in TrendSource}
    assert len({keyword for keyword, _ in series}) >= 40
    assert all(len(values) == 365 for values in series.values())
    assert max(row["day"] for row in rows) == TODAY.isoformat()
    shapes = {k.keyword: k.shape for k in load_vocabulary().signals.trend_keywords}
    for (keyword, _source), values in series.items():
        first, last = statistics.mean(values[:30]), statistics.mean(values[-30:])
        if shapes[keyword] == "rising":
            assert last > 1.3 * first, keyword
        if shapes[keyword] == "falling":
            assert last < first, keyword


def test_festivals_cover_the_year_around_today(demo: DemoManifest) -> None:
    festivals = _jsonl(demo.festivals_path)
    names = {f["name"] for f in festivals}
    expected = {"春节", "元宵", "情人节", "妇女节", "母亲节", "父亲节", "端午", "开学季", "618"}
    assert expected | {"七夕", "中秋", "国庆", "双11", "双12", "圣诞"} <= names
    days = {(f["name"], f["day"]) for f in festivals}
    assert {("春节", "2026-02-17"), ("中秋", "2025-10-06"), ("端午", "2026-06-19")} <= days
    assert ("母亲节", "2026-05-10") in days  # second Sunday of May
    assert all(TODAY - timedelta(days=365) <= date.fromisoformat(d) for _, d in days)
    assert all(date.fromisoformat(d) <= TODAY + timedelta(days=365) for _, d in days)
    assert all(f["related_categories"] and f["lead_days"] > 0 for f in festivals)


def test_knowledge_explains_the_after_sales_rule_in_both_languages(demo: DemoManifest) -> None:
    docs = _jsonl(demo.knowledge_path)
    assert 15 <= len(docs) <= 25
    assert len({d["id"] for d in docs}) == len(docs)
    rule_zh = [d for d in docs if "仅退款" in d["body"] and d["language"] == "zh"]
    assert rule_zh
    assert "平台出资" in rule_zh[0]["body"]
    assert "无需退回" in rule_zh[0]["body"]
    rule_en = [d for d in docs if d["language"] == "en" and "refund only" in d["body"]]
    assert rule_en
    assert "platform pays the compensation" in rule_en[0]["body"]
    assert {d["kind"] for d in docs} == {"platform_rule", "sourcing_guide"}
    assert all(d["effective_from"] and d["tags"] for d in docs)
