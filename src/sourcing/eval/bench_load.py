"""Load test: concurrent chat streams and search throughput against the real service process."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs pinned

from sourcing.eval.bench_chat import MESSAGES, free_port, percentile, prepare_catalog
from sourcing.eval.fake_model import MODEL_NAME
from sourcing.eval.machine import describe_machine

KEY_FILE = "bench-key.txt"
START_TIMEOUT_S = 600.0  # the first start embeds the whole catalog into a new index


@dataclass(frozen=True)
class LoadConfig:
    products: int = 2000
    streams: int = 200
    searches: int = 1000
    search_concurrency: int = 20
    first_token_ms: float = 300.0
    tokens_per_s: float = 40.0
    answer_tokens: int = 60
    turn_timeout_s: float = 120.0
    max_seconds: float = 300.0  # the whole chat phase, then the search phase, each


@dataclass
class Latencies:
    count: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Latencies:
        if not values_ms:
            return cls()
        return cls(
            len(values_ms),
            round(percentile(values_ms, 0.5), 1),
            round(percentile(values_ms, 0.99), 1),
            round(max(values_ms), 1),
        )


@dataclass
class Errors:
    non_200: int = 0
    error_events: int = 0
    timeouts: int = 0
    transport: int = 0
    no_done: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # the non-200 answers by status

    def refused(self, status: int) -> None:
        self.non_200 += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def total(self) -> int:
        return self.non_200 + self.error_events + self.timeouts + self.transport + self.no_done


@dataclass
class ProcessUse:
    """CPU (user + system) and memory of one process over one phase."""

    cpu_s: float = 0.0
    cpu_percent_of_cores: float = 0.0
    peak_rss_mib: float = 0.0


@dataclass
class ChatPhase:
    streams: int
    completed: int = 0
    offline_fallbacks: int = 0
    wall_s: float = 0.0
    turn: Latencies = field(default_factory=Latencies)
    first_event: Latencies = field(default_factory=Latencies)
    errors: Errors = field(default_factory=Errors)
    service: ProcessUse = field(default_factory=ProcessUse)


@dataclass
class SearchPhase:
    requests: int
    concurrency: int
    completed: int = 0
    wall_s: float = 0.0
    requests_per_s: float = 0.0
    latency: Latencies = field(default_factory=Latencies)
    errors: Errors = field(default_factory=Errors)
    service: ProcessUse = field(default_factory=ProcessUse)


@dataclass
class LoadReport:
    machine: str
    config: LoadConfig
    chat: ChatPhase
    search: SearchPhase
    service_start_rss_mib: float
    service_peak_rss_mib: float
    # The 1-minute load average before the run: on a shared machine it explains the figures.
    load_average: float = 0.0
    bench_client_cpu_s: float = 0.0

    @property
    def errors(self) -> int:
        return self.chat.errors.total + self.search.errors.total

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"errors": self.errors}


class ProcessWatch:
    """Samples a process's RSS in a thread; CPU comes from its counters at phase edges."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.process = psutil.Process(pid)
        self.peak_rss = self.process.memory_info().rss
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.Error:
                return

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def phase(self, use: ProcessUse) -> Iterator[None]:
        """Fills `use` with what the process spent while the block ran."""
        self.peak_rss = self.process.memory_info().rss
        cpu, started = self.cpu_s(), time.perf_counter()
        yield
        use.cpu_s = round(self.cpu_s() - cpu, 2)
        wall = max(time.perf_counter() - started, 1e-9)
        use.cpu_percent_of_cores = round(100 * use.cpu_s / (wall * (os.cpu_count() or 1)), 1)
        use.peak_rss_mib = round(self.peak_rss / 2**20, 1)


def prepare_data(folder: Path, products: int) -> tuple[str, str]:
    """A demo catalog built once in `folder` (reused by later runs); its URL and a buyer key."""
    database, key_file = folder / "sourcing.db", folder / KEY_FILE
    if database.exists() and key_file.exists():
        return f"sqlite:///{database}", key_file.read_text(encoding="utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True)
    database_url, secret = prepare_catalog(folder, products)
    key_file.write_text(secret, encoding="utf-8")
    return database_url, secret


@contextmanager
def _process(command: list[str], env: dict[str, str], ready_url: str) -> Iterator[int]:
    """Runs `command` until the block ends; yields its pid once `ready_url` answers 200."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"{command[2]} exited with {process.returncode}:\n{tail}")
                try:
                    if httpx.get(ready_url, timeout=2.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[2]} did not answer {ready_url} in time")
                time.sleep(0.2)
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _one_turn(
    client: httpx.AsyncClient, secret: str, message: str, phase: ChatPhase
) -> tuple[float, float] | None:
    """One streamed turn: (time to first event, turn time) in ms, or None when it failed."""
    started = time.perf_counter()
    first: float | None = None
    events: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        async with client.stream(
            "POST", "/v1/chat", json={"message": message}, headers=headers
        ) as response:
            if response.status_code != 200:
                phase.errors.refused(response.status_code)
                return None
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    first = first or time.perf_counter()
                    events.append(json.loads(line.removeprefix("data: ")))
    except httpx.TimeoutException:
        phase.errors.timeouts += 1
        return None
    except httpx.TransportError:
        phase.errors.transport += 1
        return None
    if any(event["type"] == "error" for event in events):
        phase.errors.error_events += 1
        return None
    if not events or events[-1]["type"] != "done":
        phase.errors.no_done += 1
        return None
    if events[-1]["mode"] != "model":
        phase.offline_fallbacks += 1
    ended = time.perf_counter()
    return ((first or ended) - started) * 1000, (ended - started) * 1000


async def run_chat(base_url: str, secret: str, config: LoadConfig) -> ChatPhase:
    """`streams` turns started at once, each its own connection; bounded by max_seconds."""
    phase = ChatPhase(config.streams)
    limits = httpx.Limits(max_connections=config.streams + 10, max_keepalive_connections=0)
    timeout = httpx.Timeout(config.turn_timeout_s, connect=30.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(_one_turn(client, secret, MESSAGES[n % len(MESSAGES)], phase))
            for n in range(config.streams)
        ]
        done, pending = await asyncio.wait(tasks, timeout=config.max_seconds)
        for task in pending:
            task.cancel()
        phase.errors.timeouts += len(pending)
        phase.wall_s = round(time.perf_counter() - started, 2)
    timings = [result for task in done if (result := task.result()) is not None]
    phase.completed = len(timings)
    phase.first_event = Latencies.of([first for first, _ in timings])
    phase.turn = Latencies.of([total for _, total in timings])
    return phase


async def run_search(base_url: str, secret: str, config: LoadConfig) -> SearchPhase:
    """`searches` requests over `search_concurrency` workers; requests/s over the whole run."""
    phase = SearchPhase(config.searches, config.search_concurrency)
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(config.searches):
        queue.put_nowait(number)
    headers = {"Authorization": f"Bearer {secret}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            params = {"q": MESSAGES[number % len(MESSAGES)], "limit": "10"}
            started = time.perf_counter()
            try:
                response = await client.get("/v1/products/search", params=params, headers=headers)
            except httpx.TimeoutException:
                phase.errors.timeouts += 1
                continue
            except httpx.TransportError:
                phase.errors.transport += 1
                continue
            if response.status_code != 200:
                phase.errors.refused(response.status_code)
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=config.search_concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:
        started = time.perf_counter()
        workers = [asyncio.create_task(worker(client)) for _ in range(config.search_concurrency)]
        _, pending = await asyncio.wait(workers, timeout=config.max_seconds)
        for task in pending:
            task.cancel()
        phase.wall_s = round(time.perf_counter() - started, 2)
    phase.errors.timeouts += queue.qsize()
    phase.completed = len(latencies)
    phase.requests_per_s = round(len(latencies) / max(phase.wall_s, 1e-9), 1)
    phase.latency = Latencies.of(latencies)
    return phase


def service_environment(data_dir: Path, database_url: str, model_url: str) -> dict[str, str]:
    """The whole environment of the service under load: the bench's catalog and fake model,
    and nothing inherited, so that a run measures the same service wherever it starts."""
    return {
        "SOURCING_DATA_DIR": str(data_dir),
        "SOURCING_DATABASE_URL": database_url,
        "SOURCING_LLM_BASE_URL": model_url,
        "SOURCING_LLM_MODEL": MODEL_NAME,
        "SOURCING_LLM_API_KEY": "bench",
        "SOURCING_LOG_LEVEL": "warning",
        # One key drives every stream: the per-key limits would be what is measured.
        "SOURCING_RATE_LIMIT_PER_MINUTE": "10000000",
        "SOURCING_CHAT_RATE_LIMIT_PER_MINUTE": "10000000",
    }


def run_load(config: LoadConfig, data_dir: Path) -> LoadReport:
    database_url, secret = prepare_data(data_dir, config.products)
    model_port, service_port = free_port(), free_port()
    model_command = [
        sys.executable,
        "-m",
        "sourcing.eval.fake_model",
        f"--port={model_port}",
        f"--first-token-ms={config.first_token_ms}",
        f"--tokens-per-s={config.tokens_per_s}",
        f"--answer-tokens={config.answer_tokens}",
    ]
    model_url = f"http://127.0.0.1:{model_port}/v1"
    service_command = [sys.executable, "-m", "sourcing.app.cli", "serve", f"--port={service_port}"]
    base_url = f"http://127.0.0.1:{service_port}"
    env = service_environment(data_dir, database_url, model_url)
    load_average = os.getloadavg()[0]
    client = psutil.Process()
    client_cpu = sum(client.cpu_times()[:2])
    with (
        # The fake model needs no configuration: it inherits nothing either.
        _process(model_command, {}, f"{model_url}/models"),
        _process(service_command, env, f"{base_url}/healthz") as service_pid,
        ProcessWatch(service_pid) as watch,
    ):
        start_rss = watch.process.memory_info().rss / 2**20
        # Warm-up: the first turn and search load lazily built state; not measured.
        asyncio.run(run_chat(base_url, secret, LoadConfig(streams=2)))
        chat_use, search_use = ProcessUse(), ProcessUse()
        with watch.phase(chat_use):
            chat = asyncio.run(run_chat(base_url, secret, config))
        with watch.phase(search_use):
            search = asyncio.run(run_search(base_url, secret, config))
    chat.service, search.service = chat_use, search_use
    peak = max(chat_use.peak_rss_mib, search_use.peak_rss_mib)
    return LoadReport(
        describe_machine(),
        config,
        chat,
        search,
        round(start_rss, 1),
        peak,
        round(load_average, 2),
        round(sum(client.cpu_times()[:2]) - client_cpu, 2),
    )


def format_report(report: LoadReport) -> list[str]:
    chat, search, config = report.chat, report.search, report.config
    return [
        f"machine: {report.machine}; load average {report.load_average} before the run",
        f"fake model: first token {config.first_token_ms:.0f} ms, {config.tokens_per_s:.0f} "
        f"tokens/s, one tool round then {config.answer_tokens} answer tokens",
        f"chat: {chat.streams} concurrent streams, {chat.completed} completed in {chat.wall_s} s;"
        f" errors {chat.errors.total} ({asdict(chat.errors)}), offline fallbacks "
        f"{chat.offline_fallbacks}",
        f"  turn p50/p99 {chat.turn.p50_ms:.0f} / {chat.turn.p99_ms:.0f} ms; first event "
        f"p50/p99 {chat.first_event.p50_ms:.0f} / {chat.first_event.p99_ms:.0f} ms",
        f"  service CPU {chat.service.cpu_s} s ({chat.service.cpu_percent_of_cores} % of "
        f"{os.cpu_count()} cores), peak RSS {chat.service.peak_rss_mib} MiB",
        f"search: {search.completed}/{search.requests} at concurrency {search.concurrency} in "
        f"{search.wall_s} s = {search.requests_per_s} requests/s; p50/p99 "
        f"{search.latency.p50_ms:.0f} / {search.latency.p99_ms:.0f} ms; errors "
        f"{search.errors.total}",
        f"  service CPU {search.service.cpu_s} s ({search.service.cpu_percent_of_cores} % of "
        f"{os.cpu_count()} cores), peak RSS {search.service.peak_rss_mib} MiB",
        f"service RSS at start {report.service_start_rss_mib} MiB, peak "
        f"{report.service_peak_rss_mib} MiB; the bench client used {report.bench_client_cpu_s} s "
        f"CPU; errors in all: {report.errors}",
    ]


def main(argv: Sequence[str] | None = None) -> LoadReport:
    parser = argparse.ArgumentParser(description=__doc__)
    defaults = LoadConfig()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--data-dir", type=Path, default=Path("data/bench-load"))
    parser.add_argument("--out", type=Path, default=None)
    args = vars(parser.parse_args(argv))
    data_dir, out = args.pop("data_dir"), args.pop("out")
    report = run_load(LoadConfig(**args), data_dir)
    for line in format_report(report):
        print(line)
    if out is not None:
        out.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    return report
