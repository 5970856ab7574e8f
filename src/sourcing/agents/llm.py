"""The chat-model client factory and its resilience layer: bounded retries and a circuit breaker."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from enum import Enum
from typing import Any, cast

import httpx
import openai
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sourcing.domain.errors import UpstreamError


class ModelUnavailableError(UpstreamError):
    """The model endpoint is down, overloaded or timing out; the caller should fall back."""

    status_code = 503
    code = "model_unavailable"


class ModelDeadlineError(ModelUnavailableError):
    """The endpoint answers, but too slowly: the turn's deadline passed (a slow trickle)."""

    code = "model_too_slow"


class LLMConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str
    model: str
    api_key: SecretStr
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    max_tokens: int | None = Field(default=None, ge=1, description="completion tokens per call")
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: float = Field(default=30.0, ge=0)


def build_chat_model(
    config: LLMConfig, *, http_client: httpx.Client, http_async_client: httpx.AsyncClient
) -> ChatOpenAI:
    # max_retries=0: retries live in ResilientChat so they are counted and feed the breaker.
    return ChatOpenAI(
        base_url=config.base_url,
        model=config.model,
        api_key=config.api_key,
        timeout=config.timeout_s,
        max_tokens=config.max_tokens,
        max_retries=0,
        stream_usage=True,
        http_client=http_client,
        http_async_client=http_async_client,
    )


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `reset_s` lets one trial call through."""

    def __init__(
        self, *, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._reset_due():
                return BreakerState.HALF_OPEN
            return self._state

    def _reset_due(self) -> bool:
        return self._clock() - self._opened_at >= self._reset_s

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open only the first caller gets the trial."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                if not self._reset_due():
                    return False
                self._state = BreakerState.HALF_OPEN
                self._trial_running = False
            if self._state is BreakerState.HALF_OPEN:
                if self._trial_running:
                    return False
                self._trial_running = True
            return True

    def release(self) -> None:
        """A call ended without a verdict (cancelled); let the next caller have the trial."""
        with self._lock:
            self._trial_running = False

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._trial_running = False


class TruncatedStreamError(Exception):
    """The endpoint's stream ended without a finish reason: cut off half-way."""


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, server errors, timeouts, broken connections and garbage; never other 4xx."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    # A JSONDecodeError here comes from parsing the endpoint's body, not from our code.
    garbage = openai.APIResponseValidationError | json.JSONDecodeError | TruncatedStreamError
    broken = openai.APIConnectionError | httpx.TransportError | TimeoutError
    return isinstance(exc, broken | garbage)


class ResilientChat:
    """A chat model behind bounded exponential-backoff retries and a circuit breaker."""

    def __init__(
        self,
        model: BaseChatModel,
        *,
        breaker: CircuitBreaker,
        max_retries: int = 2,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.model = model
        self.breaker = breaker
        self.max_retries = max_retries
        self.retries = 0
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._rng = rng or random.Random()

    @classmethod
    def from_config(
        cls,
        model: BaseChatModel,
        config: LLMConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> ResilientChat:
        breaker = CircuitBreaker(
            failures=config.breaker_failures, reset_s=config.breaker_reset_s, clock=clock
        )
        return cls(
            model,
            breaker=breaker,
            max_retries=config.max_retries,
            sleep=sleep,
            async_sleep=async_sleep,
        )

    @property
    def breaker_open(self) -> bool:
        return self.breaker.state is BreakerState.OPEN

    def _delay(self, attempt: int) -> float:
        # Full jitter keeps many replicas from retrying in lockstep against one endpoint.
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2**attempt)
        return self._rng.uniform(0, ceiling)

    def _admit(self) -> None:
        if not self.breaker.allow():
            raise ModelUnavailableError("the model endpoint is unavailable (circuit open)")

    def _on_error(self, exc: Exception, attempt: int, *, can_retry: bool = True) -> None:
        """Raise the domain error when this failure ends the call; return to retry."""
        if isinstance(exc, ModelDeadlineError):
            self.breaker.record_failure()
            raise exc
        if not is_retryable(exc):
            if not isinstance(exc, openai.APIStatusError):
                # Our own bug, not the endpoint's: surface it unchanged.
                self.breaker.release()
                raise exc
            # The endpoint answered; the request itself was wrong, so the breaker stays closed.
            self.breaker.record_success()
            raise UpstreamError(
                "the model endpoint rejected the request",
                status=exc.status_code,
                reason=str(exc),
            ) from exc
        self.breaker.record_failure()
        if not can_retry or attempt >= self.max_retries:
            raise ModelUnavailableError(
                "the model endpoint failed", attempts=attempt + 1, reason=str(exc)
            ) from exc
        self.retries += 1

    def invoke(self, messages: LanguageModelInput, **kwargs: Any) -> BaseMessage:
        attempt = 0
        while True:
            self._admit()
            try:
                result = self.model.invoke(messages, **kwargs)
            except Exception as exc:
                self._on_error(exc, attempt)
                self._sleep(self._delay(attempt))
                attempt += 1
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            return result

    async def ainvoke(self, messages: LanguageModelInput, **kwargs: Any) -> BaseMessage:
        attempt = 0
        while True:
            self._admit()
            try:
                result = await self.model.ainvoke(messages, **kwargs)
            except Exception as exc:
                self._on_error(exc, attempt)
                await self._async_sleep(self._delay(attempt))
                attempt += 1
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            return result

    async def astream(
        self, messages: LanguageModelInput, *, deadline: float | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseMessageChunk]:
        """Streams one reply; past `deadline` (time.monotonic) it ends with ModelDeadlineError.

        The deadline is checked before each try and at each chunk: the HTTP read timeout
        bounds the wait for one chunk, the deadline the whole trickle."""
        attempt = 0
        while True:
            self._admit()
            yielded = False
            try:
                _check_deadline(deadline)
                # aclosing: a cancelled turn (client gone) closes the upstream stream at once.
                upstream = cast(
                    AsyncGenerator[BaseMessageChunk], self.model.astream(messages, **kwargs)
                )
                finished = False
                async with aclosing(upstream) as chunks:
                    async for chunk in chunks:
                        _check_deadline(deadline)
                        finished = finished or bool(chunk.response_metadata.get("finish_reason"))
                        if not yielded:
                            yielded = True
                            self.breaker.record_success()
                        yield chunk
                if yielded and not finished:
                    raise TruncatedStreamError("the stream ended without a finish reason")
            except Exception as exc:
                # Once text has reached the user a retry would repeat it.
                self._on_error(exc, attempt, can_retry=not yielded)
                await self._async_sleep(self._delay(attempt))
                attempt += 1
                continue
            except BaseException:
                self.breaker.release()
                raise
            if not yielded:
                self.breaker.record_success()
            return


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ModelDeadlineError("the model endpoint is too slow: the turn passed its deadline")
