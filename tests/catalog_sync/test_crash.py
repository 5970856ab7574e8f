"""A sync process killed with SIGKILL mid-run loses nothing committed; the server's start-up
catch-up brings the index level with what was committed, and a re-run completes the feed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import CatalogEventKind
from sourcing.domain.tables import CatalogEvent, Product
from sourcing.retrieval.embedders import Embedder
from tests.catalog_sync.feedfiles import product, write_jsonl

ROWS = 30_000


def _count_products(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM product")).scalar_one())


def _committed_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(Product.id)).all())


def test_sigkill_mid_run_then_restart_and_rerun_has_every_product_once(
    sqlite_engine: Engine, tmp_path: Path, use_embedder: Embedder
) -> None:
    feed = write_jsonl(
        tmp_path / "feed.jsonl", [product(f"p{i:05d}", supplier_id="") for i in range(ROWS)]
    )
    env = os.environ | {
        "SOURCING_DATABASE_URL": str(sqlite_engine.url),
        "SOURCING_DATA_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "sourcing.app.cli", "sync", str(feed), "--batch-size", "100"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Generous: a loaded machine can take a minute just to start the process and import.
        deadline = time.monotonic() + 240
        committed = 0
        while committed == 0 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
            committed = _count_products(sqlite_engine)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
    killed_at = _count_products(sqlite_engine)
    assert 0 < killed_at < ROWS, f"kill landed at {killed_at} rows; the test needs a mid-run kill"
    assert killed_at % 100 == 0  # only whole batches were committed

    # The killed run re-indexes at its end, so its committed products are missing from the
    # index; a server start (its lifespan runs catch-up) embeds them, and then nothing drifts.
    settings = Settings(data_dir=tmp_path, database_url=str(sqlite_engine.url))
    container = build_container(settings, embedder=use_embedder)
    drift = container.search.indexer.drift()
    assert (drift.missing, drift.stale, drift.orphaned) == (_committed_ids(sqlite_engine), [], [])
    with TestClient(create_app(container=container)) as client:
        assert client.get("/healthz").status_code == 200
    assert container.search.indexer.drift().total == 0
    assert container.search.index.count() == killed_at
    container.close()

    rerun = sync_feed(sqlite_engine, feed, batch_size=1000)

    assert (rerun.added, rerun.unchanged) == (ROWS - killed_at, killed_at)
    with Session(sqlite_engine) as session:
        assert session.exec(select(func.count()).select_from(Product)).one() == ROWS
        added = session.exec(
            select(CatalogEvent.product_id).where(
                CatalogEvent.kind == CatalogEventKind.PRODUCT_ADDED
            )
        ).all()
        assert len(added) == len(set(added)) == ROWS
