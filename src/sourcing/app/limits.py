"""Request body size limit (ASGI middleware): an oversized body is a typed 413, never read."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sourcing.app.errors import send_error
from sourcing.domain.errors import PayloadTooLargeError


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read up to the limit, then replay what was read.
        messages: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            more = message.get("more_body", False)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        error = PayloadTooLargeError(
            f"the request body is over {self.max_bytes} bytes", max_bytes=self.max_bytes
        )
        await send_error(send, error)
