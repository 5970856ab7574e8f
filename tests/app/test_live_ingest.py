"""The real server ingests feeds while it serves: a feed posted during chat streams is
searchable within seconds with its alerts raised, `sourcing sync` hands its feed to the running
server, and a server or worker killed mid-ingest finishes the job exactly once on restart."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from sourcing.app.container import System
from sourcing.app.jobs import FEED_JOB, FeedJob, apply_feed
from sourcing.app.settings import Settings
from sourcing.domain.db import transaction
from sourcing.domain.kinds import JobStatus, SyncMode
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.tables import Alert, CatalogEvent, Job, Product
from sourcing.retrieval.embedders import Embedder
from tests.app.served import QUICK_ANSWER, Served

SEARCHABLE_WITHIN_S = 30.0
JOB_TIMEOUT_S = 240.0
FOLLOWED = "s-0008"  # followed by several demo buyers: its new products raise alerts


def _demo_row(served: Served, product_id: str) -> dict[str, Any]:
    with (served.settings.demo_dir / "products.jsonl").open(encoding="utf-8") as feed:
        for line in feed:
            row = json.loads(line)
            if row["id"] == product_id:
                return dict(row)
    raise AssertionError(f"no {product_id} in the demo feed")


def _new_products(served: Served, count: int, title: str, first: int = 900_001) -> list[dict]:
    template = _demo_row(served, "p-000002")
    return [
        template | {"id": f"p-{first + n}", "title": f"{title} {n}号", "supplier_id": FOLLOWED}
        for n in range(count)
    ]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _found(client: httpx.Client, query: str) -> list[str]:
    response = client.get("/v1/products/search", params={"q": query, "limit": 20})
    assert response.status_code == 200, response.text
    return [hit["product_id"] for hit in response.json()["hits"]]


class _Chats:
    """Buyers chatting all along: every turn must answer in full."""

    def __init__(self, client: httpx.Client, streams: int = 3) -> None:
        self.client, self.stop, self.outcomes = client, threading.Event(), Counter[str]()
        self.threads = [threading.Thread(target=self._chat, daemon=True) for _ in range(streams)]
        for thread in self.threads:
            thread.start()

    def _chat(self) -> None:
        while not self.stop.is_set():
            try:
                ask = {"message": "义乌 收纳盒 20元以内", "stream": False}
                answer = self.client.post("/v1/chat", json=ask)
                whole = answer.status_code == 200 and answer.json()["text"] == "".join(QUICK_ANSWER)
                self.outcomes["ok" if whole else answer.text] += 1
            except httpx.HTTPError as exc:
                self.outcomes[repr(exc)] += 1

    def finish(self) -> Counter[str]:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        return self.outcomes


def test_a_feed_posted_while_buyers_chat_is_searchable_in_seconds_with_its_alerts(
    served: Served, tmp_path: Path
) -> None:
    # Three buyers' worth of turns and a poll every 0.1 s, all on one key: lift its limits.
    served.env |= {"SOURCING_RATE_LIMIT_PER_MINUTE": "100000",
                   "SOURCING_CHAT_RATE_LIMIT_PER_MINUTE": "100000"}  # fmt: skip
    process, client = served.start()
    admin = {"Authorization": f"Bearer {served.admin}"}
    try:
        assert client.put("/v1/watches/p-000001").status_code in (200, 201)
        assert "p-000001" not in _found(client, "马桶刷 2元以内")
        repriced = _demo_row(served, "p-000001") | {
            "price": "1.00",
            "price_tiers": [{"min_quantity": 50, "price": "1.00"}],
        }
        added = {
            "p-900001": "磁吸无线充电宝",
            "p-900002": "宠物自动喂食器",
            "p-900003": "桌面静音小风扇",
        }
        template = _new_products(served, 1, "")[0]
        new = [template | {"id": pid, "title": title} for pid, title in added.items()]
        rows = [repriced, *new]
        chats = _Chats(client)
        posted = time.monotonic()
        job = client.post(
            "/v1/feeds",
            params={"source": "products", "mode": "delta"},
            content=_jsonl(tmp_path / "feed.jsonl", rows).read_bytes(),
            headers=admin | {"Content-Type": "application/x-ndjson"},
        )
        assert job.status_code == 202, job.text
        while any(pid not in _found(client, title) for pid, title in added.items()):
            assert time.monotonic() - posted < SEARCHABLE_WITHIN_S, "not searchable in time"
            time.sleep(0.1)
        print(f"searchable {time.monotonic() - posted:.2f} s after the POST")  # docs/jobs.md
        assert "p-000001" in _found(client, "马桶刷 2元以内")
        outcomes = chats.finish()
        assert set(outcomes) == {"ok"}, outcomes
        assert outcomes["ok"] >= 3, outcomes

        events = client.get(job.json()["links"]["events"], headers=admin, params={"wait_s": 60})
        done = json.loads(events.text.split("event: done\ndata: ", 1)[1].split("\n", 1)[0])
        assert done["status"] == "completed", done
        assert (done["report"]["sync"]["added"], done["report"]["sync"]["updated"]) == (3, 1)
        kinds = {alert["kind"] for alert in client.get("/v1/alerts").json()["alerts"]}
        assert {"price_down", "new_arrival"} <= kinds, kinds

        # `sourcing sync` on the same data hands its feed to this server and follows the job.
        chair = _new_products(served, 1, "户外折叠露营椅", first=900_100)
        later = _jsonl(tmp_path / "later.jsonl", chair)
        synced = served.run("sync", str(later), "--mode", "delta", "--source", "products")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "handing the feed to the server" in synced.stdout
        assert "added" in synced.stdout
        assert "p-900100" in _found(client, "户外折叠露营椅")
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert not (served.settings.data_dir / "server.json").exists()  # withdrawn at exit


def _tally(settings: Settings) -> dict[str, Any]:
    """What an ingest leaves: products, catalog events by kind, alerts by buyer and kind."""
    with System(settings) as system, Session(system.engine) as session:
        products = session.exec(select(func.count()).select_from(Product)).one()
        events = Counter(session.exec(select(CatalogEvent.kind)).all())
        alerts = Counter(session.exec(select(Alert.buyer_id, Alert.kind)).all())
        drift = system.search.indexer.drift()
        points = system.search.index.count()
    return {"products": products, "events": events, "alerts": alerts, "points": points,
            "drift": drift.total}  # fmt: skip


def _job(settings: Settings, job_id: int) -> Job:
    with System(settings) as system, Session(system.engine) as session:
        return JobRepository(session).get(job_id)


def _wait_for(settings: Settings, job_id: int, status: JobStatus, after_s: float = 0.0) -> Job:
    deadline, since = time.monotonic() + JOB_TIMEOUT_S, None
    while time.monotonic() < deadline:
        job = _job(settings, job_id)
        if job.status == status:
            since = since or time.monotonic()
            if time.monotonic() - since >= after_s:
                return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} was not {status} within {JOB_TIMEOUT_S} s")


@pytest.mark.parametrize("runner", ["serve", "worker"])
def test_a_runner_killed_mid_ingest_finishes_the_job_exactly_once_on_restart(
    served: Served, tmp_path: Path, use_embedder: Embedder, runner: str
) -> None:
    feed = _jsonl(tmp_path / "big.jsonl", _new_products(served, 3000, "硅胶折叠水杯"))
    reference = Settings(data_dir=tmp_path / "reference")
    shutil.copytree(served.settings.data_dir, reference.data_dir)
    job = FeedJob(str(feed), "products", SyncMode.DELTA, "merchant-feed")
    with System(served.settings) as system, transaction(system.engine) as session:
        job_id = JobRepository(session).submit(FEED_JOB, job.payload()).id
    assert job_id is not None
    served.env["SOURCING_JOB_LEASE_S"] = "3"

    def start() -> Any:
        return served.start()[0] if runner == "serve" else served.spawn("worker")

    process = start()
    _wait_for(served.settings, job_id, JobStatus.RUNNING, after_s=1.5)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert _job(served.settings, job_id).status == JobStatus.RUNNING, "it finished before the kill"

    process = start()
    try:
        finished = _wait_for(served.settings, job_id, JobStatus.COMPLETED)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert finished.attempts == 2

    with System(reference, embedder=use_embedder) as system:
        apply_feed(system.engine, system.bus(), feed, kind="products", mode=SyncMode.DELTA,
                   source="merchant-feed")  # fmt: skip
    ingested, uninterrupted = _tally(served.settings), _tally(reference)
    extra = ingested["alerts"] - uninterrupted["alerts"]
    missing = uninterrupted["alerts"] - ingested["alerts"]
    assert not extra, f"alerts the uninterrupted run did not raise: {extra}"
    assert not missing, f"alerts the interrupted run lost: {missing}"
    assert ingested == uninterrupted
    assert ingested["drift"] == 0
    assert uninterrupted["alerts"], "the followed supplier's new products raise alerts"
    with System(served.settings) as system, Session(system.engine) as session:
        jobs = session.exec(select(Job).where(col(Job.kind) == FEED_JOB)).all()
    assert [j.status for j in jobs] == [JobStatus.COMPLETED]
