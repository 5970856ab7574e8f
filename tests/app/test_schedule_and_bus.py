"""The daily schedule queues one alert run a day across replicas; jobs publish to the catalog
bus, whose subscribers swap rebuilt co-purchase statistics and knowledge into the live skills."""

from __future__ import annotations

import time
from datetime import date, timedelta
from datetime import time as clock
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sourcing.app.container import System
from sourcing.app.jobs import ALERTS_JOB, COPURCHASE_JOB, KNOWLEDGE_JOB, ORDERS_JOB, JobRunner
from sourcing.app.schedule import ServerSchedule, queue_daily_alerts
from sourcing.app.settings import Settings
from sourcing.app.subscribers import RebuildFollower
from sourcing.domain.db import make_engine, transaction
from sourcing.domain.kinds import JobStatus
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.tables import Job
from sourcing.eval.bench_chat import free_port
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo


def _jobs(engine: Engine, kind: str) -> list[Job]:
    with Session(engine) as session:
        return list(session.exec(select(Job).where(col(Job.kind) == kind)).all())


def test_replicas_queue_one_alert_run_a_day(engine: Engine) -> None:
    day = date(2026, 12, 5)
    first = queue_daily_alerts(engine, day)
    assert first is not None
    assert queue_daily_alerts(engine, day) is None  # another replica, the same day
    assert queue_daily_alerts(engine, day + timedelta(days=1)) not in (None, first)
    assert [job.dedup_key for job in _jobs(engine, ALERTS_JOB)] == [
        "alerts:2026-12-05",
        "alerts:2026-12-06",
    ]


def test_a_starting_server_queues_today_s_run_once(engine: Engine) -> None:
    for _ in range(2):  # two replicas starting, or one restarting
        daily = ServerSchedule(engine, clock(6, 0))
        daily.start()
        deadline = time.monotonic() + 10
        while not _jobs(engine, ALERTS_JOB) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        daily.stop()
    assert [job.payload for job in _jobs(engine, ALERTS_JOB)] == [{"day": date.today().isoformat()}]


def _run(system: System, kind: str, payload: dict[str, str] | None = None) -> Job:
    with transaction(system.engine) as session:
        job_id = JobRepository(session).submit(kind, payload or {}).id
    runner = JobRunner(system.engine, system.bus(), system.search.search)
    assert runner.run_once()
    with Session(system.engine) as session:
        job = JobRepository(session).get(job_id or 0)
    assert job.status == JobStatus.COMPLETED, job.error
    return job


def test_jobs_swap_rebuilt_statistics_and_knowledge_into_the_live_skills(
    tmp_path: Path, use_embedder: Embedder
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    load_demo(settings).dispose()
    with System(settings, embedder=use_embedder) as system:
        skills = system.skills
        assert skills.copurchase.basket_count == 0  # nothing built yet
        before = skills.knowledge
        job = _run(system, COPURCHASE_JOB)
        assert job.report["copurchase"]["basket_count"] > 0
        assert skills.copurchase.basket_count == job.report["copurchase"]["basket_count"]
        assert _run(system, KNOWLEDGE_JOB).report["knowledge"]["documents"] > 0
        assert skills.knowledge is not before

        orders = tmp_path / "orders.csv"
        orders.write_text(
            "buyer,product,date,quantity,unit price\n"
            "b-0001,p-000001,2026-11-20,100,3.30\n"
            "b-0001,p-000002,2026-11-20,50,5.00\n",
            encoding="utf-8",
        )
        imported = _run(system, ORDERS_JOB, {"path": str(orders)}).report
        assert imported["orders"]["imported_rows"] == 2, imported
        assert imported["copurchase"]["basket_count"] == skills.copurchase.basket_count


def test_a_replica_picks_up_the_statistics_and_knowledge_another_one_rebuilt(
    tmp_path: Path, use_embedder: Embedder
) -> None:
    settings = Settings(data_dir=tmp_path / "a")
    load_demo(settings).dispose()
    # Replica B: the same database, its own (embedded) index.
    other = Settings(data_dir=tmp_path / "b", database_url=settings.resolved_database_url)
    with System(settings, embedder=use_embedder) as a, System(other, embedder=use_embedder) as b:
        follow = RebuildFollower(b.engine, b.skills)
        follow.start()
        follow()  # nothing rebuilt yet: nothing changes
        assert b.skills.copurchase.basket_count == 0
        knowledge = b.skills.knowledge
        built = _run(a, COPURCHASE_JOB).report["copurchase"]["basket_count"]
        _run(a, KNOWLEDGE_JOB)
        assert b.skills.copurchase.basket_count == 0  # until B looks
        follow()
        assert b.skills.copurchase.basket_count == built > 0
        assert b.skills.knowledge is not knowledge
        swapped = b.skills.copurchase
        follow()  # seen already: not loaded again
        assert b.skills.copurchase is swapped


def test_a_follower_with_the_database_away_waits_for_it_and_swaps_nothing(
    tmp_path: Path, use_embedder: Embedder
) -> None:
    settings = Settings(data_dir=tmp_path)
    load_demo(settings).dispose()
    with System(settings, embedder=use_embedder) as system:
        skills = system.skills
        before = skills.copurchase
        dead = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
        follow = RebuildFollower(dead, skills)
        follow.start()  # logged, not raised: the server still starts and reports not ready
        follow()
        assert follow.seen is None
        assert skills.copurchase is before
