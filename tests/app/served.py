"""A real `sourcing serve` (or `sourcing worker`) in a subprocess over a small indexed demo,
with an OpenAI-compatible fake model on loopback: quick answers, or a trickle that never ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from sourcing.app.container import build_search
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.eval.bench_chat import free_port
from sourcing.retrieval.embedders import Embedder
from tests.agents.openai_wire import sse_body, text_chunks
from tests.app.demo_data import load_demo

SLOW = "慢慢说"  # the fake model trickles its answer to a message holding this, for a minute
QUICK_ANSWER = ("好的，", "这是回答。")
START_TIMEOUT_S = 90


class _FakeModel(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        asked = json.dumps(body["messages"][-1], ensure_ascii=False)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            if SLOW not in asked:
                self.wfile.write(sse_body(text_chunks(*QUICK_ANSWER)))
                return
            # The opening and 600 content chunks, never the stop: the turn stays mid-answer.
            for chunk in text_chunks("正在", *["…"] * 600)[:-2]:
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Served:
    settings: Settings
    env: dict[str, str]
    secret: str  # a buyer key's (b-0001)
    admin: str  # an admin key's
    log: Path

    def start(self, *extra: str) -> tuple[subprocess.Popen[bytes], httpx.Client]:
        """`sourcing serve` on a free port, once its /healthz answers."""
        port = free_port()
        process = self.spawn("serve", "--port", str(port), *extra)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=30,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{self.tail()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return process, client
            except httpx.TransportError:
                time.sleep(0.2)
        process.kill()
        pytest.fail(f"the server did not answer /healthz in {START_TIMEOUT_S} s:\n{self.tail()}")

    def spawn(self, *command: str) -> subprocess.Popen[bytes]:
        """`sourcing COMMAND …` in its own process, over this demo's data."""
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "sourcing.app.cli", *command],
                env=self.env,
                stdout=log,
                stderr=log,
            )

    def run(self, *command: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sourcing.app.cli", *command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


@pytest.fixture
def served(
    tmp_path: Path, use_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    """A small demo, indexed, buyer and admin keys, and a fake model; servers run in subprocesses
    (env: this test's SOURCING_ settings only, the daily schedule off as in every test)."""
    model = ThreadingHTTPServer(("127.0.0.1", 0), _FakeModel)
    model.daemon_threads = True
    threading.Thread(target=model.serve_forever, daemon=True).start()
    settings = Settings(data_dir=tmp_path / "data")
    engine = load_demo(settings, products=120)
    search = build_search(settings, engine, embedder=use_embedder)
    search.indexer.catch_up()
    search.close()
    with Session(engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
        _, admin = ApiKeyRepository(session).create(ApiRole.ADMIN, "")
        session.commit()
    engine.dispose()
    ours = {
        "SOURCING_DATA_DIR": str(settings.data_dir),
        "SOURCING_LLM_BASE_URL": f"http://127.0.0.1:{model.server_address[1]}/v1",
        "SOURCING_LLM_MODEL": "fake",
        "SOURCING_LOG_LEVEL": "warning",
        "SOURCING_SCHEDULE_JOBS": "false",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCING_")} | ours
    for key in [k for k in os.environ if k.startswith("SOURCING_")]:
        monkeypatch.delenv(key)
    for key, value in ours.items():
        monkeypatch.setenv(key, value)
    yield Served(settings, env, secret, admin, tmp_path / "server.log")
    model.shutdown()
    model.server_close()
