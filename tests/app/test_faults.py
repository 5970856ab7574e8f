"""Injected faults through the HTTP API and the CLI: the model endpoint, the database, the index."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient
from sqlmodel import Session

from sourcing.agents.llm import ResilientChat
from sourcing.app.cli import main
from sourcing.app.container import Container, build_container, build_engine
from sourcing.app.deps import get_search, get_session
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.eval.bench_chat import free_port, serve
from sourcing.eval.fake_model import MODEL_NAME, Pace, build_app
from sourcing.prompts.loader import PromptLibrary
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import ClientProductIndex, IndexMeta
from sourcing.retrieval.query_parser import load_query_vocabulary
from sourcing.retrieval.search import ProductSearch
from tests.agents import openai_wire as wire
from tests.app.demo_data import load_demo
from tests.app.test_chat_model import _sse
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl

FAST = Pace(first_token_s=0.0, tokens_per_s=1000.0, answer_tokens=10)
SSE = {"content-type": "text/event-stream"}


@dataclass
class Service:
    api: FastAPI
    client: TestClient
    container: Container
    settings: Settings
    headers: dict[str, str]
    model_url: str
    pace: Pace

    @property
    def chat(self) -> ResilientChat:
        assert self.container.model is not None
        return self.container.model.chat

    def turn(self, message: str = "保温杯 500ml", **body: Any) -> Any:  # the test client's Response
        return self.client.post("/v1/chat", json={"message": message, **body}, headers=self.headers)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Service]:
    """The app over a demo catalog, its model a fake OpenAI server on loopback (respx-mocked in
    the tests that need exact replies); a 1 s idle timeout, a 3 s turn deadline, a 0.2 s
    database busy timeout."""
    pace = Pace(**vars(FAST))
    with serve(build_app(pace)) as model_root:
        folder = tmp_path_factory.mktemp("faults")
        settings = Settings(
            data_dir=folder,
            llm_base_url=f"{model_root}/v1",
            llm_model=MODEL_NAME,
            llm_max_retries=1,
            llm_timeout_s=1.0,
            llm_turn_deadline_s=3.0,
            db_timeout_s=0.2,
        )
        engine = load_demo(settings)
        with Session(engine) as session:
            _, secret = ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
            session.commit()
        container = build_container(settings, embedder=use_embedder)
        api = create_app(container=container)
        with TestClient(api) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            yield Service(api, client, container, settings, headers, f"{model_root}/v1", pace)
        container.close()


@pytest.fixture(autouse=True)
def fresh_model(service: Service) -> Iterator[None]:
    """Each test starts with a closed breaker and a fast fake model."""
    service.chat.breaker.record_success()
    yield
    for name, value in vars(FAST).items():
        setattr(service.pace, name, value)
    service.api.dependency_overrides.clear()


def _text(events: list[dict[str, Any]]) -> str:
    return "".join(event["delta"] for event in events if event["type"] == "text")


def _notice(name: str) -> str:
    return PromptLibrary().render(name, "zh")


# --- the model endpoint ---------------------------------------------------------------------


def test_a_model_answering_5xx_is_retried_then_answered_offline_with_the_notice_first(
    respx_mock: respx.MockRouter, service: Service
) -> None:
    route = respx_mock.post(f"{service.model_url}/chat/completions").mock(
        side_effect=wire.status(502)
    )
    response = service.turn()
    assert response.status_code == 200
    events = _sse(response.text)
    assert route.call_count == 2  # the first try and one retry
    assert events[0]["type"] == "text"
    assert events[0]["delta"].startswith(_notice("model_fallback"))
    assert any(event["type"] == "tool_result" and event["cards"] for event in events)
    assert events[-1]["type"] == "done"
    assert events[-1]["mode"] == "offline"


def test_garbage_json_before_any_text_is_retried_and_the_turn_succeeds(
    respx_mock: respx.MockRouter, service: Service
) -> None:
    garbage = httpx.Response(200, content=b"data: {not json\n\n", headers=SSE)
    script = wire.Script(lambda _request: garbage, wire.text("您好，", "要采购什么？"))
    respx_mock.post(f"{service.model_url}/chat/completions").mock(side_effect=script)
    retries = service.chat.retries
    events = _sse(service.turn("你好").text)
    assert _text(events) == "您好，要采购什么？"
    assert events[-1]["mode"] == "model"
    assert service.chat.retries == retries + 1


def test_a_stream_cut_half_way_ends_with_an_error_event_after_the_text(
    respx_mock: respx.MockRouter, service: Service
) -> None:
    chunks = wire.text_chunks("第一句话。", "第二句")
    cut = wire.sse_body(chunks[:2])[: -len(b"data: [DONE]\n\n")]
    route = respx_mock.post(f"{service.model_url}/chat/completions").mock(
        return_value=httpx.Response(200, content=cut, headers=SSE)
    )
    response = service.turn("你好")
    events = _sse(response.text)
    assert response.status_code == 200
    assert route.call_count == 1  # text was shown: a retry would repeat it
    assert _text(events) == "第一句话。"
    assert [event["type"] for event in events][-2:] == ["error", "done"]
    assert events[-2]["code"] == "model_unavailable"


def test_a_model_that_never_sends_a_token_times_out_and_the_turn_goes_offline(
    service: Service,
) -> None:
    service.pace.first_token_s = 5.0  # past the 1 s wait for a chunk, on every try
    retries = service.chat.retries
    events = _sse(service.turn().text)
    assert service.chat.retries == retries + 1
    assert _text(events).startswith(_notice("model_fallback"))
    assert events[-1]["mode"] == "offline"


def test_a_slow_trickle_past_the_turn_deadline_ends_with_an_error_event(
    service: Service,
) -> None:
    # Every token within the 1 s chunk wait, but 40 of them at 4/s outlast the 3 s deadline.
    service.pace.tool_round, service.pace.tokens_per_s, service.pace.answer_tokens = False, 4, 40
    events = _sse(service.turn("你好").text)
    assert _text(events)
    assert [event["type"] for event in events][-2:] == ["error", "done"]
    assert events[-2]["code"] == "model_too_slow"
    # A trickle of tool-call arguments (no text yet) past the deadline: the turn degrades to
    # the offline planner instead.
    service.pace.tool_round, service.pace.tokens_per_s = True, 1.2
    events = _sse(service.turn().text)
    assert _text(events).startswith(_notice("model_fallback"))
    assert events[-1]["mode"] == "offline"


# --- the database -----------------------------------------------------------------------------


class WriteLock:
    """Another connection holding SQLite's write lock past the service's busy timeout."""

    def __init__(self, path: Path) -> None:
        self.holder = sqlite3.connect(path, isolation_level=None)
        self.holder.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.holder.in_transaction:
            self.holder.execute("ROLLBACK")


@pytest.fixture
def write_lock(service: Service) -> Iterator[WriteLock]:
    lock = WriteLock(service.settings.data_dir / "sourcing.db")
    yield lock
    lock.release()
    lock.holder.close()


def _conversations(service: Service) -> list[dict[str, Any]]:
    response = service.client.get("/v1/conversations", headers=service.headers)
    assert response.status_code == 200
    conversations: list[dict[str, Any]] = response.json()
    return conversations


def test_a_locked_database_is_a_503_with_retry_after_and_writes_nothing(
    service: Service,
) -> None:
    assert service.turn("帮我找点好卖的").status_code == 200
    before = _conversations(service)
    lock = WriteLock(service.settings.data_dir / "sourcing.db")
    try:
        assert _conversations(service) == before  # reads go on under a writer's lock (WAL)
        deleted = service.client.delete(
            f"/v1/conversations/{before[0]['id']}", headers=service.headers
        )
        completion = service.client.post(
            "/v1/chat/completions",
            json={"model": "sourcing-assistant", "messages": [{"role": "user", "content": "你好"}]},
            headers=service.headers,
        )
        for response in (
            service.turn("帮我找点好卖的"),
            service.turn("你好", stream=False),
            completion,
            deleted,
        ):
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "2"
            assert response.json()["error"] == {
                "code": "service_unavailable",
                "message": "the database is locked by another writer; try again shortly",
                "details": {"retry_after_s": 2},
            }
    finally:
        lock.release()
        lock.holder.close()
    assert _conversations(service) == before  # nothing half-written
    assert service.turn("帮我找点好卖的").status_code == 200
    assert len(_conversations(service)) == len(before) + 1


def test_an_unreachable_database_is_a_503_with_retry_after(service: Service) -> None:
    gone = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")

    def dead_session() -> Iterator[Session]:
        with Session(gone) as session:
            yield session

    service.api.dependency_overrides[get_session] = dead_session
    for path in ("/v1/conversations", "/v1/products/p-000001", "/v1/catalog/summary"):
        response = service.client.get(path, headers=service.headers)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == "5"
        assert response.json()["error"]["message"] == (
            "the database is unreachable; try again shortly"
        )
    gone.dispose()


@pytest.fixture
def cli_env(service: Service, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SOURCING_DATA_DIR", str(service.settings.data_dir))
    monkeypatch.delenv("SOURCING_DATABASE_URL", raising=False)
    monkeypatch.delenv("SOURCING_QDRANT_URL", raising=False)
    monkeypatch.setenv("SOURCING_DB_TIMEOUT_S", "0.2")
    return service.settings


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


def test_a_sync_into_a_locked_database_exits_2_and_a_rerun_loads_everything(
    service: Service,
    cli_env: Settings,
    write_lock: WriteLock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [product(f"p-90010{n}", supplier_id="s-0001") for n in range(3)]
    feed = write_jsonl(tmp_path / "new.jsonl", rows)
    command = ["sync", str(feed), "--mode", "delta", "--no-index"]
    assert _run(command) == 2
    assert "error: the database is locked by another writer" in capsys.readouterr().err
    write_lock.release()
    assert _product_status(service, "p-900100") == 404  # nothing of the refused run landed
    assert _run(command) == 0
    assert "rows" in capsys.readouterr().out
    assert [_product_status(service, f"p-90010{n}") for n in range(3)] == [200, 200, 200]


def _product_status(service: Service, product_id: str) -> int:
    return service.client.get(f"/v1/products/{product_id}", headers=service.headers).status_code


def test_a_cli_command_on_an_unreachable_database_exits_2_with_a_clear_error(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    monkeypatch.setenv("SOURCING_DATABASE_URL", url)
    assert _run(["keys", "list"]) == 2
    assert "the database is unreachable" in capsys.readouterr().err


# --- the vector index -------------------------------------------------------------------------


def test_a_qdrant_server_that_is_gone_makes_search_a_503_with_retry_after(
    service: Service,
) -> None:
    embedder = service.container.search.embedder
    meta = IndexMeta(embedder=embedder.name, dim=embedder.dim)
    dead = QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=1)
    search = ProductSearch(
        engine=service.container.engine,
        index=ClientProductIndex(dead, "products", meta),
        embedder=embedder,
        vocabulary=load_query_vocabulary(),
    )
    service.api.dependency_overrides[get_search] = lambda: search
    response = service.client.get(
        "/v1/products/search", params={"q": "保温杯"}, headers=service.headers
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["message"] == (
        "the search index is unavailable; try again shortly"
    )
    dead.close()


def test_cli_search_with_the_qdrant_server_gone_exits_2_with_a_clear_error(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCING_QDRANT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("SOURCING_QDRANT_TIMEOUT_S", "1")
    assert _run(["search", "保温杯"]) == 2
    assert "the search index is unavailable" in capsys.readouterr().err


def test_cli_search_while_the_server_holds_the_index_exits_2_naming_the_holder(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # The module's app holds the embedded index's file lock, as a running `sourcing serve` does.
    assert _run(["search", "保温杯"]) == 2
    assert "is open in another process (a running `sourcing serve`?)" in capsys.readouterr().err


def test_a_second_server_on_a_held_index_refuses_to_start(cli_env: Settings) -> None:
    port = free_port()
    command = [sys.executable, "-m", "sourcing.app.cli", "serve", f"--port={port}"]
    started = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert started.returncode == 3, started.stdout + started.stderr
    assert "is open in another process" in started.stdout + started.stderr


def test_a_deleted_index_is_rebuilt_from_the_database_when_the_server_starts(
    tmp_path: Path, use_embedder: Embedder
) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = build_engine(settings)
    sync_feed(engine, write_jsonl(tmp_path / "s.jsonl", SUPPLIERS), kind="suppliers")
    sync_feed(engine, write_jsonl(tmp_path / "p.jsonl", [product("p1"), product("p2")]))
    with Session(engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.EVALUATOR)
        session.commit()
    for start in ("first", "after the index was deleted"):
        if start != "first":
            shutil.rmtree(settings.index_path.parent)
        container = build_container(settings, embedder=use_embedder)
        with TestClient(create_app(container=container)) as client:
            response = client.get(
                "/v1/products/search",
                params={"q": "硅胶折叠水杯"},
                headers={"Authorization": f"Bearer {secret}"},
            )
        container.close()
        assert response.status_code == 200, start
        assert {hit["product_id"] for hit in response.json()["hits"]} == {"p1", "p2"}, start
