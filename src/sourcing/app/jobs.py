"""Jobs the server runs while it serves: a feed ingest syncs, re-indexes and raises alerts with
the index the server owns, whoever submitted it; a restart finishes what a kill left."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sourcing.agents.alerts import AlertRunReport, run_alert_jobs
from sourcing.app.container import SearchServices
from sourcing.catalog_sync.columns import FeedKind
from sourcing.catalog_sync.sync import SyncReport, sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.kinds import JobStatus, SyncMode
from sourcing.domain.repositories.alerts import SourceRepository
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.tables import Job

FEED_JOB = "feed"
LEASE = timedelta(seconds=60)  # renewed with progress; a claimant silent this long is gone
RENEW_EVERY_ROWS = 500
POLL_S = 0.5
_log = logging.getLogger("sourcing.jobs")


def apply_feed(
    engine: Engine,
    search: SearchServices | None,
    path: Path,
    *,
    kind: FeedKind,
    mode: SyncMode = SyncMode.SNAPSHOT,
    source: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    column_map: Mapping[str, str] | None = None,
    only_supplier: str | None = None,
    raise_alerts: bool = True,
    alerts_after_event_id: int | None = None,
) -> tuple[SyncReport, AlertRunReport | None]:
    """A feed's whole consequence, the same from the CLI and from a job: the sync, the
    changed products re-embedded, and the alerts the change raises (not for a demo build):
    for this run's events, or for every event after `alerts_after_event_id` (a redone job's
    first attempt wrote some of them)."""
    result = sync_feed(
        engine,
        path,
        kind=kind,
        mode=mode,
        source=source,
        batch_size=batch_size,
        progress=progress,
        indexer=search.indexer if search is not None else None,
        column_map=column_map,
        only_supplier=only_supplier,
    )
    if search is not None and kind == "suppliers":
        # Supplier changes alter their products' filters and trust signals in the index.
        result.indexed = search.indexer.catch_up().embedded
    alerts = run_alert_jobs(
        engine,
        search.search if search else None,
        since_event_id=alerts_after_event_id,
        sync_run_id=None if alerts_after_event_id is not None else result.run_id,
    )
    return result, alerts


@dataclass(frozen=True)
class FeedJob:
    """What a feed job's payload holds."""

    path: str
    kind: FeedKind
    mode: SyncMode
    source: str
    only_supplier: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "mode": str(self.mode),
            "source": self.source,
            "only_supplier": self.only_supplier,
        }

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> FeedJob:
        return cls(
            path=str(payload["path"]),
            kind="suppliers" if payload["kind"] == "suppliers" else "products",
            mode=SyncMode(payload["mode"]),
            source=str(payload["source"]),
            only_supplier=payload.get("only_supplier"),
        )


class JobRunner:
    """One thread claiming and running jobs until stopped."""

    def __init__(self, engine: Engine, search: SearchServices | None) -> None:
        self.engine, self.search = engine, search
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
            job = JobRepository(session).claim(LEASE)
            claimed = None if job is None else (job.id, job.kind, dict(job.payload))
        if claimed is None:
            return False
        job_id, kind, payload = claimed
        assert job_id is not None
        try:
            report = self._run(job_id, kind, payload)
        except Exception as exc:
            _log.exception("job %s failed", job_id)
            self._finish(job_id, JobStatus.FAILED, {}, f"{type(exc).__name__}: {exc}")
        else:
            self._finish(job_id, JobStatus.COMPLETED, report)
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

    def _run(self, job_id: int, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if kind != FEED_JOB:
            raise ValueError(f"no such job kind {kind!r}")
        feed = FeedJob.of(payload)
        if "events_after" not in payload:  # the first attempt: where its events will start
            with transaction(self.engine) as session:
                payload["events_after"] = SourceRepository(session).last_event_id()
                JobRepository(session).set_payload(job_id, payload)

        def progress(rows: int) -> None:
            if rows % RENEW_EVERY_ROWS == 0:
                with transaction(self.engine) as session:
                    JobRepository(session).renew(job_id, rows, LEASE)

        result, alerts = apply_feed(
            self.engine,
            self.search,
            Path(feed.path),
            kind=feed.kind,
            mode=feed.mode,
            source=feed.source,
            progress=progress,
            only_supplier=feed.only_supplier,
            alerts_after_event_id=int(payload["events_after"]),
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
    return job.model_dump(mode="json", exclude={"payload", "lease_until"}) | {
        "source": job.payload.get("source"),
        "feed_kind": job.payload.get("kind"),
    }
