"""Operations: structured logs, Prometheus metrics and the request middleware feeding both."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import AsyncGenerator, Collection, Iterable, MutableMapping
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, Processor, WrappedLogger

from sourcing.agents.events import ChatEvent, Done, ErrorEvent, ToolCall
from sourcing.domain.errors import ConfigurationError
from sourcing.domain.kinds import AlertSeverity, SyncStatus
from sourcing.domain.repositories.operations import OperationsRepository
from sourcing.retrieval.bridge import Cedict
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import ProductIndex
from sourcing.retrieval.query_parser import QueryVocabulary
from sourcing.retrieval.rerank import Reranker
from sourcing.retrieval.search import ProductSearch, SearchRequest, SearchResult

REQUEST_ID_HEADER = "X-Request-ID"
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# API key secrets and bearer credentials never reach a log line, whatever carried them there.
_SECRET = re.compile(r"sk-[A-Za-z0-9_-]+|(?i:bearer)\s+\S+")
_REDACTED = "[redacted]"
_HANDLER_NAME = "sourcing"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_TOKEN_KINDS = {"input_tokens": "input", "output_tokens": "output"}

_access_log = structlog.get_logger("sourcing.access")
_chat_log = structlog.get_logger("sourcing.chat")


@dataclass
class RequestContext:
    """What a request's log lines carry; learned in worker threads, so kept on one shared object."""

    request_id: str
    key_id: int | None = None
    conversation_id: str | None = None


_request: ContextVar[RequestContext | None] = ContextVar("sourcing_request", default=None)


def note_key(key_id: int) -> None:
    """The authenticated key's id (never its secret) for this request's log lines."""
    if (context := _request.get()) is not None:
        context.key_id = key_id


def note_conversation(conversation_id: str) -> None:
    if (context := _request.get()) is not None:
        context.conversation_id = conversation_id


def _add_request_context(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    context = _request.get()
    if context is not None:
        event.setdefault("request_id", context.request_id)
        if context.key_id is not None:
            event.setdefault("key_id", context.key_id)
        if context.conversation_id:
            event.setdefault("conversation_id", context.conversation_id)
    return event


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET.sub(_REDACTED, value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def _redact(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    return {key: _scrub(value) for key, value in event.items()}


def _level_number(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ConfigurationError(f"SOURCING_LOG_LEVEL {level!r} is not a logging level")
    return number


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Routes structlog and the standard library (uvicorn included) through one renderer.

    Called once by the process that serves; calling it again replaces the earlier setup."""
    number = _level_number(level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor] = (
        [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
        if log_format == "json"
        else [structlog.dev.ConsoleRenderer(colors=False)]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact, *renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    # A line per outbound model call is noise beside the turn's line and the metrics.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(number, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(number),
        cache_logger_on_first_use=False,
    )


class DatabaseCollector(Collector):
    """Sync runs and alerts, counted in the database at scrape time: other processes write them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("sourcing_database_up", "1 when this scrape could read the database")
        try:
            with Session(self.engine) as session:
                repo = OperationsRepository(session)
                runs, alerts = repo.sync_runs_by_status(), repo.alerts_by_severity()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        sync = GaugeMetricFamily(
            "sourcing_sync_runs", "catalog sync runs recorded, by status", labels=["status"]
        )
        for status in SyncStatus:
            sync.add_metric([status.value], runs.get(status.value, 0))
        yield sync
        family = GaugeMetricFamily(
            "sourcing_alerts", "alerts by severity and read state", labels=["severity", "unread"]
        )
        for severity in AlertSeverity:
            for unread in (True, False):
                count = alerts.get((severity.value, unread), 0)
                family.add_metric([severity.value, str(unread).lower()], count)
        yield family


class Metrics:
    """One Prometheus registry per container, never the global default: tests build many apps."""

    def __init__(self, engine: Engine) -> None:
        self.registry = registry = CollectorRegistry()
        self.http_requests = Counter(
            "sourcing_http_requests",
            "HTTP requests answered, by route template",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_latency = Histogram(
            "sourcing_http_request_duration_seconds",
            "time to answer a request (a stream: until it ends)",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.model_latency = Histogram(
            "sourcing_model_duration_seconds",
            "model time in one chat turn, all its calls together",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.model_tokens = Counter(
            "sourcing_model_tokens", "tokens the model read and wrote", ["kind"], registry=registry
        )
        self.chat_turns = Counter(
            "sourcing_chat_turns", "chat turns finished, by mode", ["mode"], registry=registry
        )
        self.tool_calls = Counter(
            "sourcing_tool_calls", "tool calls in chat turns, by tool", ["tool"], registry=registry
        )
        self.search_latency = Histogram(
            "sourcing_search_duration_seconds",
            "product searches (the search route and the chat's tools)",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        registry.register(DatabaseCollector(engine))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(method, route).observe(seconds)

    def observe_turn(self, done: Done) -> None:
        self.chat_turns.labels(done.mode).inc()
        if "model_ms" in done.timings_ms:
            self.model_latency.observe(done.timings_ms["model_ms"] / 1000)
        for key, kind in _TOKEN_KINDS.items():
            if done.usage.get(key):
                self.model_tokens.labels(kind).inc(done.usage[key])


class TimedProductSearch(ProductSearch):
    """ProductSearch observed in the search latency histogram, wherever it is called from."""

    def __init__(
        self,
        latency: Histogram,
        *,
        engine: Engine,
        index: ProductIndex,
        embedder: Embedder,
        vocabulary: QueryVocabulary,
        reranker: Reranker | None = None,
        cedict: Cedict | None = None,
    ) -> None:
        super().__init__(
            engine=engine,
            index=index,
            embedder=embedder,
            vocabulary=vocabulary,
            reranker=reranker,
            cedict=cedict,
        )
        self.latency = latency

    def search(self, request: SearchRequest) -> SearchResult:
        with self.latency.time():
            return super().search(request)


async def observe_turn(
    events: AsyncGenerator[ChatEvent], metrics: Metrics, tools: Collection[str]
) -> AsyncGenerator[ChatEvent]:
    """Passes a turn's events through; counts tool calls, logs and measures the turn's end.

    A tool the model invented is counted as 'unknown', so labels stay a small fixed set."""
    used: list[str] = []
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, ToolCall):
                used.append(event.name)
                metrics.tool_calls.labels(event.name if event.name in tools else "unknown").inc()
            elif isinstance(event, Done):
                note_conversation(event.conversation_id)
                metrics.observe_turn(event)
                _chat_log.info(
                    "chat.turn",
                    conversation_id=event.conversation_id,
                    mode=event.mode,
                    tools=used,
                    usage=event.usage,
                    timings_ms=event.timings_ms,
                    cited=len(event.cited_product_ids),
                    ungrounded=len(event.ungrounded_product_ids),
                )
            elif isinstance(event, ErrorEvent):
                _chat_log.warning("chat.error", code=event.code, tools=used)
            yield event


def _request_id(scope: Scope) -> str:
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1").strip()
            if _GOOD_REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


# Label values come from closed sets: a made-up method or an unrouted path is one series, not one
# per value a caller invents.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in KNOWN_METHODS else "other"


def _route_template(scope: Scope) -> str:
    """The matched route's template (bounded label values), not the path with its ids."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else "unmatched"


def _metrics_of(scope: Scope) -> Metrics | None:
    metrics = getattr(getattr(scope.get("app"), "state", None), "metrics", None)
    return metrics if isinstance(metrics, Metrics) else None


class RequestObservability:
    """Per request: a request id (X-Request-ID in, or made; echoed back), bound for every log
    line of the request, one access line, and the request metrics. Added last: outermost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = RequestContext(_request_id(scope))
        token = _request.set(context)
        response: MutableMapping[str, Any] = {"status": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, context.request_id)
            await send(message)

        try:
            with structlog.contextvars.bound_contextvars(request_id=context.request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    self._record(scope, context, int(response["status"]), started)
        finally:
            _request.reset(token)

    def _record(self, scope: Scope, context: RequestContext, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = _route_template(scope)
        if (metrics := _metrics_of(scope)) is not None:
            metrics.observe_request(_method(scope), route, status, seconds)
        _access_log.info(
            "request",
            method=_method(scope),
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            key_id=context.key_id,
        )
