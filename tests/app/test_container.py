"""The composition root: every outbound client gets its configured timeout, turns their bounds."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from sourcing.app.container import (
    assistant_options,
    build_embedder_from,
    build_engine,
    build_model,
    build_qdrant_client,
)
from sourcing.app.settings import Settings
from sourcing.domain.db import make_engine

# Loopback and never listened on: building a client must not need the service.
NOWHERE = "http://127.0.0.1:9/v1"


def test_the_model_clients_time_out_and_cap_completion_tokens() -> None:
    settings = Settings(llm_base_url=NOWHERE, llm_model="m", llm_timeout_s=12, llm_max_tokens=256)
    model = build_model(settings)
    assert model is not None
    expected = httpx.Timeout(12, connect=5)
    assert model.http_client.timeout == expected
    assert model.http_async_client.timeout == expected
    chat_model = model.chat.model
    assert getattr(chat_model, "request_timeout", None) == 12
    assert getattr(chat_model, "max_tokens", None) == 256
    anyio.run(model.aclose)


def test_the_embeddings_client_times_out() -> None:
    settings = Settings(
        embedder="openai", embeddings_base_url=NOWHERE, embedder_model="m", embeddings_timeout_s=7
    )
    clients: list[httpx.Client] = []
    build_embedder_from(settings, clients)
    assert [client.timeout for client in clients] == [httpx.Timeout(7)]
    clients[0].close()


class _QdrantVersion(BaseHTTPRequestHandler):
    """Answers the client's version check, so it neither warns nor reaches further."""

    asked = threading.Event()

    def do_GET(self) -> None:
        body = json.dumps({"title": "qdrant", "version": version("qdrant-client")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.asked.set()

    def log_message(self, format: str, *args: object) -> None:
        return None


def test_the_qdrant_server_client_times_out() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QdrantVersion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = build_qdrant_client(Settings(qdrant_url=url, qdrant_timeout_s=7))
    assert _QdrantVersion.asked.wait(10), "the client never checked the server's version"
    # qdrant-client keeps the timeout on its REST transport only.
    assert client._client._timeout == 7  # type: ignore[attr-defined]
    client.close()
    server.shutdown()
    server.server_close()


def test_sqlite_waits_for_a_lock_at_most_the_configured_time(tmp_path: Path) -> None:
    engine = build_engine(Settings(data_dir=tmp_path, db_timeout_s=7), run_migrations=False)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 7000
    engine.dispose()


def test_postgresql_connects_within_the_configured_time(postgres_server_url: str) -> None:
    engine = make_engine(postgres_server_url, timeout_s=7)
    with engine.connect() as connection:
        parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert parameters["connect_timeout"] == "7"
    assert engine.pool.timeout() == 7  # type: ignore[attr-defined]
    engine.dispose()


def test_an_unreachable_postgresql_fails_fast_instead_of_hanging() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://u@127.0.0.1:{port}/db", timeout_s=1)
        with pytest.raises(OperationalError, match="timeout"):
            engine.connect()
        engine.dispose()


def test_the_turn_bounds_come_from_settings() -> None:
    settings = Settings(
        max_tool_steps=2, max_turn_tokens=900, max_conversation_turns=7, max_message_chars=99
    )
    options = assistant_options(settings)
    bounds = (
        options.max_tool_steps,
        options.max_turn_tokens,
        options.max_conversation_turns,
        options.max_message_chars,
    )
    assert bounds == (2, 900, 7, 99)
