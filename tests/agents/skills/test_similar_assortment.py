"""similar_assortment over a real demo catalog: substitutes, 平替, factories, suppliers, shelves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from sourcing.agents.skills.similar_assortment import (
    FACTORY_KINDS,
    ShelfFillersInput,
    SimilarProductsInput,
    SimilarSuppliersInput,
    comparison_quantity,
    price_at,
    shelf_fillers,
    similar_products,
    similar_suppliers,
)
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import BuyerChannel, ProductStatus, SupplierKind, SupplierStatus
from sourcing.domain.tables import Buyer, OrderLine, Product, PurchaseOrder, Supplier
from sourcing.retrieval.embedders import Embedder
from tests.retrieval.demo_search import Demo

BIG = 1_000_000  # past every price tier's start


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("assortment"), use_embedder, products=1200)
    yield demo
    demo.close()


def _listings(demo: Demo) -> list[tuple[Product, Supplier]]:
    with Session(demo.engine) as session:
        rows = session.exec(
            select(Product, Supplier)
            .join(Supplier)
            .where(Product.status == ProductStatus.ACTIVE)
            .order_by(Product.id)
        )
        return [(product, supplier) for product, supplier in rows]


def _by_leaf(demo: Demo) -> dict[str, list[tuple[Product, Supplier]]]:
    grouped: dict[str, list[tuple[Product, Supplier]]] = {}
    for listing in _listings(demo):
        grouped.setdefault(listing[0].category_path, []).append(listing)
    return grouped


def _busy_product(demo: Demo) -> Product:
    """A product whose leaf has listings from at least four other suppliers."""
    for listings in _by_leaf(demo).values():
        for product, _ in listings:
            others = {s.id for p, s in listings if s.id != product.supplier_id}
            if len(others) >= 4:
                return product
    raise AssertionError("the demo has no busy leaf")


def test_substitutes_come_from_other_suppliers_in_the_same_leaf(demo: Demo) -> None:
    original = _busy_product(demo)
    result = similar_products(
        demo.engine, demo.search, SimilarProductsInput(product_id=original.id, limit=5)
    )

    assert result.original is not None
    assert result.original.product_id == original.id
    rivals = {
        s.id for p, s in _by_leaf(demo)[original.category_path] if s.id != original.supplier_id
    }
    # One alternative per other supplier in the leaf, up to the limit.
    assert len(result.alternatives) == min(5, len(rivals))
    suppliers = [a.product.supplier.id for a in result.alternatives if a.product.supplier]
    assert original.supplier_id not in suppliers
    assert len(set(suppliers)) == len(suppliers)  # one second source per supplier
    for alternative in result.alternatives:
        assert alternative.product.category_path == original.category_path
        assert alternative.same[0].endswith(original.category_path.rsplit("/", 1)[-1])
    assert any(a.differs for a in result.alternatives)
    scores = [a.product.score for a in result.alternatives]
    assert scores == sorted(scores, reverse=True)


def test_english_description_stands_in_for_a_product(demo: Demo) -> None:
    request = SimilarProductsInput(query_text="304 stainless steel thermos cup", language="en")
    result = similar_products(demo.engine, demo.search, request)

    assert result.original is not None
    assert result.original.category_path.endswith("保温杯")
    assert result.alternatives
    assert all(
        a.product.category_path == result.original.category_path for a in result.alternatives
    )
    assert all(a.same[0].startswith("same category=") for a in result.alternatives)


@pytest.mark.parametrize("quantity", [None, 100, 1000])
def test_cheaper_results_are_cheaper_at_the_compared_quantity(
    demo: Demo, quantity: int | None
) -> None:
    original = _busy_product(demo)
    request = SimilarProductsInput(
        product_id=original.id, mode="cheaper", quantity=quantity, limit=20
    )
    result = similar_products(demo.engine, demo.search, request)

    products = {product.id: product for product, _ in _listings(demo)}
    for alternative in result.alternatives:
        other = products[alternative.product.product_id]
        at = comparison_quantity(quantity, original, other)
        assert alternative.quantity == at
        assert at >= max(original.moq, other.moq, quantity or 1)
        theirs, mine = price_at(other, at), price_at(original, at)
        assert theirs is not None
        assert mine is not None
        assert theirs < mine
        assert alternative.price_difference_cents == theirs - mine
        assert alternative.key_attributes_kept
    if not result.alternatives:
        assert result.note == "nothing_cheaper"


def test_the_cheapest_product_of_its_leaf_has_no_cheaper_equivalent(demo: Demo) -> None:
    leaf = max(_by_leaf(demo).values(), key=len)
    cheapest = min(
        (product for product, _ in leaf),
        key=lambda product: (price_at(product, BIG) or 10**12, product.id),
    )
    request = SimilarProductsInput(product_id=cheapest.id, mode="cheaper", quantity=BIG)
    result = similar_products(demo.engine, demo.search, request)

    assert result.alternatives == []
    assert result.note == "nothing_cheaper"


def test_factory_direct_returns_only_factories(demo: Demo) -> None:
    trader_products = [
        product for product, supplier in _listings(demo) if supplier.kind == SupplierKind.TRADER
    ]
    results = [
        similar_products(
            demo.engine,
            demo.search,
            SimilarProductsInput(product_id=product.id, mode="factory_direct", limit=10),
        )
        for product in trader_products[:10]
    ]

    found = [a for result in results for a in result.alternatives]
    assert found
    assert all(a.product.supplier and a.product.supplier.kind in FACTORY_KINDS for a in found)
    assert all(r.note == "no_factory_version" for r in results if not r.alternatives)


def test_an_unknown_product_is_not_found(demo: Demo) -> None:
    with pytest.raises(NotFoundError):
        similar_products(demo.engine, demo.search, SimilarProductsInput(product_id="p-999999"))


@pytest.mark.parametrize(
    "fields",
    [{}, {"product_id": "p-000001", "query_text": "thermos cup"}],
    ids=["neither", "both"],
)
def test_exactly_one_of_product_id_and_query_text(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of product_id and query_text"):
        SimilarProductsInput.model_validate(fields)


def test_similar_suppliers_exclude_itself_and_rank_by_score(demo: Demo) -> None:
    result = similar_suppliers(demo.engine, SimilarSuppliersInput(supplier_id="s-0001", limit=10))

    assert result.supplier.id == "s-0001"
    assert result.similar
    assert "s-0001" not in [s.supplier.id for s in result.similar]
    scores = [s.score for s in result.similar]
    assert scores == sorted(scores, reverse=True)
    for similar in result.similar:
        assert similar.shared_categories
        assert 0 < similar.overlap <= 1


def test_similar_suppliers_skip_suspended_ones(demo: Demo) -> None:
    first = similar_suppliers(demo.engine, SimilarSuppliersInput(supplier_id="s-0001")).similar[0]
    with Session(demo.engine) as session:
        supplier = session.get(Supplier, first.supplier.id)
        assert supplier is not None
        supplier.status = SupplierStatus.SUSPENDED
        session.add(supplier)
        session.commit()
        try:
            again = similar_suppliers(demo.engine, SimilarSuppliersInput(supplier_id="s-0001"))
            assert first.supplier.id not in [s.supplier.id for s in again.similar]
        finally:
            supplier.status = SupplierStatus.ACTIVE
            session.add(supplier)
            session.commit()


def test_an_unknown_supplier_is_not_found(demo: Demo) -> None:
    with pytest.raises(NotFoundError):
        similar_suppliers(demo.engine, SimilarSuppliersInput(supplier_id="s-9999"))


def test_shelf_fillers_are_new_and_span_suppliers(demo: Demo) -> None:
    stocked = [product.id for product in (_busy_product(demo),)]
    stocked += [_listings(demo)[0][0].id]
    result = shelf_fillers(
        demo.engine, demo.search, ShelfFillersInput(product_ids=stocked, limit=8)
    )

    assert result.fillers
    ids = [f.product.product_id for f in result.fillers]
    assert not set(ids) & set(stocked)
    assert len({f.product.supplier.id for f in result.fillers if f.product.supplier}) >= 2
    assert all(
        any(f.leaf.startswith(f"{shelf}/") for shelf in result.shelves) for f in result.fillers
    )
    assert all(f.why for f in result.fillers)


def _add_buyer(demo: Demo, buyer_id: str, product_ids: list[str]) -> None:
    with Session(demo.engine) as session:
        session.add(Buyer(id=buyer_id, name=buyer_id, channel=BuyerChannel.TAOBAO))
        session.flush()
        for number, product_id in enumerate(product_ids):
            order_id = f"o-{buyer_id}-{number}"
            session.add(
                PurchaseOrder(
                    id=order_id,
                    buyer_id=buyer_id,
                    ordered_at=datetime(2026, 1, 1 + number, tzinfo=UTC),
                )
            )
            session.flush()
            session.add(
                OrderLine(
                    order_id=order_id, product_id=product_id, quantity=10, unit_price_cents=100
                )
            )
        session.commit()


def test_shelf_fillers_read_a_buyers_orders(demo: Demo) -> None:
    ordered = [_busy_product(demo).id]
    _add_buyer(demo, "b-shelf", ordered)
    result = shelf_fillers(demo.engine, demo.search, ShelfFillersInput(buyer_id="b-shelf"))

    assert result.stocked == ordered
    assert result.fillers
    assert ordered[0] not in [f.product.product_id for f in result.fillers]


def test_a_buyer_without_orders_gets_an_empty_result_with_a_note(demo: Demo) -> None:
    _add_buyer(demo, "b-new", [])
    result = shelf_fillers(demo.engine, demo.search, ShelfFillersInput(buyer_id="b-new"))
    assert result.fillers == []
    assert result.note == "no_orders"


def test_an_unknown_buyer_or_product_is_not_found(demo: Demo) -> None:
    with pytest.raises(NotFoundError):
        shelf_fillers(demo.engine, demo.search, ShelfFillersInput(buyer_id="b-nobody"))
    with pytest.raises(NotFoundError, match="p-999999"):
        shelf_fillers(demo.engine, demo.search, ShelfFillersInput(product_ids=["p-999999"]))


@pytest.mark.parametrize("fields", [{}, {"product_ids": []}], ids=["neither", "empty-list"])
def test_shelf_fillers_need_a_non_empty_assortment(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ShelfFillersInput.model_validate(fields)


def test_products_given_are_the_assortment_even_with_the_buyer_known() -> None:
    # The service fills in the key's buyer on every call: ids the buyer names still win.
    shelf = ShelfFillersInput(product_ids=["p-000001"], buyer_id="b-0001")
    assert not shelf.from_orders
    assert ShelfFillersInput(buyer_id="b-0001").from_orders
