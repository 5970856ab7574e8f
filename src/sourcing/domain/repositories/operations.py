"""SQL for operational gauges read at scrape time: sync runs by status, alerts by severity."""

from __future__ import annotations

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from sourcing.domain.tables import Alert, SyncRun


class OperationsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ping(self) -> None:
        """Raises unless the database answers a trivial query."""
        self.session.execute(text("SELECT 1"))

    def sync_runs_by_status(self) -> dict[str, int]:
        query = select(SyncRun.status, func.count()).group_by(SyncRun.status)
        return {str(status): int(count) for status, count in self.session.exec(query)}

    def alerts_by_severity(self) -> dict[tuple[str, bool], int]:
        """Alert counts keyed by (severity, unread)."""
        unread = col(Alert.read_at).is_(None)
        query = select(Alert.severity, unread, func.count()).group_by(Alert.severity, unread)
        return {
            (str(severity), bool(is_unread)): int(count)
            for severity, is_unread, count in self.session.exec(query)
        }
