"""Request limits (ASGI middleware): an oversized body is a typed 413, never read; a NUL a 422."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sourcing.app.errors import send_error
from sourcing.domain.errors import BadInputError, PayloadTooLargeError


@dataclass
class _BufferedBody:
    messages: list[Message]
    body: bytes
    over_limit: bool

    def replay(self, receive: Receive) -> Receive:
        """A receive that hands back the buffered messages, then reads on."""

        async def replayed() -> Message:
            return self.messages.pop(0) if self.messages else await receive()

        return replayed


async def _read_body(receive: Receive, max_bytes: int | None = None) -> _BufferedBody:
    """Every message of the request body, stopping early once it is over `max_bytes`."""
    messages: list[Message] = []
    body, more = b"", True
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if max_bytes is not None and len(body) > max_bytes:
            return _BufferedBody(messages, body, over_limit=True)
        more = message.get("more_body", False)
    return _BufferedBody(messages, body, over_limit=False)


class BodySizeLimit:
    """Bodies up to `max_bytes`; a path in `streamed` (feed uploads) up to its own cap, which
    its route enforces again while it streams the body to disk, so nothing is buffered here."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, streamed: Mapping[str, int] | None = None
    ) -> None:
        self.app, self.max_bytes, self.streamed = app, max_bytes, dict(streamed or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        cap = self.streamed.get(scope["path"], self.max_bytes)
        if declared is not None:
            if not declared.isdigit() or int(declared) > cap:
                await self._refuse(send, cap)
                return
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.streamed:
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read up to the limit, then replay what was read.
        buffered = await _read_body(receive, self.max_bytes)
        if buffered.over_limit:
            await self._refuse(send, self.max_bytes)
            return
        await self.app(scope, buffered.replay(receive), send)

    async def _refuse(self, send: Send, cap: int) -> None:
        error = PayloadTooLargeError(f"the request body is over {cap} bytes", max_bytes=cap)
        await send_error(send, error)


# A JSON '\u0000' escape: a backslash that is not itself escaped, then u0000.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RejectNulBytes:
    """PostgreSQL text cannot hold NUL: one in the path, the query or a JSON body is a typed 422
    before any route runs, never a driver error mid-request. Bodies of `streamed` paths are not
    read here: a feed's rows are cleaned of control characters row by row."""

    def __init__(self, app: ASGIApp, streamed: Collection[str] = ()) -> None:
        self.app, self.streamed = app, frozenset(streamed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            await self._refuse(send, "the path or query")
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if b"json" not in content_type or scope["path"] in self.streamed:
            await self.app(scope, receive, send)
            return
        # BodySizeLimit runs first, so what is buffered here is already bounded.
        buffered = await _read_body(receive)
        if _JSON_NUL.search(buffered.body):
            await self._refuse(send, "the JSON body")
            return
        await self.app(scope, buffered.replay(receive), send)

    async def _refuse(self, send: Send, where: str) -> None:
        error = BadInputError(f"{where} holds a NUL character (\\u0000), which text cannot hold")
        await send_error(send, error)
