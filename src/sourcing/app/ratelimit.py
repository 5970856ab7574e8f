"""Per-key rate limits: a RateLimiter protocol, an in-process adapter and a shared Redis one."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sourcing.domain.errors import RateLimitedError

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
# Float sums of period/requests can land a hair past the period on the last allowed request.
_EPSILON_S = 1e-6


@dataclass(frozen=True)
class Limit:
    """`requests` per `period_s` for one key, at most `requests` of them at once (GCRA)."""

    name: str
    requests: int
    period_s: float = 60.0

    @property
    def interval_s(self) -> float:
        return self.period_s / self.requests


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0  # when refused: seconds until the next request would pass


class RateLimiter(Protocol):
    def hit(self, limit: Limit, key: str) -> Decision:
        """Counts one request of `key` against `limit` when it is allowed."""
        ...

    def close(self) -> None: ...


def _wait(over_s: float) -> float:
    # Milliseconds: float error at epoch-sized clocks must not turn a 12 s wait into 13.
    return round(over_s, 3)


def gcra(tat: float | None, now: float, limit: Limit) -> tuple[Decision, float | None]:
    """The decision and the key's new theoretical arrival time (unchanged when refused)."""
    new_tat = max(tat if tat is not None else now, now) + limit.interval_s
    over = new_tat - now - limit.period_s
    if over > _EPSILON_S:
        return Decision(False, _wait(over)), tat
    return Decision(True), new_tat


class InProcessRateLimiter:
    """One process's limits; with N replicas each allows the full limit."""

    def __init__(self, *, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock, self._max_keys = clock, max_keys
        self._tats: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def hit(self, limit: Limit, key: str) -> Decision:
        with self._lock:
            now = self._clock()
            slot = (limit.name, key)
            decision, tat = gcra(self._tats.get(slot), now, limit)
            if tat is not None:
                self._tats[slot] = tat
            if len(self._tats) > self._max_keys:
                # A key whose arrival time has passed is back to a full allowance: forget it.
                self._tats = {k: t for k, t in self._tats.items() if t > now}
            return decision

    def close(self) -> None:
        return None


# The same GCRA as `gcra`, atomic in Redis so every replica shares one allowance per key.
# Numbers travel as exact strings: Redis truncates a Lua float reply to an integer.
_GCRA_SCRIPT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - period
if over > tonumber(ARGV[4]) then return {0, string.format('%.17g', over)} end
local ttl_ms = math.ceil((new_tat - now) * 1000)
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl_ms)
return {1, '0'}
"""


class RedisRateLimiter:
    """Limits shared by every replica through one Redis.

    Redis down or slow: each replica falls back to its own in-process limits (fail open to
    local). A limiter outage must not become an API outage, and local limits still bound
    each replica, so the fleet allows at most replicas x the limit until Redis is back."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "sourcing:ratelimit",
        fallback: RateLimiter | None = None,
        clock: Clock = time.time,
        retry_redis_s: float = 5.0,
    ) -> None:
        self.client, self.prefix = client, prefix
        self.fallback = fallback or InProcessRateLimiter(clock=clock)
        self._clock, self._retry_redis_s = clock, retry_redis_s
        self._script = client.register_script(_GCRA_SCRIPT)
        # While Redis is known down, requests skip it instead of each waiting for a timeout.
        self._down_until: float | None = None

    @property
    def degraded(self) -> bool:
        return self._down_until is not None

    def hit(self, limit: Limit, key: str) -> Decision:
        now = self._clock()
        if self._down_until is not None and now < self._down_until:
            return self.fallback.hit(limit, key)
        try:
            allowed, over = self._script(
                keys=[f"{self.prefix}:{limit.name}:{key}"],
                args=[repr(now), repr(limit.interval_s), repr(limit.period_s), repr(_EPSILON_S)],
            )
        except redis.RedisError as exc:
            if self._down_until is None:
                logger.warning("rate limiter: Redis unavailable, using local limits: %s", exc)
            self._down_until = now + self._retry_redis_s
            return self.fallback.hit(limit, key)
        if self._down_until is not None:
            logger.warning("rate limiter: Redis is back, limits are shared again")
            self._down_until = None
        return Decision(bool(int(allowed)), _wait(float(over)))

    def close(self) -> None:
        self.client.close()


def build_redis_client(url: str, *, timeout_s: float) -> redis.Redis:
    """A client whose every call (connect included) gives up after `timeout_s`, once: the
    limiter's local fallback is the retry."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


def enforce(limiter: RateLimiter, limit: Limit, key: str) -> None:
    """Raises RateLimitedError (429 with Retry-After) when `key` is over `limit`."""
    decision = limiter.hit(limit, key)
    if decision.allowed:
        return
    wait_s = max(1, math.ceil(decision.retry_after_s))
    raise RateLimitedError(
        f"too many {limit.name}: the limit is {limit.requests} per {limit.period_s:g} s; "
        f"try again in {wait_s} s",
        retry_after_s=decision.retry_after_s,
        limit=limit.requests,
        period_s=limit.period_s,
    )
