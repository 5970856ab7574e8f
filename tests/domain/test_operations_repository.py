"""OperationsRepository on SQLite and PostgreSQL: sync runs by status, alerts by severity/unread."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.db import transaction
from sourcing.domain.kinds import AlertSeverity, BuyerChannel, SyncMode, SyncStatus
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository
from sourcing.domain.repositories.operations import OperationsRepository
from sourcing.domain.tables import Buyer, SyncRun
from sourcing.domain.types import utcnow


def test_counts_group_sync_runs_and_alerts(engine: Engine) -> None:
    with Session(engine) as session:
        assert OperationsRepository(session).sync_runs_by_status() == {}
        assert OperationsRepository(session).alerts_by_severity() == {}
    with transaction(engine) as session:
        session.add(Buyer(id="a", name="a", channel=BuyerChannel.TAOBAO))
        for status in (SyncStatus.COMPLETED, SyncStatus.COMPLETED, SyncStatus.FAILED):
            session.add(SyncRun(feed_source="f", mode=SyncMode.SNAPSHOT, status=status))
    with transaction(engine) as session:
        drafts = [
            AlertDraft(
                buyer_id="a", kind="price_up", title="t", dedup_key=str(i), severity=severity
            )
            for i, severity in enumerate(
                [AlertSeverity.WARNING, AlertSeverity.WARNING, AlertSeverity.CRITICAL]
            )
        ]
        first = AlertRepository(session).add_many(drafts)[0]
        first.read_at = utcnow()
    with Session(engine) as session:
        repo = OperationsRepository(session)
        assert repo.sync_runs_by_status() == {"completed": 2, "failed": 1}
        assert repo.alerts_by_severity() == {
            ("warning", False): 1,
            ("warning", True): 1,
            ("critical", True): 1,
        }
