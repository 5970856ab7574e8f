"""Graceful shutdown: the app's stopping flag, the uvicorn server raising it, how streams end."""

from __future__ import annotations

import asyncio
import math
import signal
import threading
from collections.abc import AsyncGenerator, Generator, Iterator
from contextlib import aclosing, contextmanager
from types import FrameType

import anyio
import structlog
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from sourcing.agents.events import ChatEvent, ErrorEvent
from sourcing.app.errors import send_error
from sourcing.domain.errors import ShuttingDownError

# Turns get the shutdown timeout less this, so their closing events still go out before uvicorn
# cancels what is left.
DRAIN_MARGIN_S = 2.0
RETRY_AFTER_S = 5.0
LIVE_PATHS = frozenset({"/healthz"})  # liveness answers while the process drains

_chat_log = structlog.get_logger("sourcing.chat")


class Shutdown:
    """Set once when the server starts to stop; streams and new requests read it."""

    def __init__(self, timeout_s: float) -> None:
        self.drain_s = max(0.0, timeout_s - DRAIN_MARGIN_S)
        self.started = False
        self.deadline = math.inf  # event-loop time by which open chat turns must end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: anyio.Event | None = None
        self._scopes: set[anyio.CancelScope] = set()

    def attach(self) -> None:
        """Called on the event loop as the app starts (its lifespan)."""
        self._loop = asyncio.get_running_loop()
        self._event = anyio.Event()
        self.started, self.deadline = False, math.inf

    def request(self) -> None:
        """Start shutting down; safe from a signal handler or another thread."""
        if self._loop is None or self._loop.is_closed():
            self.started = True
            return
        try:
            self._loop.call_soon_threadsafe(self.begin)
        except RuntimeError:  # the loop closed in between: nothing is left to drain
            self.started = True

    def begin(self) -> None:
        """On the event loop: refuse new requests, give open turns `drain_s`, end idle streams."""
        if self.started:
            return
        self.started = True
        # The loop's clock is anyio's on asyncio; a plain callback cannot ask anyio for it.
        self.deadline = asyncio.get_running_loop().time() + self.drain_s
        for scope in self._scopes:
            scope.deadline = self.deadline
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    @contextmanager
    def bounded(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that expires at the drain deadline once shutdown starts."""
        with anyio.CancelScope(deadline=self.deadline) as scope:
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)


def shutting_down_event() -> ErrorEvent:
    return ErrorEvent(
        code=ShuttingDownError.code,
        message="the server is restarting; send the message again",
        retryable=True,
    )


async def drain_turn(
    events: AsyncGenerator[ChatEvent], shutdown: Shutdown
) -> AsyncGenerator[ChatEvent]:
    """A turn's events as they come; a turn still running at the drain deadline is cancelled
    (its model call with it) and ends with a retryable `shutting_down` error event."""
    async with aclosing(events) as stream:
        while True:
            # The scope wraps only the wait for the next event, never a yield.
            with shutdown.bounded() as scope:
                try:
                    event = await anext(stream)
                except StopAsyncIteration:
                    return
            if scope.cancelled_caught:
                _chat_log.warning(
                    "chat.error", code=ShuttingDownError.code, drain_s=shutdown.drain_s
                )
                yield shutting_down_event()
                return
            yield event


class RefuseWhenStopping:
    """New requests during shutdown get a 503 `shutting_down` with Retry-After."""

    def __init__(self, app: ASGIApp, shutdown: Shutdown) -> None:
        self.app, self.shutdown = app, shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.shutdown.started or scope["path"] in LIVE_PATHS:
            await self.app(scope, receive, send)
            return
        error = ShuttingDownError("the server is shutting down", retry_after_s=RETRY_AFTER_S)
        headers = ((b"retry-after", b"%d" % math.ceil(RETRY_AFTER_S)), (b"connection", b"close"))
        await send_error(send, error, headers)


class GracefulServer(uvicorn.Server):
    """uvicorn that tells the app as soon as shutdown starts, and exits 0 after a clean stop."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.app_shutdown = shutdown

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.app_shutdown.request()

    @contextmanager
    def capture_signals(self) -> Generator[None]:
        # uvicorn re-raises the caught signal after stopping, so a clean SIGTERM stop would exit
        # 143; this one only restores the previous handlers.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        caught = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in caught}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
