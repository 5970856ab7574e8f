"""Graceful shutdown: turns finish or end with a retryable error; SIGTERM exits a server 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlmodel import Session

from sourcing.agents.events import ChatEvent, Done, TextDelta
from sourcing.app.container import build_container
from sourcing.app.settings import Settings
from sourcing.app.shutdown import DRAIN_MARGIN_S, Shutdown, drain_turn
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.eval.bench_chat import free_port
from sourcing.retrieval.embedders import Embedder
from tests.agents import openai_wire as wire
from tests.app.demo_data import load_demo

SHUTDOWN_TIMEOUT_S = 5  # chat turns get this less DRAIN_MARGIN_S


def _drained(turn: AsyncGenerator[ChatEvent], timeout_s: float) -> list[ChatEvent]:
    """The events a client sees when shutdown starts right after the turn's first event."""

    async def main() -> list[ChatEvent]:
        shutdown = Shutdown(timeout_s)
        shutdown.attach()
        seen: list[ChatEvent] = []
        async for event in drain_turn(turn, shutdown):
            seen.append(event)
            shutdown.begin()
        return seen

    return anyio.run(main)


def test_a_turn_that_ends_within_the_drain_window_is_finished() -> None:
    async def turn() -> AsyncGenerator[ChatEvent]:
        yield TextDelta(delta="正在查找")
        await anyio.sleep(0.05)
        yield Done(conversation_id="conv_1", mode="offline")

    events = _drained(turn(), timeout_s=DRAIN_MARGIN_S + 30)
    assert [event.type for event in events] == ["text", "done"]


def test_a_turn_outlasting_the_drain_window_ends_with_a_retryable_error() -> None:
    closed: list[bool] = []

    async def turn() -> AsyncGenerator[ChatEvent]:
        try:
            yield TextDelta(delta="正在查找")
            await anyio.sleep_forever()  # a model that stopped answering
            yield Done(conversation_id="conv_1", mode="model")
        finally:
            closed.append(True)

    events = _drained(turn(), timeout_s=DRAIN_MARGIN_S + 0.1)
    assert [event.model_dump() for event in events[1:]] == [
        {
            "type": "error",
            "code": "shutting_down",
            "message": "the server is restarting; send the message again",
            "retryable": True,
        }
    ]
    assert closed == [True]  # the turn (and its model call) was cancelled, not left running


class _HangingModel(ThreadingHTTPServer):
    """An OpenAI-compatible endpoint that streams one chunk, then says nothing until released."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HangingHandler)
        self.called = threading.Event()
        self.release = threading.Event()


class _HangingHandler(BaseHTTPRequestHandler):
    server: _HangingModel

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        first = wire.sse_body(wire.text_chunks("正在为您查找")[:2])
        self.wfile.write(first[: -len(b"data: [DONE]\n\n")])
        self.wfile.flush()
        self.server.called.set()
        self.server.release.wait(60)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def model_endpoint() -> Iterator[_HangingModel]:
    server = _HangingModel()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


class _Reader(threading.Thread):
    """Reads one streamed response to its end; records its lines and how it ended."""

    def __init__(self, request: httpx.Request) -> None:
        super().__init__(daemon=True)
        self.request = request
        self.lines: list[str] = []
        self.status = 0
        self.failure: BaseException | None = None
        self.ended = False

    def run(self) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                response = client.send(self.request, stream=True)
                self.status = response.status_code
                for line in response.iter_lines():
                    self.lines.append(line)
                response.close()
            self.ended = True
        except BaseException as exc:  # reported by the test, with what was read before it
            self.failure = exc

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line[6:]) for line in self.lines if line.startswith("data: ")]


def _wait(condition: Any, what: str, process: subprocess.Popen[bytes], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"the server exited ({process.returncode}) before {what}:\n{stderr}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {limit_s:g} s")
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_sigterm_ends_open_streams_cleanly_and_the_server_exits_0(
    tmp_path: Path, use_embedder: Embedder, model_endpoint: _HangingModel
) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = load_demo(settings, products=60)
    with Session(engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
        session.commit()
    engine.dispose()
    prepared = build_container(settings, embedder=use_embedder)
    prepared.search.indexer.catch_up()  # so the server's start-up has nothing to embed
    prepared.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCING_")}
    env |= {
        "SOURCING_DATA_DIR": str(tmp_path),
        "SOURCING_LLM_BASE_URL": f"http://127.0.0.1:{model_endpoint.server_address[1]}/v1",
        "SOURCING_LLM_MODEL": "m",
        "SOURCING_LLM_MAX_RETRIES": "0",
        "SOURCING_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
        "SOURCING_ALERT_POLL_S": "0.1",
        "SOURCING_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "sourcing.app.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait(lambda: _answers(f"{base}/healthz"), "answer on /healthz", process, 120)
        auth = {"Authorization": f"Bearer {secret}"}
        alerts = _Reader(
            httpx.Request("GET", f"{base}/v1/alerts/stream", params={"wait_s": 600}, headers=auth)
        )
        chat = _Reader(
            httpx.Request("POST", f"{base}/v1/chat", json={"message": "保温杯"}, headers=auth)
        )
        alerts.start()
        chat.start()
        _wait(lambda: "retry: 3000" in alerts.lines, "alert stream", process, 30)
        _wait(model_endpoint.called.is_set, "model call", process, 30)

        process.send_signal(signal.SIGTERM)
        alerts.join(timeout=10)
        chat.join(timeout=SHUTDOWN_TIMEOUT_S + 10)
        returncode = process.wait(timeout=SHUTDOWN_TIMEOUT_S + 10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read().decode() if process.stderr else ""

    assert (alerts.failure, chat.failure) == (None, None), stderr
    assert alerts.ended, "the alert stream did not reach its end"
    assert alerts.status == 200
    assert chat.ended, "the chat stream did not reach its end"
    assert chat.status == 200
    events = chat.events()
    assert events, stderr
    assert events[-1] == {
        "type": "error",
        "code": "shutting_down",
        "message": "the server is restarting; send the message again",
        "retryable": True,
    }
    assert "done" not in [event["type"] for event in events]
    assert returncode == 0, stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    chat_lines = [line for line in logged if line.get("event") == "chat.error"]
    assert [line["code"] for line in chat_lines] == ["shutting_down"]
    assert "sk-" not in stderr
