"""The model client against a respx-mocked OpenAI-compatible endpoint: retries, breaker, stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from sourcing.agents.llm import (
    BreakerState,
    CircuitBreaker,
    LLMConfig,
    ModelDeadlineError,
    ModelUnavailableError,
    ResilientChat,
    build_chat_model,
)
from sourcing.domain.errors import UpstreamError

BASE_URL = "http://llm.test/v1"
URL = f"{BASE_URL}/chat/completions"
PROMPT = [HumanMessage("hello")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    async def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)


def completion(content: str, **message: Any) -> httpx.Response:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "stop",
            }
        ],
    }
    return httpx.Response(200, json=body)


def error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": f"status {status}"}})


def sse(*deltas: str) -> httpx.Response:
    events = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}],
        }
        for delta in deltas
    ]
    events.append({**events[-1], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


@pytest.fixture
def config() -> LLMConfig:
    return LLMConfig(base_url=BASE_URL, model="m", api_key="k", max_retries=2, breaker_failures=3)


@pytest.fixture
def clients() -> Iterator[tuple[httpx.Client, httpx.AsyncClient]]:
    sync_client, async_client = httpx.Client(), httpx.AsyncClient()
    yield sync_client, async_client
    sync_client.close()


@pytest.fixture
def model(config: LLMConfig, clients: tuple[httpx.Client, httpx.AsyncClient]) -> ChatOpenAI:
    return build_chat_model(config, http_client=clients[0], http_async_client=clients[1])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def chat(model: ChatOpenAI, config: LLMConfig, clock: Clock, sleeps: Sleeps) -> ResilientChat:
    return ResilientChat.from_config(
        model, config, clock=clock, sleep=sleeps, async_sleep=sleeps.sleep
    )


def test_build_chat_model_leaves_retries_to_us(model: ChatOpenAI) -> None:
    assert model.max_retries == 0
    assert model.model_name == "m"
    assert model.request_timeout == 30.0


def test_plain_completion(respx_mock: respx.MockRouter, chat: ResilientChat) -> None:
    route = respx_mock.post(URL).mock(return_value=completion("hi there"))
    reply = chat.invoke(PROMPT)
    assert reply.content == "hi there"
    assert route.call_count == 1
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "m"
    assert route.calls.last.request.headers["authorization"] == "Bearer k"


def test_reasoning_content_field_never_reaches_the_answer(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    respx_mock.post(URL).mock(return_value=completion("42", reasoning_content="secret musing"))
    reply = chat.invoke(PROMPT)
    assert reply.content == "42"
    assert "secret musing" not in str(reply.content)


def test_rate_limit_is_retried_after_a_sleep(
    respx_mock: respx.MockRouter, chat: ResilientChat, sleeps: Sleeps
) -> None:
    route = respx_mock.post(URL).mock(side_effect=[error(429), completion("ok")])
    assert chat.invoke(PROMPT).content == "ok"
    assert route.call_count == 2
    assert chat.retries == 1
    assert len(sleeps.calls) == 1
    assert 0 <= sleeps.calls[0] <= 0.5
    assert chat.breaker.state is BreakerState.CLOSED


def test_server_errors_open_the_breaker_then_calls_fail_fast(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    route = respx_mock.post(URL).mock(return_value=error(500))
    with pytest.raises(ModelUnavailableError) as caught:
        chat.invoke(PROMPT)
    assert caught.value.details["attempts"] == 3
    assert route.call_count == 3
    assert chat.breaker_open

    with pytest.raises(ModelUnavailableError, match="circuit open"):
        chat.invoke(PROMPT)
    assert route.call_count == 3


def test_half_open_trial_success_closes_the_breaker(
    respx_mock: respx.MockRouter, chat: ResilientChat, clock: Clock
) -> None:
    route = respx_mock.post(URL).mock(return_value=error(503))
    with pytest.raises(ModelUnavailableError):
        chat.invoke(PROMPT)
    assert chat.breaker_open

    clock.now += 29.9
    with pytest.raises(ModelUnavailableError):
        chat.invoke(PROMPT)
    assert route.call_count == 3

    clock.now += 0.2
    assert not chat.breaker_open
    assert chat.breaker.state is BreakerState.HALF_OPEN
    route.mock(return_value=completion("back"))
    assert chat.invoke(PROMPT).content == "back"
    assert route.call_count == 4
    assert chat.breaker.state is BreakerState.CLOSED


def test_half_open_trial_failure_reopens_without_retrying(
    respx_mock: respx.MockRouter, chat: ResilientChat, clock: Clock
) -> None:
    route = respx_mock.post(URL).mock(return_value=error(502))
    with pytest.raises(ModelUnavailableError):
        chat.invoke(PROMPT)
    clock.now += 30
    with pytest.raises(ModelUnavailableError):
        chat.invoke(PROMPT)
    assert route.call_count == 4
    assert chat.breaker_open


def test_timeouts_are_retried_then_reported_unavailable(
    respx_mock: respx.MockRouter, chat: ResilientChat, sleeps: Sleeps
) -> None:
    route = respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ModelUnavailableError) as caught:
        chat.invoke(PROMPT)
    assert route.call_count == 3
    assert chat.retries == 2
    assert len(sleeps.calls) == 2
    assert isinstance(caught.value, UpstreamError)
    assert caught.value.status_code == 503


def test_connection_error_then_success(respx_mock: respx.MockRouter, chat: ResilientChat) -> None:
    route = respx_mock.post(URL).mock(side_effect=[httpx.ConnectError("refused"), completion("up")])
    assert chat.invoke(PROMPT).content == "up"
    assert route.call_count == 2


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(
    respx_mock: respx.MockRouter, chat: ResilientChat, status: int
) -> None:
    route = respx_mock.post(URL).mock(return_value=error(status))
    with pytest.raises(UpstreamError) as caught:
        chat.invoke(PROMPT)
    assert not isinstance(caught.value, ModelUnavailableError)
    assert caught.value.details["status"] == status
    assert route.call_count == 1
    assert chat.retries == 0
    assert chat.breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_async_invoke_retries(
    respx_mock: respx.MockRouter, chat: ResilientChat, sleeps: Sleeps
) -> None:
    route = respx_mock.post(URL).mock(side_effect=[error(500), completion("async ok")])
    reply = await chat.ainvoke(PROMPT)
    assert reply.content == "async ok"
    assert route.call_count == 2
    assert len(sleeps.calls) == 1


@pytest.mark.anyio
async def test_async_breaker_fails_fast(respx_mock: respx.MockRouter, chat: ResilientChat) -> None:
    route = respx_mock.post(URL).mock(return_value=error(500))
    with pytest.raises(ModelUnavailableError):
        await chat.ainvoke(PROMPT)
    with pytest.raises(ModelUnavailableError):
        await chat.ainvoke(PROMPT)
    assert route.call_count == 3


async def collect(stream: AsyncIterator[Any]) -> str:
    return "".join([str(chunk.content) async for chunk in stream])


@pytest.mark.anyio
async def test_stream_assembles_chunks(respx_mock: respx.MockRouter, chat: ResilientChat) -> None:
    route = respx_mock.post(URL).mock(return_value=sse("Hel", "lo, ", "buyer"))
    assert await collect(chat.astream(PROMPT)) == "Hello, buyer"
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content)["stream"] is True


@pytest.mark.anyio
async def test_stream_failing_before_first_chunk_is_retried(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    route = respx_mock.post(URL).mock(side_effect=[error(503), httpx.ReadTimeout("x"), sse("ok")])
    assert await collect(chat.astream(PROMPT)) == "ok"
    assert route.call_count == 3
    assert chat.retries == 2


class BrokenMidStream(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        event = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": None}],
        }
        yield f"data: {json.dumps(event)}\n\n".encode()
        raise httpx.ReadError("connection reset")


@pytest.mark.anyio
async def test_stream_failing_after_a_chunk_is_not_retried(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    broken = httpx.Response(
        200, stream=BrokenMidStream(), headers={"content-type": "text/event-stream"}
    )
    route = respx_mock.post(URL).mock(return_value=broken)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in chat.astream(PROMPT):
            seen.append(str(chunk.content))

    with pytest.raises(ModelUnavailableError):
        await consume()
    assert seen == ["partial"]
    assert route.call_count == 1


def test_breaker_admits_one_trial_when_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=clock)
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now += 10
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_local_bugs_are_not_disguised_as_upstream_errors(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    route = respx_mock.post(URL).mock(side_effect=ValueError("bad mock"))
    with pytest.raises(ValueError, match="bad mock"):
        chat.invoke(PROMPT)
    assert route.call_count == 1
    assert chat.breaker.state is BreakerState.CLOSED


class Trickle(httpx.AsyncByteStream):
    """A stream whose second chunk comes after the caller's deadline."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for text in ("slow", "er"):
            event = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
            yield f"data: {json.dumps(event)}\n\n".encode()
            await asyncio.sleep(0.3)


@pytest.mark.anyio
async def test_a_trickle_past_the_deadline_ends_the_stream_without_a_retry(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    slow = httpx.Response(200, stream=Trickle(), headers={"content-type": "text/event-stream"})
    route = respx_mock.post(URL).mock(return_value=slow)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in chat.astream(PROMPT, deadline=time.monotonic() + 0.1):
            seen.append(str(chunk.content))

    with pytest.raises(ModelDeadlineError, match="passed its deadline"):
        await consume()
    assert seen == ["slow"]
    assert route.call_count == 1
    assert chat.retries == 0


@pytest.mark.anyio
async def test_a_passed_deadline_calls_nothing_and_counts_against_the_breaker(
    respx_mock: respx.MockRouter, chat: ResilientChat
) -> None:
    route = respx_mock.post(URL).mock(return_value=sse("never"))
    for _ in range(3):
        with pytest.raises(ModelDeadlineError):
            await collect(chat.astream(PROMPT, deadline=time.monotonic() - 1))
    assert route.call_count == 0
    assert chat.breaker_open  # three slow turns in a row: later turns go offline at once
