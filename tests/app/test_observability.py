"""Structured logs (request ids, no secrets) and Prometheus metrics over a model-mode app."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import respx
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, func, select

from sourcing.app.container import Container, build_container
from sourcing.app.main import create_app
from sourcing.app.observability import configure_logging
from sourcing.app.settings import Settings
from sourcing.domain.kinds import AlertSeverity, ApiRole
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.tables import SyncRun
from sourcing.domain.types import utcnow
from sourcing.retrieval.embedders import Embedder
from tests.agents import openai_wire as wire
from tests.app.demo_data import load_demo

BASE_URL = "http://llm.test/v1"
UPSTREAM_KEY = "sk-upstream-never-logged"
SCRAPER_TOKEN = "scrape-world"


@dataclass(frozen=True)
class World:
    client: TestClient
    container: Container
    secret: str
    key_id: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("observability"),
        llm_base_url=BASE_URL,
        llm_model="m",
        llm_api_key=UPSTREAM_KEY,
        llm_max_retries=0,
        metrics_token=SCRAPER_TOKEN,
    )
    engine = load_demo(settings, products=120)
    with Session(engine) as session:
        key, secret = ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
        drafts = [
            AlertDraft(buyer_id="b-0001", kind="price_up", title="涨价", dedup_key="o1",
                       severity=AlertSeverity.WARNING),
            AlertDraft(buyer_id="b-0001", kind="delisted", title="下架", dedup_key="o2",
                       severity=AlertSeverity.CRITICAL),
        ]  # fmt: skip
        read = AlertRepository(session).add_many(drafts)[1]
        read.read_at = utcnow()
        session.commit()
        assert key.id is not None
        key_id = key.id
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield World(client, container, secret, key_id)
    container.close()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON logs into a buffer, as `sourcing serve` writes them to stderr."""
    buffer = io.StringIO()
    configure_logging("json", "info", stream=buffer)
    yield buffer
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "sourcing"]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.NOTSET)
    structlog.reset_defaults()


def _parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def _model_turn(respx_mock: respx.MockRouter) -> None:
    def answer(request: dict[str, Any]) -> Any:
        return wire.stream(wire.text_chunks("推荐 [", wire.first_product_id(request), "]。"))

    script = wire.Script(wire.tool_call("select_products", {"query": "保温杯"}), answer)
    respx_mock.post(f"{BASE_URL}/chat/completions").mock(side_effect=script)


def test_every_line_of_a_request_has_its_id_and_no_secret_is_logged(
    world: World, log_lines: io.StringIO, respx_mock: respx.MockRouter
) -> None:
    _model_turn(respx_mock)
    bearer = {"Authorization": f"Bearer {world.secret}"}
    chat = world.client.post(
        "/v1/chat",
        json={"message": "保温杯"},
        headers=bearer | {"X-Request-ID": "req-chat-1"},
    )
    search = world.client.get(
        "/v1/products/search", params={"q": "收纳盒"}, headers={"X-API-Key": world.secret}
    )
    bad_key = world.client.get(
        "/v1/catalog/summary", headers={"Authorization": "Bearer sk-wrong-guess-1234567890"}
    )
    hostile_id = world.client.get(
        "/v1/me", headers=bearer | {"X-Request-ID": "bad id\twith spaces"}
    )
    assert (chat.status_code, search.status_code, bad_key.status_code) == (200, 200, 401)
    assert chat.headers["x-request-id"] == "req-chat-1"
    assert hostile_id.headers["x-request-id"] != "bad id\twith spaces"  # replaced, not echoed

    output = log_lines.getvalue()
    assert "sk-" not in output
    assert world.secret not in output
    # The test's own HTTP client (httpx2) logs each call it makes, outside any request.
    lines = [line for line in _parsed(log_lines) if line["logger"] != "httpx2"]
    responses = (chat, search, bad_key, hostile_id)
    ids = {response.headers["x-request-id"] for response in responses}
    assert len(ids) == 4
    assert {line.get("request_id") for line in lines} == ids  # every line carries one

    chat_lines = [line for line in lines if line["request_id"] == "req-chat-1"]
    turn = next(line for line in chat_lines if line["event"] == "chat.turn")
    assert turn["mode"] == "model"
    assert turn["tools"] == ["select_products"]
    assert turn["usage"] == {"input_tokens": 180, "output_tokens": 30, "total_tokens": 210}
    assert set(turn["timings_ms"]) >= {"model_ms", "tools_ms", "total_ms"}
    access = {line["request_id"]: line for line in lines if line["logger"] == "sourcing.access"}
    assert access["req-chat-1"] | {"duration_ms": 0, "timestamp": ""} == {
        "event": "request",
        "method": "POST",
        "route": "/v1/chat",
        "status": 200,
        "duration_ms": 0,
        "key_id": world.key_id,
        "request_id": "req-chat-1",
        "conversation_id": turn["conversation_id"],
        "level": "info",
        "logger": "sourcing.access",
        "timestamp": "",
    }
    denied = access[bad_key.headers["x-request-id"]]
    assert (denied["route"], denied["status"], denied["key_id"]) == (
        "/v1/catalog/summary",
        401,
        None,
    )
    assert access[search.headers["x-request-id"]]["key_id"] == world.key_id


def test_credentials_in_any_log_message_are_redacted(log_lines: io.StringIO) -> None:
    structlog.get_logger("sourcing.test").info("saw sk-abcdef123456", header="Bearer tok3n")
    logging.getLogger("some.library").warning("Authorization: bearer sk-zzz999 failed")
    output = log_lines.getvalue()
    assert "sk-" not in output
    assert "tok3n" not in output
    assert [line["event"] for line in _parsed(log_lines)] == [
        "saw [redacted]",
        "Authorization: [redacted] failed",
    ]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_turns_tools_tokens_searches_and_database_state(
    world: World, respx_mock: respx.MockRouter
) -> None:
    _model_turn(respx_mock)
    bearer = {"Authorization": f"Bearer {world.secret}"}
    scraper = {"Authorization": f"Bearer {SCRAPER_TOKEN}"}
    before = _samples(world.client.get("/metrics", headers=scraper).text)
    assert world.client.post("/v1/chat", json={"message": "保温杯"}, headers=bearer).is_success
    for path in ("/v1/products/p-000001", "/v1/products/no-such"):
        world.client.get(path, headers=bearer)
    world.client.get("/v1/products/search", params={"q": "收纳盒"}, headers=bearer)
    response = world.client.get("/metrics", headers=scraper)
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    route = {"method": "GET", "route": "/v1/products/{product_id}"}
    assert grew("sourcing_http_requests_total", **route, status="200") == 1
    assert grew("sourcing_http_requests_total", **route, status="404") == 1
    assert grew("sourcing_http_request_duration_seconds_count", **route) == 2
    assert grew("sourcing_chat_turns_total", mode="model") == 1
    assert grew("sourcing_tool_calls_total", tool="select_products") == 1
    assert grew("sourcing_model_tokens_total", kind="input") == 180
    assert grew("sourcing_model_tokens_total", kind="output") == 30
    assert grew("sourcing_model_duration_seconds_count") == 1
    assert grew("sourcing_search_duration_seconds_count") == 2  # the tool's and the route's

    with Session(world.container.engine) as session:
        runs = session.exec(select(func.count()).select_from(SyncRun)).one()
    assert after[("sourcing_database_up", ())] == 1
    assert after[("sourcing_sync_runs", (("status", "completed"),))] == runs
    assert after[("sourcing_sync_runs", (("status", "failed"),))] == 0
    assert after[("sourcing_alerts", (("severity", "warning"), ("unread", "true")))] == 1
    assert after[("sourcing_alerts", (("severity", "critical"), ("unread", "false")))] == 1
    assert after[("sourcing_alerts", (("severity", "critical"), ("unread", "true")))] == 0


def test_metrics_need_the_token_when_one_is_set(world: World) -> None:
    settings = world.container.settings.model_copy(update={"metrics_token": "scrape-t0ken"})
    guarded = replace(world.container, settings=settings)
    with TestClient(create_app(container=guarded)) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-t0ken"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"]["code"] == "unauthorised"
    assert right.status_code == 200
    assert "sourcing_http_requests_total" in right.text
