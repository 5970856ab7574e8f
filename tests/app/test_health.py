"""Liveness and readiness: /healthz calls nothing; /readyz checks the database, index and model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sourcing.app.container import (
    Container,
    SearchServices,
    build_assistant,
    build_engine,
    build_model,
    build_search,
)
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine
from sourcing.eval.bench_chat import free_port
from sourcing.retrieval.embedders import Embedder
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl


@pytest.fixture(scope="module")
def container(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[Container]:
    folder: Path = tmp_path_factory.mktemp("health")
    settings = Settings(data_dir=folder)
    engine = build_engine(settings)
    sync_feed(engine, write_jsonl(folder / "s.jsonl", SUPPLIERS), kind="suppliers")
    sync_feed(engine, write_jsonl(folder / "p.jsonl", [product("p1"), product("p2")]))
    search: SearchServices = build_search(settings, engine, embedder=use_embedder)
    built = Container(settings, engine, search, build_assistant(settings, engine, search))
    yield built
    built.close()


def test_ready_reports_each_check(container: Container) -> None:
    with TestClient(create_app(container=container)) as client:  # start-up indexes p1, p2
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"status": "ok"},
            "index": {"status": "ok", "products": 2},
            "model": {"status": "ok", "mode": "offline", "breaker": None},
        },
    }


def test_an_unreachable_database_makes_readiness_a_503_but_not_liveness(
    container: Container,
) -> None:
    dead = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    down = replace(container, engine=dead)
    with TestClient(create_app(container=down)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    dead.dispose()
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["message"] == "not ready: database"
    checks = error["details"]["checks"]
    assert checks["database"]["status"] == "failed"
    assert "OperationalError" in checks["database"]["error"]
    assert checks["index"] == {"status": "ok", "products": 2}


def test_the_model_breaker_is_reported_and_an_open_one_does_not_fail_readiness(
    container: Container,
) -> None:
    # Never called: the breaker is opened by hand, as failed calls would open it.
    endpoint = f"http://127.0.0.1:{free_port()}/v1"
    settings = container.settings.model_copy(update={"llm_base_url": endpoint, "llm_model": "m"})
    model = build_model(settings)
    assert model is not None
    with TestClient(create_app(container=replace(container, model=model))) as client:
        closed = client.get("/readyz").json()["checks"]["model"]
        while not model.chat.breaker_open:
            model.chat.breaker.record_failure()
        response = client.get("/readyz")
    asyncio.run(model.aclose())
    assert closed == {"status": "ok", "mode": "model", "breaker": "closed"}
    assert response.status_code == 200
    assert response.json()["checks"]["model"] == {
        "status": "ok",
        "mode": "offline",
        "breaker": "open",
    }


def test_once_shutdown_starts_new_requests_get_503_and_liveness_still_answers(
    container: Container,
) -> None:
    app = create_app(container=container)
    with TestClient(app) as client:
        app.state.shutdown.request()  # from this thread, as a signal handler would
        ready = client.get("/readyz")
        search = client.get("/v1/products/search", params={"q": "杯"})
        alive = client.get("/healthz")
    for refused in (ready, search):
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["error"]["code"] == "shutting_down"
    assert alive.status_code == 200
