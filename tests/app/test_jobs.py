"""Durable jobs on SQLite and PostgreSQL: one claimant, a dead claimant's job redone whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from sourcing.app.jobs import FEED_JOB, FeedJob, JobRunner
from sourcing.app.subscribers import build_bus
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.kinds import CatalogEventKind, JobStatus, SyncMode
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.tables import CatalogEvent, Product
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl

LEASE = timedelta(seconds=60)


def _submit(engine: Engine, feed: Path) -> int:
    with transaction(engine) as session:
        job = FeedJob(str(feed), "products", SyncMode.SNAPSHOT, "jobs-test")
        submitted = JobRepository(session).submit(FEED_JOB, job.payload())
        assert submitted.id is not None
        return submitted.id


def test_a_job_has_one_claimant_until_its_lease_runs_out(engine: Engine, tmp_path: Path) -> None:
    job_id = _submit(engine, tmp_path / "none.jsonl")
    with transaction(engine) as session:
        first = JobRepository(session).claim(LEASE)
    assert first is not None
    assert (first.id, first.status, first.attempts) == (job_id, JobStatus.RUNNING, 1)
    with transaction(engine) as session:
        assert JobRepository(session).claim(LEASE) is None
        later = JobRepository(session).claim(LEASE, now=first.lease_until + timedelta(seconds=1))
    assert later is not None
    assert (later.id, later.attempts) == (job_id, 2)
    with transaction(engine) as session:  # the first claimant, back too late, holds nothing
        assert not JobRepository(session).renew(job_id, 1, 10, LEASE)
        assert JobRepository(session).renew(job_id, 2, 10, LEASE)
    with transaction(engine) as session:
        JobRepository(session).finish(job_id, JobStatus.COMPLETED, {})
    with transaction(engine) as session:
        assert JobRepository(session).claim(LEASE, now=later.started_at + LEASE * 10) is None


class _Killed(BaseException):
    """Stands in for kill -9: nothing after it runs in that process."""


def test_a_job_killed_mid_feed_is_finished_by_the_next_claimant(
    engine: Engine, tmp_path: Path
) -> None:
    sync_feed(engine, write_jsonl(tmp_path / "suppliers.jsonl", SUPPLIERS), kind="suppliers")
    feed = write_jsonl(tmp_path / "feed.jsonl", [product(f"k{i}") for i in range(6)])
    job_id = _submit(engine, feed)
    with transaction(engine) as session:  # a claimant whose lease has already run out
        assert JobRepository(session).claim(timedelta(seconds=-1)) is not None

    def kill_after_two_rows(rows: int) -> None:
        if rows == 2:
            raise _Killed

    with pytest.raises(_Killed):  # it got two batches of one row in before it died
        sync_feed(engine, feed, source="jobs-test", batch_size=1, progress=kill_after_two_rows)
    assert JobRunner(engine, build_bus(engine, None, None)).run_once()
    with Session(engine) as session:
        job = JobRepository(session).get(job_id)
        products = session.exec(select(func.count()).select_from(Product)).one()
        added = session.exec(
            select(func.count())
            .select_from(CatalogEvent)
            .where(CatalogEvent.kind == CatalogEventKind.PRODUCT_ADDED)
        ).one()
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert job.report["sync"]["added"] == 4  # the two the dead claimant committed stay
    assert (products, added) == (6, 6)  # exactly what an uninterrupted run leaves
    assert not JobRunner(engine, build_bus(engine, None, None)).run_once()  # nothing left to run
