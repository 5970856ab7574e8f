"""OpenAI chat-completions wire format for respx-mocked endpoints: replies, streams, a script."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

Reply = Callable[[dict[str, Any]], httpx.Response]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": usage,
    }


def sse_body(chunks: list[dict[str, Any]]) -> bytes:
    lines = "".join(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n" for chunk in chunks)
    return (lines + "data: [DONE]\n\n").encode()


def text_chunks(*deltas: str, usage: tuple[int, int] = (100, 20)) -> list[dict[str, Any]]:
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": delta}) for delta in deltas]
    return [*chunks, _chunk({}, "stop"), _usage_chunk(*usage)]


def tool_call_chunks(
    name: str, arguments: dict[str, Any], *, pieces: int = 1, call_id: str = "call_1"
) -> list[dict[str, Any]]:
    """A native tool call, its JSON arguments split into `pieces` deltas as servers stream them."""
    encoded = json.dumps(arguments, ensure_ascii=False)
    size = max(1, -(-len(encoded) // pieces))
    parts = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name}}
    first["function"]["arguments"] = parts[0]
    chunks = [_chunk({"role": "assistant", "content": None, "tool_calls": [first]})]
    chunks += [
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        for part in parts[1:]
    ]
    return [*chunks, _chunk({}, "tool_calls"), _usage_chunk(80, 10)]


def stream(chunks: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(
        200, content=sse_body(chunks), headers={"content-type": "text/event-stream"}
    )


def text(*deltas: str) -> Reply:
    return lambda _request: stream(text_chunks(*deltas))


def tool_call(name: str, arguments: dict[str, Any], *, pieces: int = 1) -> Reply:
    return lambda _request: stream(tool_call_chunks(name, arguments, pieces=pieces))


def status(code: int) -> Reply:
    return lambda _request: httpx.Response(code, json={"error": {"message": f"status {code}"}})


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON payloads of the tool messages the model was sent."""
    return [json.loads(m["content"]) for m in request["messages"] if m["role"] == "tool"]


def first_product_id(request: dict[str, Any]) -> str:
    for result in tool_results(request):
        for product in result.get("products", []):
            return str(product["id"])
    raise AssertionError("no tool returned a product")


class Script:
    """A model endpoint that answers each request with the next reply and records the bodies."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if not self.replies:
            raise AssertionError(f"the model was called {len(self.requests)} times; unscripted")
        return self.replies.pop(0)(body)


class RecordingStream(httpx.AsyncByteStream):
    """A streamed body that yields one chunk at a time and records whether it was closed."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.parts = [sse_body([chunk])[: -len(b"data: [DONE]\n\n")] for chunk in chunks]
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.sent += 1
            yield part
        yield b"data: [DONE]\n\n"

    async def aclose(self) -> None:
        self.closed = True
