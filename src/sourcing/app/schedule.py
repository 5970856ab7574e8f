"""The server's daily jobs on APScheduler: the alert run (due reorders, festivals, supplier risk
and the day's supplier snapshots) is queued once a day, by whichever replica comes first."""

from __future__ import annotations

import logging
from datetime import date, time

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from sourcing.app.jobs import ALERTS_JOB
from sourcing.domain.db import transaction
from sourcing.domain.repositories.jobs import JobRepository

_log = logging.getLogger("sourcing.schedule")


def queue_daily_alerts(engine: Engine, day: date) -> int | None:
    """The day's alert run as a job, unless queued already (here or by another replica)."""
    with transaction(engine) as session:
        job = JobRepository(session).submit_once(
            ALERTS_JOB, {"day": day.isoformat()}, dedup_key=f"{ALERTS_JOB}:{day.isoformat()}"
        )
        return None if job is None else job.id


class DailyJobs:
    """Queues the day's jobs at `at` (the server's local time) and once at start, so a server
    that was down at that hour still runs the day's alerts when it comes back."""

    def __init__(self, engine: Engine, at: time) -> None:
        self.engine = engine
        self.scheduler = BackgroundScheduler(daemon=True)
        self.scheduler.add_job(
            self._queue,
            CronTrigger(hour=at.hour, minute=at.minute),
            id="daily-alerts",
            coalesce=True,
            misfire_grace_time=3600,
        )

    def start(self) -> None:
        self.scheduler.start()
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
