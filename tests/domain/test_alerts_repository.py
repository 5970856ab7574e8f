"""AlertRepository on SQLite and PostgreSQL: dedup, tenant isolation, paging, filters, stream."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.db import transaction
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import AlertSeverity, BuyerChannel
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository, SourceRepository
from sourcing.domain.tables import Buyer, Supplier, SupplierSnapshot


@pytest.fixture
def buyers(engine: Engine) -> Engine:
    with transaction(engine) as session:
        for buyer_id in ("a", "b"):
            session.add(Buyer(id=buyer_id, name=buyer_id, channel=BuyerChannel.TAOBAO))
    return engine


def _draft(buyer_id: str, key: str, **overrides: object) -> AlertDraft:
    values: dict[str, object] = {
        "buyer_id": buyer_id,
        "kind": "price_up",
        "severity": AlertSeverity.WARNING,
        "title": f"alert {key}",
        "dedup_key": key,
        "payload": {"percent": 12.5},
        "action": {"type": "open_product", "product_id": "p1"},
        "product_id": "p1",
    }
    values.update(overrides)
    return AlertDraft.model_validate(values)


def _add(engine: Engine, *drafts: AlertDraft) -> list[int]:
    with transaction(engine) as session:
        return [alert.id or 0 for alert in AlertRepository(session).add_many(drafts)]


def test_add_many_stores_only_new_buyer_key_pairs(buyers: Engine) -> None:
    first = _add(buyers, _draft("a", "k1"), _draft("a", "k2"), _draft("a", "k1"))
    assert len(first) == 2
    again = _add(buyers, _draft("a", "k1"), _draft("a", "k2"), _draft("b", "k1"))
    assert len(again) == 1  # only b's k1 is new: the key is unique per buyer

    with Session(buyers) as session:
        stored = AlertRepository(session).for_buyer("a")
    assert [alert.dedup_key for alert in stored] == ["k2", "k1"]  # newest first
    assert stored[0].severity == AlertSeverity.WARNING
    assert stored[0].action == {"type": "open_product", "product_id": "p1"}
    assert stored[0].payload == {"percent": 12.5}
    assert stored[0].created_at.tzinfo is not None


def test_a_buyer_never_lists_nor_acks_another_buyers_alert(buyers: Engine) -> None:
    (alert_id,) = _add(buyers, _draft("a", "k1"))
    with transaction(buyers) as session:
        repository = AlertRepository(session)
        assert repository.for_buyer("b") == []
        assert repository.since("b", 0) == []
        assert repository.count_unread("b") == 0
        with pytest.raises(NotFoundError) as caught:
            repository.ack("b", alert_id)
        assert caught.value.status_code == 404
        with pytest.raises(NotFoundError):
            repository.ack("a", alert_id + 1000)  # missing reads the same as foreign
    with Session(buyers) as session:
        assert AlertRepository(session).count_unread("a") == 1


def test_ack_marks_read_once(buyers: Engine) -> None:
    (alert_id,) = _add(buyers, _draft("a", "k1"))
    with transaction(buyers) as session:
        first = AlertRepository(session).ack("a", alert_id).read_at
    with transaction(buyers) as session:
        repository = AlertRepository(session)
        assert repository.ack("a", alert_id).read_at == first
        assert repository.count_unread("a") == 0
        assert repository.for_buyer("a", unread_only=True) == []


def test_paging_and_filters(buyers: Engine) -> None:
    ids = _add(
        buyers,
        *(_draft("a", f"price{n}") for n in range(5)),
        _draft("a", "gone", kind="delisted", severity=AlertSeverity.CRITICAL),
        _draft("b", "other"),
    )
    with Session(buyers) as session:
        repository = AlertRepository(session)
        page1 = repository.for_buyer("a", limit=4)
        page2 = repository.for_buyer("a", limit=4, offset=4)
        assert len(page1) == 4
        assert len(page2) == 2
        assert {a.id for a in page1} | {a.id for a in page2} == set(ids[:6])
        critical = repository.for_buyer("a", severity=AlertSeverity.CRITICAL)
        assert [a.kind for a in critical] == ["delisted"]
        assert len(repository.for_buyer("a", kinds=["price_up"])) == 5
        assert len(repository.for_buyer("a", after_id=ids[3])) == 2


def test_since_streams_new_alerts_oldest_first(buyers: Engine) -> None:
    first = _add(buyers, _draft("a", "k1"), _draft("a", "k2"))
    with Session(buyers) as session:
        cursor = AlertRepository(session).last_id("a")
    assert cursor == max(first)
    later = _add(buyers, _draft("b", "k3"), _draft("a", "k3"), _draft("a", "k4"))
    with Session(buyers) as session:
        streamed = AlertRepository(session).since("a", cursor)
        assert [a.id for a in streamed] == sorted(later[1:])
        assert AlertRepository(session).since("a", 0, limit=1)[0].id == min(first)


def test_supplier_snapshots_once_a_day_and_the_last_before_a_day(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(Supplier(id="s1", name="s1", kind="factory", integrity_score=90))
    with transaction(engine) as session:
        repository = SourceRepository(session)
        current = repository.current_signals(date(2026, 11, 20))
        assert [(s.supplier_id, s.integrity_score, s.active_products) for s in current] == [
            ("s1", 90, 0)
        ]
        assert repository.add_snapshots(current) == 1
        assert repository.add_snapshots(current) == 0
        later = SupplierSnapshot(
            supplier_id="s1",
            day=date(2026, 11, 22),
            integrity_score=80,
            quality_refund_rate=0.0,
            in_stock_products=0,
            active_products=0,
        )
        assert repository.add_snapshots([later]) == 1
    with Session(engine) as session:
        repository = SourceRepository(session)
        assert repository.previous_snapshots(date(2026, 11, 22))["s1"].integrity_score == 90
        assert repository.previous_snapshots(date(2026, 11, 23))["s1"].integrity_score == 80
        assert repository.previous_snapshots(date(2026, 11, 20)) == {}
