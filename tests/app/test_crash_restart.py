"""`sourcing serve` killed with SIGKILL while chat streams are open, then restarted: every
completed turn is kept, a killed turn leaves at most its user message, the index has no drift."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from sourcing.app.cli import main
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
    """An OpenAI-compatible endpoint on loopback: quick answers, or a trickle that never ends."""

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
    secret: str
    log: Path

    def start(self) -> tuple[subprocess.Popen[bytes], httpx.Client]:
        port = free_port()
        command = [sys.executable, "-m", "sourcing.app.cli", "serve", "--port", str(port)]
        with self.log.open("ab") as log:
            process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=30,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{self._tail()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return process, client
            except httpx.TransportError:
                time.sleep(0.2)
        process.kill()
        pytest.fail(f"the server did not answer /healthz in {START_TIMEOUT_S} s:\n{self._tail()}")

    def _tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


@pytest.fixture
def served(
    tmp_path: Path, use_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    """A small demo, indexed, a buyer key, and a fake model; the server runs in a subprocess."""
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
        session.commit()
    engine.dispose()
    ours = {
        "SOURCING_DATA_DIR": str(settings.data_dir),
        "SOURCING_LLM_BASE_URL": f"http://127.0.0.1:{model.server_address[1]}/v1",
        "SOURCING_LLM_MODEL": "fake",
        "SOURCING_LOG_LEVEL": "warning",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCING_")} | ours
    for key in [k for k in os.environ if k.startswith("SOURCING_")]:
        monkeypatch.delenv(key)
    for key, value in ours.items():
        monkeypatch.setenv(key, value)
    yield Served(settings, env, secret, tmp_path / "server.log")
    model.shutdown()
    model.server_close()


def _first_event(lines: Iterator[str]) -> str:
    for line in lines:
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    raise AssertionError("the stream ended before its first event")


def _turn(client: httpx.Client, message: str, conversation_id: str | None = None) -> str:
    body = {"message": message, "stream": False, "conversation_id": conversation_id}
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "".join(QUICK_ANSWER)
    return str(response.json()["conversation_id"])


def _messages(client: httpx.Client, conversation_id: str) -> list[tuple[str, str]]:
    body = client.get(f"/v1/conversations/{conversation_id}").json()
    return [(m["role"], m["content"]) for m in body["messages"]]


def test_a_killed_server_keeps_completed_turns_and_a_clean_index(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    process, client = served.start()
    first = _turn(client, "义乌 收纳盒 20元以内")
    _turn(client, "要500个的话多少钱", first)
    second = _turn(client, "不锈钢保温杯 源头工厂")
    slow = [f"{SLOW} 帮我找义乌的收纳盒 {number}" for number in range(3)]
    # The line iterators are kept: one dropped closes its stream, and the server would see the
    # client leave (a turn stored as failed) before it is killed.
    reading: list[Iterator[str]] = []
    with ExitStack() as streams:
        for message in slow:
            response = streams.enter_context(
                client.stream("POST", "/v1/chat", json={"message": message})
            )
            assert response.status_code == 200
            reading.append(response.iter_lines())
            assert _first_event(reading[-1]) == "text"  # mid-answer, not done
        left = client.stream("POST", "/v1/chat", json={"message": f"{SLOW} 我先走了"})
        with left as response:  # a buyer who leaves mid-answer: the stream closes
            assert _first_event(response.iter_lines()) == "text"
        time.sleep(1)  # the server notices the closed stream and stores the turn
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    client.close()

    database = served.settings.data_dir / "sourcing.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(SystemExit) as checked:
        main(["index", "check"])
    assert checked.value.code in (0, None), capsys.readouterr().out
    assert "no drift" in capsys.readouterr().out

    process, client = served.start()
    try:
        assert _messages(client, first) == [
            ("user", "义乌 收纳盒 20元以内"),
            ("assistant", "".join(QUICK_ANSWER)),
            ("user", "要500个的话多少钱"),
            ("assistant", "".join(QUICK_ANSWER)),
        ]
        assert _messages(client, second) == [
            ("user", "不锈钢保温杯 源头工厂"),
            ("assistant", "".join(QUICK_ANSWER)),
        ]
        listed = client.get("/v1/conversations").json()
        assert len(listed) == 6
        gone = next(c["id"] for c in listed if c["title"].endswith("我先走了"))
        stored = client.get(f"/v1/conversations/{gone}").json()["messages"]
        # What the buyer saw before leaving is kept, marked failed.
        assert [(m["role"], m["status"]) for m in stored] == [
            ("user", "complete"),
            ("assistant", "failed"),
        ]
        assert stored[1]["content"]
        killed = [c["id"] for c in listed if c["id"] not in (first, second, gone)]
        # A killed turn keeps the user message it committed first, and no partial answer.
        assert sorted(_messages(client, cid)[0][1] for cid in killed) == slow
        assert all(len(_messages(client, cid)) == 1 for cid in killed)
        _turn(client, "再来一个", killed[0])  # a killed conversation goes on after a restart
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
