"""AssortmentRepository on SQLite and PostgreSQL: listings by category, supplier mixes, orders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import BuyerChannel, ProductStatus, SupplierKind, SupplierStatus
from sourcing.domain.repositories.assortment import AssortmentRepository
from sourcing.domain.tables import Buyer, OrderLine, Product, PurchaseOrder, Supplier

CUPS = "日用百货/杯壶水具/保温杯"
GLASSES = "日用百货/杯壶水具/玻璃杯"
BOXES = "日用百货/收纳整理/收纳盒"


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Supplier(id="s-1", name="one", kind=SupplierKind.FACTORY))
        session.add(Supplier(id="s-2", name="two", kind=SupplierKind.TRADER))
        session.add(
            Supplier(
                id="s-3", name="three", kind=SupplierKind.TRADER, status=SupplierStatus.SUSPENDED
            )
        )
        session.flush()
        rows = [
            ("p-1", "s-1", CUPS, ProductStatus.ACTIVE),
            ("p-2", "s-1", CUPS, ProductStatus.ACTIVE),
            ("p-3", "s-1", BOXES, ProductStatus.ACTIVE),
            ("p-4", "s-2", CUPS, ProductStatus.ACTIVE),
            ("p-5", "s-2", GLASSES, ProductStatus.DELISTED),
            ("p-6", "s-3", GLASSES, ProductStatus.ACTIVE),
        ]
        for product_id, supplier_id, path, status in rows:
            session.add(
                Product(
                    id=product_id,
                    supplier_id=supplier_id,
                    title=product_id,
                    category_path=path,
                    category=path.split("/")[0],
                    status=status,
                )
            )
        session.flush()
        session.add(Buyer(id="b-1", name="shop", channel=BuyerChannel.TAOBAO))
        session.add(Buyer(id="b-2", name="new shop", channel=BuyerChannel.TAOBAO))
        session.flush()
        for order_id, day, products in [("o-1", 1, ["p-1", "p-3"]), ("o-2", 5, ["p-4", "p-1"])]:
            session.add(
                PurchaseOrder(
                    id=order_id, buyer_id="b-1", ordered_at=datetime(2026, 3, day, tzinfo=UTC)
                )
            )
            session.flush()
            for product_id in products:
                session.add(
                    OrderLine(
                        order_id=order_id, product_id=product_id, quantity=5, unit_price_cents=100
                    )
                )
        session.commit()


def test_listings_by_leaf_and_under_a_shelf_are_searchable_only(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repository = AssortmentRepository(session)
        assert repository.listing_ids_in_leaves([CUPS]) == ["p-1", "p-2", "p-4"]
        assert repository.listing_ids_in_leaves([CUPS], limit=2) == ["p-1", "p-2"]
        assert repository.listing_ids_in_leaves([]) == []
        # p-5 is delisted, p-6's supplier suspended
        assert repository.listing_ids_under(["日用百货/杯壶水具"]) == ["p-1", "p-2", "p-4"]
        assert repository.listing_ids_under(["日用百货"]) == ["p-1", "p-2", "p-3", "p-4"]
        assert repository.listing_ids_under(["日用百货/杯壶"]) == []


def test_leaf_counts_per_supplier(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repository = AssortmentRepository(session)
        assert repository.leaf_counts_by_supplier() == {
            "s-1": {CUPS: 2, BOXES: 1},
            "s-2": {CUPS: 1},
        }
        assert repository.leaf_counts_of("s-3") == {GLASSES: 1}
        assert [s.id for s in repository.suppliers(["s-2", "s-1", "s-9"])] == ["s-1", "s-2"]
        with pytest.raises(NotFoundError):
            repository.leaf_counts_of("s-9")


def test_ordered_products_most_recent_first(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repository = AssortmentRepository(session)
        assert repository.ordered_product_ids("b-1") == ["p-1", "p-4", "p-3"]
        assert repository.ordered_product_ids("b-2") == []
        with pytest.raises(NotFoundError):
            repository.ordered_product_ids("b-9")
