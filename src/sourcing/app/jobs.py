"""Jobs the server (or `sourcing worker`) runs while it serves: feeds, order imports, rebuilds
and alert runs, with the index the process owns, whoever submitted them; a restart finishes
what a kill left."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sourcing.agents.alerts import AlertRunReport, run_alert_jobs, scheduled_sources
from sourcing.catalog_sync.bus import CatalogBus, CatalogChanged, Changed
from sourcing.catalog_sync.columns import FeedKind
from sourcing.catalog_sync.order_history import import_order_history
from sourcing.catalog_sync.sync import SyncReport, sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.kinds import JobStatus, SyncMode
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.tables import Job
from sourcing.retrieval.indexer import IndexReport
from sourcing.retrieval.search import ProductSearch

FEED_JOB = "feed"
ORDERS_JOB = "orders"  # an order-history CSV imported, then the co-purchase statistics
COPURCHASE_JOB = "copurchase"  # the statistics rebuilt from the orders and swapped in live
KNOWLEDGE_JOB = "knowledge"  # the knowledge base reloaded from the database
ALERTS_JOB = "alerts"  # reorders and festivals due, supplier risk, and today's snapshots
JOB_KINDS = (FEED_JOB, ORDERS_JOB, COPURCHASE_JOB, KNOWLEDGE_JOB, ALERTS_JOB)
RENEW_EVERY_S = 1.0  # progress and the lease are written this often (or a third of the lease)
POLL_S = 0.5
_log = logging.getLogger("sourcing.jobs")


def apply_feed(
    engine: Engine,
    bus: CatalogBus,
    path: Path,
    *,
    kind: FeedKind,
    mode: SyncMode = SyncMode.SNAPSHOT,
    source: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    column_map: Mapping[str, str] | None = None,
    only_supplier: str | None = None,
    run_id: int | None = None,
    redo: bool = False,
) -> tuple[SyncReport, AlertRunReport | None]:
    """A feed's whole consequence, the same from the CLI and from a job: the sync, then the bus
    (re-index, alerts …) for the run's events; a redone job passes the `run_id` its first
    attempt started, so the run holds the events of both attempts."""
    result = sync_feed(
        engine,
        path,
        kind=kind,
        mode=mode,
        source=source,
        batch_size=batch_size,
        progress=progress,
        column_map=column_map,
        only_supplier=only_supplier,
        run_id=run_id,
    )
    change = CatalogChanged(kind, result, redo=redo)
    reports = bus.publish(change)
    if isinstance(indexed := reports.get("index"), IndexReport):
        result.indexed = indexed.embedded
    alerts = reports.get("alerts")
    return result, alerts if isinstance(alerts, AlertRunReport) else None


@dataclass(frozen=True)
class FeedJob:
    """What a feed job's payload holds."""

    path: str
    kind: FeedKind
    mode: SyncMode
    source: str
    only_supplier: str | None = None
    column_map: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "mode": str(self.mode),
            "source": self.source,
            "only_supplier": self.only_supplier,
            "column_map": dict(self.column_map),
        }

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> FeedJob:
        return cls(
            path=str(payload["path"]),
            kind="suppliers" if payload["kind"] == "suppliers" else "products",
            mode=SyncMode(payload["mode"]),
            source=str(payload["source"]),
            only_supplier=payload.get("only_supplier"),
            column_map=dict(payload.get("column_map") or {}),
        )


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int

    @classmethod
    def of(cls, job: Job) -> _Claimed:
        assert job.id is not None
        return cls(job.id, job.kind, dict(job.payload), job.attempts)


class _Heartbeat:
    """Renews the running job's lease (with the rows read so far) while its process lives, so
    a long step (embedding 100k products) never looks like a dead claimant; a killed process
    stops renewing, and its job is claimed again once the lease runs out."""

    def __init__(self, engine: Engine, job: _Claimed, lease: timedelta) -> None:
        self.engine, self.job, self.lease = engine, job, lease
        self.rows, self._stop = 0, threading.Event()
        every = min(RENEW_EVERY_S, lease.total_seconds() / 3)
        self._thread = threading.Thread(target=self._beat, args=(every,), daemon=True)
        self._thread.start()

    def note(self, rows: int) -> None:
        self.rows = rows

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                with transaction(self.engine) as session:
                    job, repo = self.job, JobRepository(session)
                    held = repo.renew(job.id, job.attempts, self.rows, self.lease)
            except Exception:  # the database away for a moment: the next beat tries again
                _log.exception("renewing the lease of job %s failed", self.job.id)
                continue
            if not held:
                _log.warning("job %s was taken over by another runner", self.job.id)
                return


class JobRunner:
    """One thread claiming and running jobs until stopped."""

    def __init__(
        self,
        engine: Engine,
        bus: CatalogBus,
        search: ProductSearch | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        # The lease is renewed with progress; a claimant silent this long is gone (killed).
        self.engine, self.bus, self.search, self.lease = engine, bus, search, lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sourcing-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run_once(self) -> bool:
        """Claim one job and run it; False when there was none."""
        with transaction(self.engine) as session:
            job = JobRepository(session).claim(self.lease)
            claimed = None if job is None else _Claimed.of(job)
        if claimed is None:
            return False
        heartbeat = _Heartbeat(self.engine, claimed, self.lease)
        try:
            report = self._run(claimed, heartbeat)
        except Exception as exc:
            _log.exception("job %s failed", claimed.id)
            heartbeat.stop()
            self._finish(claimed.id, JobStatus.FAILED, {}, f"{type(exc).__name__}: {exc}")
        else:
            heartbeat.stop()
            self._finish(claimed.id, JobStatus.COMPLETED, report)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the database away for a moment: try again after a pause
                _log.exception("claiming a job failed")
                ran = False
            if not ran:
                self._stop.wait(POLL_S)

    def _run(self, job: _Claimed, heartbeat: _Heartbeat) -> dict[str, Any]:
        if job.kind == FEED_JOB:
            return self._feed(job, heartbeat)
        if job.kind == ORDERS_JOB:
            imported = import_order_history(self.engine, Path(str(job.payload["path"])))
            return {"orders": imported.model_dump(mode="json")} | self._publish("orders")
        if job.kind == COPURCHASE_JOB:
            return self._publish("orders")
        if job.kind == KNOWLEDGE_JOB:
            return self._publish("reference")
        if job.kind == ALERTS_JOB:
            day = date.fromisoformat(str(job.payload["day"])) if job.payload.get("day") else None
            sources = scheduled_sources(today=day)
            alerts = run_alert_jobs(self.engine, self.search, sources)
            return {"alerts": alerts.model_dump(mode="json")}
        raise ValueError(f"no such job kind {job.kind!r}")

    def _publish(self, what: Changed) -> dict[str, Any]:
        reports = self.bus.publish(CatalogChanged(what))
        return {name: report.model_dump(mode="json") for name, report in reports.items()}

    def _feed(self, job: _Claimed, heartbeat: _Heartbeat) -> dict[str, Any]:
        feed, payload = FeedJob.of(job.payload), job.payload
        if "run_id" not in payload:  # the first attempt: the run every attempt writes to
            with transaction(self.engine) as session:
                run = CatalogRepository(session).start_sync_run(
                    source=feed.source, path=Path(feed.path).name, kind=feed.kind, mode=feed.mode
                )
                payload["run_id"] = run.id
                JobRepository(session).set_payload(job.id, payload)
        result, alerts = apply_feed(
            self.engine,
            self.bus,
            Path(feed.path),
            kind=feed.kind,
            mode=feed.mode,
            source=feed.source,
            progress=heartbeat.note,
            only_supplier=feed.only_supplier,
            column_map=feed.column_map,
            run_id=int(payload["run_id"]),
            redo=job.attempts > 1,
        )
        return {
            "sync": result.model_dump(mode="json", exclude={"changed_ids"}),
            "alerts": alerts.model_dump(mode="json") if alerts else None,
        }

    def _finish(
        self, job_id: int, status: JobStatus, report: dict[str, Any], error: str = ""
    ) -> None:
        with transaction(self.engine) as session:
            JobRepository(session).finish(job_id, status, report, error)


def job_view(job: Job) -> dict[str, Any]:
    shown = job.model_dump(mode="json", exclude={"payload", "lease_until"})
    if job.kind == FEED_JOB:
        shown |= {"source": job.payload.get("source"), "feed_kind": job.payload.get("kind")}
    return shown
