"""The server's clock on APScheduler: the daily alert run (due reorders, festivals, supplier risk
and the day's supplier snapshots) queued once a day by whichever replica comes first, and the
rebuilds other replicas ran picked up every few seconds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, time

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from sourcing.app.jobs import ALERTS_JOB
from sourcing.domain.db import transaction
from sourcing.domain.repositories.jobs import JobRepository

_log = logging.getLogger("sourcing.schedule")
FOLLOW_EVERY_S = 5.0  # how soon a replica picks up statistics another one rebuilt


def queue_daily_alerts(engine: Engine, day: date) -> int | None:
    """The day's alert run as a job, unless queued already (here or by another replica)."""
    with transaction(engine) as session:
        job = JobRepository(session).submit_once(
            ALERTS_JOB, {"day": day.isoformat()}, dedup_key=f"{ALERTS_JOB}:{day.isoformat()}"
        )
        return None if job is None else job.id


class ServerSchedule:
    """What a server does on the clock. With `daily`, it queues the day's jobs at `at` (local
    time) and once at start, so a server that was down at that hour still runs the day's alerts.
    With `follow`, it calls it every `follow_every_s`: the rebuilds other replicas ran."""

    def __init__(
        self,
        engine: Engine,
        at: time,
        *,
        daily: bool = True,
        follow: Callable[[], None] | None = None,
        follow_every_s: float = FOLLOW_EVERY_S,
    ) -> None:
        self.engine, self.daily = engine, daily
        self.scheduler = BackgroundScheduler(daemon=True)
        if daily:
            self.scheduler.add_job(
                self._queue,
                CronTrigger(hour=at.hour, minute=at.minute),
                id="daily-alerts",
                coalesce=True,
                misfire_grace_time=3600,
            )
        if follow is not None:
            self.scheduler.add_job(
                follow, IntervalTrigger(seconds=follow_every_s), id="follow-rebuilds",
                coalesce=True, max_instances=1,
            )  # fmt: skip

    def start(self) -> None:
        self.scheduler.start()
        if self.daily:
            self.scheduler.add_job(self._queue, id="daily-alerts-at-start")  # runs now, once

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def _queue(self) -> None:
        try:
            job_id = queue_daily_alerts(self.engine, date.today())
        except Exception:  # the database away: the next day's run, or a restart, tries again
            _log.exception("queueing the daily alert run failed")
            return
        if job_id is not None:
            _log.info("queued the daily alert run as job %s", job_id)
