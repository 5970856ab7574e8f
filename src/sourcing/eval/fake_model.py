"""A fake OpenAI-compatible chat model server that streams at a realistic token rate."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL_NAME = "fake-model"
ANSWER = (
    "这款 {product} 起批量低、源头工厂价、48小时发货，适合小批量试单；"
    "需要的话我可以再比较几家供应商的报价和诚信分，或者按您的预算组一套货。"
)


@dataclass
class Pace:
    """How the fake model talks: the delay before its first token, then tokens per second.

    Read on every request, so a test can slow a running server down."""

    first_token_s: float = 0.3
    tokens_per_s: float = 40.0
    answer_tokens: int = 60
    tool_round: bool = True


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    body = {
        "id": "fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL_NAME,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _usage(prompt: int, completion: int) -> str:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    body = {"id": "fake", "object": "chat.completion.chunk", "model": MODEL_NAME, "choices": []}
    return f"data: {json.dumps(body | {'usage': usage})}\n\n"


def _tokens(text: str, count: int) -> list[str]:
    """`text` cut into `count` pieces (about one CJK character or word piece per token)."""
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)][:count]


def _answer(messages: Sequence[dict[str, Any]], pace: Pace) -> tuple[list[str], str]:
    products: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "tool":
            products = json.loads(str(message.get("content") or "{}")).get("products") or products
    product = f"[{products[0]['id']}]" if products else "（暂无匹配）"
    text = ANSWER.format(product=product)
    text = (text * (1 + pace.answer_tokens // max(1, len(text))))[: pace.answer_tokens * 2]
    pieces = [_chunk({"content": piece}) for piece in _tokens(text, pace.answer_tokens)]
    return pieces, "stop"


def _tool_call(query: str, pace: Pace) -> tuple[list[str], str]:
    arguments = json.dumps({"query": query[:100]}, ensure_ascii=False)
    parts = _tokens(arguments, max(1, len(arguments) // 4))
    head = {"index": 0, "id": "call_1", "type": "function"}
    first = head | {"function": {"name": "select_products", "arguments": parts[0]}}
    pieces = [_chunk({"role": "assistant", "content": None, "tool_calls": [first]})]
    pieces += [
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        for part in parts[1:]
    ]
    return pieces, "tool_calls"


async def _paced(pieces: list[str], finish: str, pace: Pace) -> AsyncIterator[str]:
    started = time.monotonic()
    await asyncio.sleep(pace.first_token_s)
    for number, piece in enumerate(pieces):
        # Sleep to a schedule, not per token, so a busy loop does not slow the rate further.
        due = started + pace.first_token_s + number / pace.tokens_per_s
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        yield piece
    yield _chunk({}, finish)
    yield _usage(400, len(pieces))
    yield "data: [DONE]\n\n"


def build_app(pace: Pace) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        messages = body.get("messages") or []
        answered = any(m.get("role") == "tool" for m in messages)
        if pace.tool_round and body.get("tools") and not answered:
            users = [m for m in messages if m.get("role") == "user"]
            pieces, finish = _tool_call(str(users[-1].get("content") or "") if users else "", pace)
        else:
            pieces, finish = _answer(messages, pace)
        return StreamingResponse(_paced(pieces, finish, pace), media_type="text/event-stream")

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": MODEL_NAME, "object": "model"}]})

    routes = [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--tokens-per-s", type=float, default=40.0)
    parser.add_argument("--answer-tokens", type=int, default=60)
    parser.add_argument("--no-tool-round", action="store_true")
    args = parser.parse_args(argv)
    pace = Pace(
        first_token_s=args.first_token_ms / 1000,
        tokens_per_s=args.tokens_per_s,
        answer_tokens=args.answer_tokens,
        tool_round=not args.no_tool_round,
    )
    config = uvicorn.Config(
        build_app(pace), host="127.0.0.1", port=args.port, log_level="warning", backlog=2048
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
