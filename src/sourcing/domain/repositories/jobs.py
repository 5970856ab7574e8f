"""Durable jobs: submit, claim under a lease (one claimant, even across replicas), finish."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import JobStatus
from sourcing.domain.tables import Job
from sourcing.domain.types import utcnow


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def submit(self, kind: str, payload: dict[str, Any], submitted_by: str = "") -> Job:
        job = Job(kind=kind, payload=payload, submitted_by=submitted_by)
        self.session.add(job)
        self.session.flush()
        return job

    def submit_once(self, kind: str, payload: dict[str, Any], dedup_key: str) -> Job | None:
        """Queue the job unless one with `dedup_key` exists (another replica queued it first:
        the unique key decides, inside a savepoint); None when it did."""
        existing = self.session.exec(select(Job).where(col(Job.dedup_key) == dedup_key)).first()
        if existing is not None:
            return None
        try:
            with self.session.begin_nested():
                job = Job(kind=kind, payload=payload, submitted_by="schedule", dedup_key=dedup_key)
                self.session.add(job)
        except IntegrityError:
            return None
        return job

    def latest_completed(self, kinds: Sequence[str]) -> dict[str, int]:
        """The id of the newest completed job of each kind (kinds never completed are absent)."""
        rows = self.session.execute(
            sa_select(col(Job.kind), func.max(col(Job.id)))
            .where(col(Job.kind).in_(kinds), col(Job.status) == JobStatus.COMPLETED)
            .group_by(col(Job.kind))
        )
        return {str(kind): int(latest) for kind, latest in rows}

    def get(self, job_id: int) -> Job:
        job = self.session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        return job

    def claim(self, lease: timedelta, now: datetime | None = None) -> Job | None:
        """The oldest queued job, or a running one whose claimant stopped renewing its lease
        (killed mid-job): marked running under a new lease. The conditional UPDATE is what
        makes one claimant win; on PostgreSQL SKIP LOCKED lets replicas pass each other by."""
        now = now or utcnow()
        claimable = or_(
            col(Job.status) == JobStatus.QUEUED,
            (col(Job.status) == JobStatus.RUNNING) & (col(Job.lease_until) < now),
        )
        candidate = self.session.exec(
            select(Job.id)
            .where(claimable)
            .order_by(col(Job.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if candidate is None:
            return None
        won = self.session.execute(
            update(Job)
            .where(col(Job.id) == candidate, claimable)
            .values(
                status=JobStatus.RUNNING,
                started_at=now,
                lease_until=now + lease,
                attempts=col(Job.attempts) + 1,
            )
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return None
        self.session.flush()
        return self.session.get(Job, candidate, populate_existing=True)

    def set_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        self.session.execute(update(Job).where(col(Job.id) == job_id).values(payload=payload))

    def renew(self, job_id: int, attempt: int, progress: int, lease: timedelta) -> bool:
        """Extends the lease of the claimant on its `attempt`; False once another claimant
        took the job over (this one was silent past its lease)."""
        renewed = self.session.execute(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.attempts) == attempt,
                col(Job.status) == JobStatus.RUNNING,
            )
            .values(progress=progress, lease_until=utcnow() + lease)
        )
        return bool(renewed.rowcount)  # type: ignore[attr-defined]

    def finish(
        self, job_id: int, status: JobStatus, report: dict[str, Any], error: str = ""
    ) -> None:
        self.session.execute(
            update(Job)
            .where(col(Job.id) == job_id)
            .values(
                status=status, report=report, error=error, finished_at=utcnow(), lease_until=None
            )
        )
