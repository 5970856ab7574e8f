"""Benchmark: chat-turn overhead and time to the first SSE event, with the model mocked."""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import httpx
import uvicorn
from sqlmodel import Session
from starlette.types import ASGIApp

from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.reference import load_reference
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine, migrate
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.eval.machine import describe_machine

MODEL_BASE_URL = "http://llm.bench/v1"
MODEL_NAME = "bench-model"
FIRST_EVENT_TARGET_MS = 100.0
OVERHEAD_TARGET_MS = 50.0
# Buyer messages that name goods, so the model path runs (a broad ask is answered by a rule).
MESSAGES = (
    "保温杯 500ml 起批50以内",
    "wireless earbuds under 30 yuan",
    "义乌 收纳盒 20元以内",
    "源头工厂 不锈钢保温杯 可定制",
    "phone case factory direct",
    "深圳 蓝牙耳机 50元以下",
    "yoga mat under ¥30",
    "广州 女包 100元以内",
    "汕头 积木 玩具 20元以内",
    "usb cable moq under 50",
)
ANSWER = (
    "A good match: {product} — low MOQ, factory pricing, fast dispatch; "
    "ask me for more options or a supplier profile."
)


class AppFactory(Protocol):
    """Builds the app over a prepared database; the model endpoint is None for offline mode."""

    def __call__(
        self, data_dir: Path, database_url: str, llm_base_url: str | None
    ) -> tuple[ASGIApp, Callable[[], None]]: ...


@dataclass(frozen=True)
class TurnTiming:
    first_event_ms: float
    total_ms: float
    model_ms: float
    mode: str
    event_types: tuple[str, ...]
    cited: tuple[str, ...]

    @property
    def overhead_ms(self) -> float:
        return self.total_ms - self.model_ms


@dataclass
class RunResult:
    label: str
    turns: list[TurnTiming] = field(default_factory=list)
    model_calls: int = 0


@dataclass(frozen=True)
class BenchResult:
    products: int
    warmup: int
    rows: tuple[RunResult, ...]


def prepare_catalog(folder: Path, products: int) -> tuple[str, str]:
    """A demo catalog in a fresh SQLite database; returns its URL and a buyer's secret."""
    database_url = f"sqlite:///{folder / 'sourcing.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    demo = folder / "demo"
    manifest = generate_demo(demo, products=products, seed=7, today=date(2026, 11, 25))
    sync_feed(engine, manifest.suppliers_path, kind="suppliers")
    sync_feed(engine, manifest.products_path)
    load_reference(engine, demo)
    with Session(engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
        session.commit()
    engine.dispose()
    return database_url, secret


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    body = {
        "id": "bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL_NAME,
        "choices": [choice],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _stream(deltas: Sequence[dict[str, Any]], finish_reason: str) -> httpx.Response:
    body = "".join(_chunk(delta) for delta in deltas)
    body += _chunk({}, finish_reason) + "data: [DONE]\n\n"
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def _tool_call_reply(query: str) -> httpx.Response:
    arguments = json.dumps({"query": query}, ensure_ascii=False)
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "select_products", "arguments": arguments},
    }
    return _stream([{"role": "assistant", "tool_calls": [call]}], "tool_calls")


def _answer_reply(tool_content: str) -> httpx.Response:
    products = json.loads(tool_content).get("products") or [{}]
    product = f"[{products[0]['id']}]" if "id" in products[0] else "nothing that fits"
    words = ANSWER.format(product=product).split(" ")
    return _stream([{"content": word + " "} for word in words], "stop")


def mock_completion(request: httpx.Request) -> httpx.Response:
    """A two-step turn: a native select_products call, then a short answer citing a product."""
    messages = json.loads(request.content)["messages"]
    tool_messages = [m for m in messages if m["role"] == "tool"]
    if tool_messages:
        return _answer_reply(str(tool_messages[-1]["content"]))
    user = next(m for m in reversed(messages) if m["role"] == "user")
    return _tool_call_reply(str(user["content"]))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for servers a benchmark starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serves `app` with uvicorn in a background thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def timed_turn(client: httpx.Client, url: str, secret: str, message: str) -> TurnTiming:
    """One streamed turn, timed from the request to the first complete event and to the end."""
    headers = {"Authorization": f"Bearer {secret}"}
    started = time.perf_counter()
    first_event: float | None = None
    events: list[dict[str, Any]] = []
    block: list[str] = []
    with client.stream(
        "POST", f"{url}/v1/chat", json={"message": message, "stream": True}, headers=headers
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line:
                block.append(line)
                continue
            first_event = first_event or time.perf_counter()
            data = next(item for item in block if item.startswith("data: "))
            events.append(json.loads(data.removeprefix("data: ")))
            block = []
    total = time.perf_counter() - started
    done = events[-1] if events and events[-1]["type"] == "done" else {}
    return TurnTiming(
        first_event_ms=((first_event or started + total) - started) * 1000,
        total_ms=total * 1000,
        model_ms=float(done.get("timings_ms", {}).get("model_ms", 0.0)),
        mode=str(done.get("mode", "none")),
        event_types=tuple(str(event["type"]) for event in events),
        cited=tuple(done.get("cited_product_ids", ())),
    )


def run_turns(url: str, secret: str, turns: int, warmup: int, label: str) -> RunResult:
    result = RunResult(label)
    with httpx.Client(timeout=60.0) as client:
        for number in range(warmup + turns):
            timing = timed_turn(client, url, secret, MESSAGES[number % len(MESSAGES)])
            if number >= warmup:
                result.turns.append(timing)
    return result


def _run_app(
    build_app: AppFactory,
    folder: Path,
    database_url: str,
    llm_base_url: str | None,
    run: Callable[[str], RunResult],
) -> RunResult:
    app, close = build_app(folder, database_url, llm_base_url)
    try:
        with serve(app) as url:
            return run(url)
    finally:
        close()


def run_benchmark(
    build_app: AppFactory, *, products: int, turns: int, warmup: int = 3
) -> BenchResult:
    """The same turns through the mocked model, then through the offline planner."""
    import respx  # a dev dependency, like the other benchmarks' baselines

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database_url, secret = prepare_catalog(folder, products)
        # The mock spans both rows, so the benchmark client takes the same path in each.
        with respx.mock(assert_all_mocked=False, assert_all_called=False) as router:
            model = router.post(f"{MODEL_BASE_URL}/chat/completions").mock(
                side_effect=mock_completion
            )
            router.route(host="127.0.0.1").pass_through()

            def model_run(url: str) -> RunResult:
                return run_turns(url, secret, turns, warmup, "model (mocked)")

            def offline_run(url: str) -> RunResult:
                return run_turns(url, secret, turns, warmup, "offline planner")

            with_model = _run_app(build_app, folder, database_url, MODEL_BASE_URL, model_run)
            with_model.model_calls = model.call_count
            offline = _run_app(build_app, folder, database_url, None, offline_run)
            offline.model_calls = model.call_count - with_model.model_calls
    return BenchResult(products, warmup, (with_model, offline))


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _pair(values: Sequence[float]) -> str:
    return f"{statistics.median(values):7.1f} / {percentile(values, 0.99):7.1f}"


def _verdict(value: float, target: float) -> str:
    return f"{value:.1f} ms {'meets' if value <= target else 'MISSES'} ≤ {target:.0f} ms"


def format_report(result: BenchResult) -> list[str]:
    """The table: p50 / p99 in milliseconds per row, then the targets."""
    header = (
        f"{'row':<17} {'first event p50/p99':>21} {'turn p50/p99':>21} "
        f"{'overhead excl. model p50/p99':>30} {'model p50':>10} {'modes':>12}"
    )
    lines = [f"machine: {describe_machine()}", header]
    for row in result.rows:
        modes = ",".join(sorted({turn.mode for turn in row.turns}))
        lines.append(
            f"{row.label:<17} {_pair([t.first_event_ms for t in row.turns]):>21} "
            f"{_pair([t.total_ms for t in row.turns]):>21} "
            f"{_pair([t.overhead_ms for t in row.turns]):>30} "
            f"{statistics.median(t.model_ms for t in row.turns):>10.1f} {modes:>12}"
        )
    lines.append(
        f"{'target':<17} {f'≤ {FIRST_EVENT_TARGET_MS:.0f}':>21} {'':>21} "
        f"{f'≤ {OVERHEAD_TARGET_MS:.0f}':>30}"
    )
    model_row = result.rows[0]
    first_p99 = percentile([t.first_event_ms for t in model_row.turns], 0.99)
    overhead_p99 = percentile([t.overhead_ms for t in model_row.turns], 0.99)
    lines.append(
        f"model row at p99: first event {_verdict(first_p99, FIRST_EVENT_TARGET_MS)}, "
        f"overhead {_verdict(overhead_p99, OVERHEAD_TARGET_MS)}"
    )
    lines.append(
        f"{result.products:,} products, {len(model_row.turns)} turns per row after "
        f"{result.warmup} warm-up turns, {model_row.model_calls} mocked model calls; "
        f"all times in ms, measured by the client over HTTP; model mocked with zero delay"
    )
    return lines


def main(argv: Sequence[str] | None = None, *, build_app: AppFactory) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    result = run_benchmark(build_app, products=args.products, turns=args.turns, warmup=args.warmup)
    for line in format_report(result):
        print(line)
    return result
