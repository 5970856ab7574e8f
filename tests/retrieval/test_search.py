"""The search pipeline end to end on a real demo catalog, real USE embedder and Edge index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import SupplierKind, SyncMode
from sourcing.domain.money import unit_price_at
from sourcing.retrieval.constraints import Constraints
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.search import SearchResult
from tests.catalog_sync.feedfiles import write_jsonl
from tests.retrieval.demo_search import Demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("search"), use_embedder, products=600)
    yield demo
    demo.close()


def _leaf(result: SearchResult, rank: int) -> str:
    return result.hits[rank].category_path.rsplit("/", 1)[-1]


def test_a_chinese_query_finds_its_category(demo: Demo) -> None:
    result = demo.run("不锈钢保温杯")
    assert _leaf(result, 0) == "保温杯"


@pytest.mark.parametrize(
    ("query", "leaf"),
    [("stainless steel thermos", "保温杯"), ("yoga mat", "瑜伽垫"), ("phone case", "手机壳")],
)
def test_an_english_query_finds_chinese_titles(demo: Demo, query: str, leaf: str) -> None:
    result = demo.run(query, limit=5)
    assert leaf in {_leaf(result, rank) for rank in range(min(5, len(result.hits)))}


@pytest.mark.parametrize(
    "query",
    [
        "义乌 收纳盒 10元以内",
        "源头工厂 可定制 保温杯",
        "起批量50以内 数据线",
        "手机壳 5到15元",
        "深圳 蓝牙耳机",
        "phone case under ¥10",
    ],
)
def test_hard_constraints_hold_for_every_hit(demo: Demo, query: str) -> None:
    result = demo.run(query, limit=20)
    constraints = result.constraints
    assert constraints.active(), f"the parser found no constraint in {query!r}"
    for hit in result.hits:
        product, supplier = demo.product(hit.product_id)
        if constraints.price_max_cents is not None:
            assert product.price_cents is not None
            assert product.price_cents <= constraints.price_max_cents
        if constraints.price_min_cents is not None:
            assert product.price_cents is not None
            assert product.price_cents >= constraints.price_min_cents
        if constraints.moq_max is not None:
            assert product.moq <= constraints.moq_max
        if constraints.regions:
            places = {supplier.province, supplier.city, supplier.industrial_belt}
            assert places & set(constraints.regions)
        if constraints.supplier_kinds:
            assert supplier.kind in constraints.supplier_kinds
        if constraints.customisable:
            assert product.customisable or supplier.customisable


def test_explicit_filters_combine_with_parsed_ones(demo: Demo) -> None:
    result = demo.run(
        "收纳盒", constraints=Constraints(supplier_kinds=(SupplierKind.TRADER,)), limit=20
    )
    assert result.hits
    assert all(hit.supplier and hit.supplier.kind == SupplierKind.TRADER for hit in result.hits)


def test_no_match_is_said_plainly_with_relaxations(demo: Demo) -> None:
    result = demo.run("蓝牙耳机 1元以内")
    assert result.constraints.price_max_cents == 100
    assert result.hits == []
    assert result.relaxations[0].constraint == "price_max_cents"
    assert result.relaxations[0].would_return > 0


@pytest.mark.parametrize("query", ["挖掘机液压油缸", "人寿保险理赔"])
def test_an_unrelated_query_finds_nothing_rather_than_noise(demo: Demo, query: str) -> None:
    assert demo.run(query).hits == []


def test_the_price_shown_is_the_tier_price_for_the_quantity(demo: Demo) -> None:
    result = demo.run("保温杯 要1000个", limit=10)
    assert result.quantity == 1000
    assert result.hits
    for hit in result.hits:
        assert hit.moq <= 1000
        assert hit.unit_price_cents == unit_price_at(hit.price_tiers, 1000)
        assert any("1000" in reason for reason in hit.why)


def test_a_price_cap_with_a_quantity_checks_the_exact_tier(demo: Demo) -> None:
    result = demo.run("保温杯", quantity=500, constraints=Constraints(price_max_cents=2500))
    for hit in result.hits:
        price = unit_price_at(hit.price_tiers, 500)
        assert price is not None
        assert price <= 2500


def test_results_are_diverse_across_suppliers(demo: Demo) -> None:
    result = demo.run("手机壳", limit=10)
    per_supplier = Counter(hit.supplier.id for hit in result.hits if hit.supplier)
    assert max(per_supplier.values()) <= 2


def test_every_hit_explains_itself(demo: Demo) -> None:
    result = demo.run("保温杯", limit=3, language="en")
    assert any(reason.startswith("matches: 保温") for reason in result.hits[0].why)
    for hit in result.hits:
        assert any("integrity" in reason for reason in hit.why)
        assert any(reason.startswith("¥") and f"at {hit.moq}" in reason for reason in hit.why)


def test_a_word_the_catalog_never_uses_finds_its_synonym_and_says_so(demo: Demo) -> None:
    result = demo.run("改锥", language="zh")  # the catalog says 螺丝刀 (CC-CEDICT: screwdriver)
    bridged = [hit for hit in result.hits if "近义词匹配：螺丝刀" in hit.why]
    assert len(bridged) >= 3
    assert all("螺丝刀" in hit.title for hit in bridged)
    assert not any(reason.startswith("近义词") for reason in demo.run("螺丝刀").hits[0].why)


def test_the_type_a_query_names_comes_first_and_neighbours_say_so(demo: Demo) -> None:
    result = demo.run("保温杯", limit=30, language="zh")
    neighbours = ["相近品类，不是保温杯" in hit.why for hit in result.hits]
    assert not neighbours[0]
    assert any(neighbours), "30 hits should reach past the thermoses"
    first_neighbour = neighbours.index(True)
    assert all(neighbours[first_neighbour:]), "a thermos ranked below a neighbour"
    assert all(_leaf(result, rank) == "保温杯" for rank in range(first_neighbour))


def test_a_sync_re_embeds_only_changed_products_and_drops_delisted(demo: Demo) -> None:
    product, _ = demo.product("p-000010")
    renamed = {
        "id": product.id,
        "title": "量子波动速读神器",
        "supplier_id": product.supplier_id,
        "category": product.category_path,
        "price": "19.90",
    }
    feed = write_jsonl(
        demo.feeds / "delta.jsonl",
        [renamed, {"id": "p-000011", "title": "x", "status": "delisted"}],
    )
    report = sync_feed(demo.engine, feed, mode=SyncMode.DELTA, indexer=demo.indexer)

    assert sorted(report.changed_ids) == ["p-000010", "p-000011"]
    assert report.indexed == 1
    assert demo.run("量子波动速读神器").hits[0].product_id == "p-000010"
    assert "p-000011" not in demo.indexer.index.versions()


def test_catch_up_repairs_an_index_that_missed_a_sync(demo: Demo) -> None:
    demo.indexer.index.delete(["p-000020", "p-000021"])
    report = demo.indexer.catch_up()
    assert report.embedded == 2
    assert {"p-000020", "p-000021"} <= set(demo.indexer.index.versions())
    assert demo.indexer.catch_up().embedded == 0
