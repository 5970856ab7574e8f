"""Order-history CSV import: rows become orders, bad rows are reported, re-import adds nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from sourcing.catalog_sync.order_history import import_order_history
from sourcing.domain.db import transaction
from sourcing.domain.kinds import BuyerChannel, SupplierKind
from sourcing.domain.tables import Buyer, OrderLine, Product, PurchaseOrder, Sku, Supplier

CSV = """buyer,sku,product,date,quantity,unit price
b1,pa-01,,2026-03-02,40,12.50
b1,pa-02,,2026-03-02,10,
b1,,pb,2026/03/02,5,¥8
b1,,pa,2026-03-09,100,
b1,pa-01,,2026-03-16,3,1.234
nobody,pa-01,,2026-03-02,4,
b1,,pz,2026-03-02,4,
b1,pa-01,,2026-02-30,4,
b1,pa-01,,2026-03-02,0,
b1,pa-01,,2026-03-02,-3,
b1,px-09,,2026-03-02,4,
b1,pb-01,pb,2026-03-02,4,
"""


def _seed(engine: Engine) -> None:
    tiers = [
        {"min_quantity": 2, "unit_price_cents": 1250},
        {"min_quantity": 100, "unit_price_cents": 1100},
    ]
    with transaction(engine) as session:
        session.add(Supplier(id="s1", name="甲", kind=SupplierKind.FACTORY))
        session.add(Supplier(id="s2", name="乙", kind=SupplierKind.TRADER))
        session.add(Buyer(id="b1", name="小店", channel=BuyerChannel.TAOBAO))
        session.flush()
        session.add(
            Product(
                id="pa", supplier_id="s1", title="A", moq=2, price_cents=1250, price_tiers=tiers
            )
        )
        session.add(Product(id="pb", supplier_id="s2", title="B", moq=1, price_cents=800))
        session.flush()
        session.add(Sku(product_id="pa", id="pa-01"))
        session.add(Sku(product_id="pa", id="pa-02"))


def test_rows_become_orders_and_problems_are_reported_per_row(
    engine: Engine, tmp_path: Path
) -> None:
    _seed(engine)
    path = tmp_path / "history.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_order_history(engine, path)
    assert report.rows == 12
    reasons = {row.line: row.reason for row in report.rejected}
    assert sorted(reasons) == [6, 7, 8, 9, 10, 11, 12, 13]
    assert "decimal" in reasons[6]
    assert "unknown buyer" in reasons[7]
    assert "unknown product" in reasons[8]
    assert "date" in reasons[9]
    assert "positive" in reasons[10]
    assert "positive" in reasons[11]
    assert "unknown sku" in reasons[12]
    assert "has no sku" in reasons[13]
    assert all(row.file == "history.csv" for row in report.rejected)
    # b1 × s1 on 03-02, b1 × s2 on 03-02, b1 × s1 on 03-09
    assert (report.orders_added, report.imported_rows, report.orders_already_present) == (3, 4, 0)
    with Session(engine) as session:
        orders = {o.id: o for o in session.exec(select(PurchaseOrder))}
        lines = list(session.exec(select(OrderLine)))
    assert len(orders) == 3
    prices = {(line.sku_id, line.quantity): line.unit_price_cents for line in lines}
    assert prices == {("pa-01", 40): 1250, ("pa-02", 10): 1250, (None, 5): 800, (None, 100): 1100}
    totals = sorted(order.total_cents for order in orders.values())
    assert totals == sorted([40 * 1250 + 10 * 1250, 5 * 800, 110000])
    assert {order.ordered_at.date().isoformat() for order in orders.values()} == {
        "2026-03-02",
        "2026-03-09",
    }


def test_reimporting_the_same_file_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    path = tmp_path / "history.csv"
    path.write_text(CSV, encoding="utf-8")
    import_order_history(engine, path)
    again = import_order_history(engine, path)
    assert (again.orders_added, again.imported_rows, again.orders_already_present) == (0, 0, 3)
    with Session(engine) as session:
        assert len(list(session.exec(select(OrderLine)))) == 4
