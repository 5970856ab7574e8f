"""Buyer-day baskets from orders, product categories, best sellers and stored co-purchase rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.db import transaction
from sourcing.domain.kinds import BuyerChannel, ProductStatus
from sourcing.domain.repositories.copurchase import CoPurchaseRepository
from sourcing.domain.repositories.orders import Basket, OrderRepository
from sourcing.domain.tables import (
    Buyer,
    CoPurchaseItem,
    CoPurchasePair,
    OrderLine,
    Product,
    PurchaseOrder,
)

CST = timezone(timedelta(hours=8))


def _seed(engine: Engine) -> None:
    with transaction(engine) as session:
        for pid, leaf, status in [
            ("p1", "A/a/tent", ProductStatus.ACTIVE),
            ("p2", "A/a/lamp", ProductStatus.ACTIVE),
            ("p3", "A/a/lamp", ProductStatus.ACTIVE),
            ("p4", "A/a/lamp", ProductStatus.DELISTED),
        ]:
            session.add(Product(id=pid, title=pid, category_path=leaf, status=status))
        for bid in ("b1", "b2"):
            session.add(Buyer(id=bid, name=bid, channel=BuyerChannel.TAOBAO))
        session.flush()
        orders = [
            ("o1", "b1", datetime(2026, 1, 2, 9, tzinfo=CST), ["p1", "p2"]),
            ("o2", "b1", datetime(2026, 1, 2, 20, tzinfo=CST), ["p2", "p3", "p4"]),
            ("o3", "b1", datetime(2026, 1, 5, 9, tzinfo=CST), ["p1"]),
            ("o4", "b2", datetime(2026, 1, 2, 9, tzinfo=CST), ["p3", "p3"]),
            # 01:00 in Beijing is still the previous day in UTC
            ("o5", "b2", datetime(2026, 1, 6, 1, tzinfo=CST), ["p2"]),
        ]
        for oid, buyer, at, products in orders:
            session.add(PurchaseOrder(id=oid, buyer_id=buyer, ordered_at=at))
            session.flush()
            for pid in products:
                session.add(OrderLine(order_id=oid, product_id=pid, quantity=1, unit_price_cents=1))


def test_baskets_group_one_buyers_products_per_utc_day(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        baskets = OrderRepository(session).baskets()
    assert baskets == [
        Basket("b1", date(2026, 1, 2), ("p1", "p2", "p3", "p4")),
        Basket("b2", date(2026, 1, 2), ("p3",)),
        Basket("b1", date(2026, 1, 5), ("p1",)),
        Basket("b2", date(2026, 1, 5), ("p2",)),
    ]


def test_baskets_since_skip_older_orders(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        baskets = OrderRepository(session).baskets(since=datetime(2026, 1, 4, tzinfo=UTC))
    assert [(b.buyer_id, b.day) for b in baskets] == [
        ("b1", date(2026, 1, 5)),
        ("b2", date(2026, 1, 5)),
    ]


def test_no_orders_no_baskets(engine: Engine) -> None:
    with Session(engine) as session:
        assert OrderRepository(session).baskets() == []


def test_categories_and_best_sellers(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        repo = OrderRepository(session)
        assert repo.product_categories(["p1", "p4", "nope"]) == {
            "p1": "A/a/tent",
            "p4": "A/a/lamp",
        }
        assert repo.product_categories([]) == {}
        assert len(repo.all_product_categories()) == 4
        # p2 and p3 are each on three order lines; p4 is delisted
        assert repo.best_sellers("A/a/lamp", 5) == ["p2", "p3"]
        assert repo.best_sellers("A/a/lamp", 1) == ["p2"]


def test_co_purchase_rows_are_replaced_wholesale(engine: Engine) -> None:
    pair = CoPurchasePair(
        level="product", item_a="p1", item_b="p2", count=2, support=0.5, confidence=1.0, lift=2.0
    )
    items = [CoPurchaseItem(level="product", item="", count=4)]
    with transaction(engine) as session:
        CoPurchaseRepository(session).replace([pair], items)
    with transaction(engine) as session:
        CoPurchaseRepository(session).replace(
            [], [CoPurchaseItem(level="product", item="p1", count=3)]
        )
    with Session(engine) as session:
        pairs, loaded = CoPurchaseRepository(session).load()
    assert pairs == []
    assert [(i.item, i.count) for i in loaded] == [("p1", 3)]
