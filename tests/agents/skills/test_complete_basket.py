"""complete_basket: co-purchase complements, thin inputs fall back with a source, bad inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from sourcing.agents.skills.complete_basket import CompleteBasketInput, complete_basket
from sourcing.catalog_sync.baskets import build_copurchase, load_copurchase
from sourcing.catalog_sync.reference import load_reference
from sourcing.domain.db import transaction
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import ProductStatus
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.domain.tables import Product
from sourcing.retrieval.copurchase import CoPurchase
from sourcing.retrieval.embedders import Embedder
from tests.retrieval.demo_search import Demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("basket"), use_embedder, products=300)
    load_reference(demo.engine, demo.feeds)
    build_copurchase(demo.engine)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def stats(demo: Demo) -> CoPurchase:
    return load_copurchase(demo.engine)


def _linked(stats: CoPurchase, demo: Demo) -> str:
    with Session(demo.engine) as session:
        ids = sorted(OrderRepository(session).all_product_categories())
    return next(pid for pid in ids if not stats.is_thin([pid]))


def _never_ordered(stats: CoPurchase, demo: Demo) -> str:
    with Session(demo.engine) as session:
        ids = sorted(OrderRepository(session).all_product_categories())
    return next(pid for pid in ids if stats.item_count(pid) == 0)


def test_co_purchase_suggestions_explain_what_they_go_with(demo: Demo, stats: CoPurchase) -> None:
    item = _linked(stats, demo)
    result = complete_basket(
        demo.engine, demo.search, stats, CompleteBasketInput(product_ids=[item], limit=5)
    )
    assert not result.thin
    first = result.suggestions[0]
    assert first.source == "co_purchase"
    assert first.goes_with == [item]
    assert first.lift is not None
    assert first.lift > 1
    assert "倍" in first.why
    assert item not in {s.product_id for s in result.suggestions}
    assert len(result.suggestions) == 5
    english = complete_basket(
        demo.engine,
        demo.search,
        stats,
        CompleteBasketInput(product_ids=[item], limit=5, language="en"),
    )
    assert "baskets" in english.suggestions[0].why


def test_delisted_products_are_never_suggested(demo: Demo, stats: CoPurchase) -> None:
    item = _linked(stats, demo)
    request = CompleteBasketInput(product_ids=[item], limit=5)
    before = complete_basket(demo.engine, demo.search, stats, request).suggestions[0].product_id
    with transaction(demo.engine) as session:
        product = session.get(Product, before)
        assert product is not None
        product.status = ProductStatus.DELISTED
    try:
        after = complete_basket(demo.engine, demo.search, stats, request)
        assert before not in {s.product_id for s in after.suggestions}
    finally:
        with transaction(demo.engine) as session:
            product = session.get(Product, before)
            assert product is not None
            product.status = ProductStatus.ACTIVE


def test_thin_inputs_fall_back_and_say_so(demo: Demo, stats: CoPurchase) -> None:
    item = _never_ordered(stats, demo)
    result = complete_basket(
        demo.engine, demo.search, stats, CompleteBasketInput(product_ids=[item], limit=8)
    )
    assert result.thin
    assert result.suggestions
    sources = {s.source for s in result.suggestions}
    assert "co_purchase" not in sources
    assert sources <= {"category", "semantic"}
    leaf = demo.product(item)[0].category_path
    semantic = [s for s in result.suggestions if s.source == "semantic"]
    assert all(s.category_path != leaf for s in semantic)
    assert item not in {s.product_id for s in result.suggestions}


def test_empty_statistics_fall_back_to_semantics(demo: Demo) -> None:
    empty = CoPurchase.build([], {})
    item = _linked(load_copurchase(demo.engine), demo)
    result = complete_basket(
        demo.engine, demo.search, empty, CompleteBasketInput(product_ids=[item], limit=3)
    )
    assert result.thin
    assert result.suggestions
    assert {s.source for s in result.suggestions} == {"semantic"}


def test_unknown_ids_are_named(demo: Demo, stats: CoPurchase) -> None:
    item = _linked(stats, demo)
    with pytest.raises(NotFoundError) as raised:
        complete_basket(
            demo.engine,
            demo.search,
            stats,
            CompleteBasketInput(product_ids=[item, "p-nope", "p-gone"]),
        )
    assert raised.value.details["product_ids"] == ["p-nope", "p-gone"]


def test_empty_and_oversized_requests_are_rejected() -> None:
    with pytest.raises(ValidationError):
        CompleteBasketInput(product_ids=[])
    with pytest.raises(ValidationError):
        CompleteBasketInput(product_ids=[f"p{i}" for i in range(21)])
