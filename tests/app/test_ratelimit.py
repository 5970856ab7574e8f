"""Rate limits: both adapters on a fake clock (Redis the real one), Redis faults, and the API."""

from __future__ import annotations

import dataclasses
import logging
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from sourcing.app import deps
from sourcing.app.container import build_container, build_rate_limiter
from sourcing.app.main import create_app
from sourcing.app.ratelimit import (
    InProcessRateLimiter,
    Limit,
    RateLimiter,
    RedisRateLimiter,
    build_redis_client,
)
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo

REDIS_URL = "redis://127.0.0.1:6379/0"
THREE_A_MINUTE = Limit("requests", 3, 60.0)


class FakeClock:
    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now  # epoch-sized, as the Redis adapter's wall clock is

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = build_redis_client(REDIS_URL, timeout_s=2.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"no Redis answers at {REDIS_URL} ({exc}): install redis-server and start it "
            "(.ci/run starts an installed one)"
        )
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, removed afterwards."""
    prefix = f"test-ratelimit:{uuid.uuid4().hex}"
    yield prefix
    keys = list(redis_client.scan_iter(f"{prefix}:*"))
    if keys:
        redis_client.delete(*keys)


LimiterFactory = Callable[[FakeClock], RateLimiter]


@pytest.fixture(params=["in-process", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> LimiterFactory:
    """The same contract on both adapters."""
    if request.param == "in-process":
        return lambda clock: InProcessRateLimiter(clock=clock)
    client: redis.Redis = request.getfixturevalue("redis_client")
    prefix: str = request.getfixturevalue("prefix")
    return lambda clock: RedisRateLimiter(client, prefix=prefix, clock=clock)


def _allowed(limiter: RateLimiter, times: int, key: str = "key:1") -> list[bool]:
    return [limiter.hit(THREE_A_MINUTE, key).allowed for _ in range(times)]


def test_the_limit_passes_then_refuses_until_a_slot_frees(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock)
    assert _allowed(limiter, 3) == [True, True, True]
    refused = limiter.hit(THREE_A_MINUTE, "key:1")
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(20.0)  # one slot per 60 s / 3
    clock.advance(19.5)
    assert limiter.hit(THREE_A_MINUTE, "key:1").retry_after_s == pytest.approx(0.5)
    clock.advance(0.5)
    assert _allowed(limiter, 2) == [True, False]


def test_refusals_do_not_use_up_the_allowance(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock)
    assert _allowed(limiter, 10) == [True] * 3 + [False] * 7
    clock.advance(20.0)
    assert _allowed(limiter, 2) == [True, False]


def test_a_quiet_period_restores_the_whole_allowance(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock)
    assert _allowed(limiter, 4) == [True, True, True, False]
    clock.advance(60.0)
    assert _allowed(limiter, 4) == [True, True, True, False]


def test_keys_and_limits_count_apart(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter(FakeClock())
    assert _allowed(limiter, 4) == [True, True, True, False]
    assert _allowed(limiter, 1, key="key:2") == [True]
    one_chat = Limit("chat turns", 1)
    assert [limiter.hit(one_chat, "key:1").allowed for _ in range(2)] == [True, False]
    assert _allowed(limiter, 1) == [False]


def test_replicas_share_one_allowance_through_redis(redis_client: redis.Redis, prefix: str) -> None:
    clock = FakeClock()
    first, second = (RedisRateLimiter(redis_client, prefix=prefix, clock=clock) for _ in "ab")
    assert _allowed(first, 2) + _allowed(second, 1) == [True, True, True]
    assert (_allowed(first, 1), _allowed(second, 1)) == ([False], [False])


def test_a_redis_key_expires_once_its_allowance_is_whole_again(
    redis_client: redis.Redis, prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=prefix, clock=FakeClock())
    assert _allowed(limiter, 1) == [True]
    ttl_ms = redis_client.pttl(f"{prefix}:requests:key:1")
    assert 0 < ttl_ms <= 20_000


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_redis_down_falls_back_to_local_limits(caplog: pytest.LogCaptureFixture) -> None:
    """Fail open to this replica's own limits: the API stays up and each replica stays bounded."""
    client = build_redis_client(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.5)
    limiter = RedisRateLimiter(client, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="sourcing.app.ratelimit"):
        assert _allowed(limiter, 4) == [True, True, True, False]
    assert limiter.degraded
    warnings = [r.getMessage() for r in caplog.records if r.name == "sourcing.app.ratelimit"]
    assert len(warnings) == 1  # once per outage, not once per request
    assert "Redis unavailable, using local limits" in warnings[0]
    limiter.close()


def test_a_redis_that_never_answers_times_out_to_local_limits() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = build_redis_client(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
        limiter = RedisRateLimiter(client, clock=FakeClock())
        assert _allowed(limiter, 4) == [True, True, True, False]
        assert limiter.degraded
        limiter.close()


def test_the_composition_root_builds_redis_limits_with_timeouts() -> None:
    assert isinstance(build_rate_limiter(Settings()), InProcessRateLimiter)
    limiter = build_rate_limiter(Settings(redis_url=REDIS_URL, redis_timeout_s=0.3))
    assert isinstance(limiter, RedisRateLimiter)
    options = limiter.client.connection_pool.connection_kwargs
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (0.3, 0.3)
    limiter.close()


def _dependency_calls(context: object) -> set[object]:
    def walk(dependant: object) -> Iterator[object]:
        yield getattr(dependant, "call", None)
        for child in getattr(dependant, "dependencies", []):
            yield from walk(child)

    return set(walk(getattr(context, "dependant", None)))


CHAT_ROUTES = {("POST", "/v1/chat"), ("POST", "/v1/chat/completions")}


def test_every_v1_route_is_limited_and_nothing_else() -> None:
    """From the route table, so a route added later cannot skip its limit."""
    seen = set()
    for context in iter_route_contexts(create_app().routes):
        if not isinstance(context.original_route, APIRoute) or context.path is None:
            assert not str(context.path).startswith("/v1"), context.path
            continue
        calls = _dependency_calls(context)
        for method in context.methods or ():
            key, v1 = (method, context.path), context.path.startswith("/v1/")
            seen.add(key)
            assert (deps.limit_requests in calls) == v1, f"{key}: limited only under /v1"
            assert (deps.limit_chat_turns in calls) == (key in CHAT_ROUTES), key
    assert seen >= CHAT_ROUTES
    assert {("GET", "/healthz"), ("GET", "/"), ("GET", "/widget.js")} <= seen


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], FakeClock]]:
    """Five requests and two chat turns a minute per key, on a fake clock."""
    folder = tmp_path_factory.mktemp("ratelimit")
    settings = Settings(
        data_dir=folder, rate_limit_per_minute=5, chat_rate_limit_per_minute=2, demo=True
    )
    engine = load_demo(settings, products=40)
    with Session(engine) as session:
        repo = ApiKeyRepository(session)
        secrets = {name: repo.create(ApiRole.BUYER, name)[1] for name in ("b-0001", "b-0002")}
        session.commit()
    engine.dispose()
    clock = FakeClock()
    built = build_container(settings, embedder=use_embedder)
    container = dataclasses.replace(built, limiter=InProcessRateLimiter(clock=clock))
    headers = {name: {"Authorization": f"Bearer {secret}"} for name, secret in secrets.items()}
    with TestClient(create_app(container=container)) as client:
        yield client, headers, clock
    container.close()


@pytest.fixture
def fresh(
    api: tuple[TestClient, dict[str, dict[str, str]], FakeClock],
) -> tuple[TestClient, dict[str, dict[str, str]], FakeClock]:
    """An hour later: every key has its whole allowance again."""
    api[2].advance(3600)
    return api


def test_demo_page_sign_ins_are_limited_by_client_address(
    fresh: tuple[TestClient, dict[str, dict[str, str]], FakeClock],
) -> None:
    """Each view of the demo page mints a widget token: a script cannot mint them in bulk."""
    client, _, _ = fresh
    assert [client.get("/").status_code for _ in range(5)] == [200] * 5
    refused = client.get("/")
    assert refused.status_code == 429
    assert "demo sign-ins" in refused.json()["error"]["message"]
    assert client.get("/widget.js").status_code == 200


def test_past_the_limit_a_key_gets_429_with_retry_after(
    fresh: tuple[TestClient, dict[str, dict[str, str]], FakeClock],
) -> None:
    client, headers, clock = fresh
    statuses = [client.get("/v1/me", headers=headers["b-0001"]).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = client.get("/v1/me", headers=headers["b-0001"])
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "12"  # 60 s / 5
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert "5 per 60 s" in error["message"]
    assert client.get("/v1/me", headers=headers["b-0002"]).status_code == 200  # another key
    clock.advance(12)
    assert client.get("/v1/me", headers=headers["b-0001"]).status_code == 200  # a slot freed
    assert client.get("/v1/me", headers=headers["b-0001"]).status_code == 429


def test_keyless_requests_are_limited_by_client_address(
    fresh: tuple[TestClient, dict[str, dict[str, str]], FakeClock],
) -> None:
    client, headers, _ = fresh
    bad_key = {"Authorization": "Bearer sk-guess"}
    statuses = [client.get("/v1/me", headers=bad_key).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # guessing keys is slowed down too
    assert client.get("/v1/catalog/summary").status_code == 429  # the address, any route
    assert client.get("/v1/me", headers=headers["b-0001"]).status_code == 200


def test_chat_turns_have_their_own_tighter_limit(
    fresh: tuple[TestClient, dict[str, dict[str, str]], FakeClock],
) -> None:
    client, headers, _ = fresh
    turn = {"message": "保温杯", "stream": False}
    completion = {"messages": [{"role": "user", "content": "保温杯"}]}
    assert client.post("/v1/chat", json=turn, headers=headers["b-0001"]).status_code == 200
    assert (
        client.post("/v1/chat/completions", json=completion, headers=headers["b-0001"]).status_code
        == 200
    )
    for path, body in (("/v1/chat", turn), ("/v1/chat/completions", completion)):
        refused = client.post(path, json=body | {"stream": True}, headers=headers["b-0001"])
        assert refused.status_code == 429, path
        assert refused.headers["retry-after"] == "30"  # 60 s / 2
        assert "chat turns" in refused.json()["error"]["message"]
    assert client.get("/v1/me", headers=headers["b-0001"]).status_code == 200


def test_health_and_the_widget_are_never_limited(
    fresh: tuple[TestClient, dict[str, dict[str, str]], FakeClock],
) -> None:
    client, _, _ = fresh
    for path in ("/healthz", "/widget.js"):
        assert [client.get(path).status_code for _ in range(8)] == [200] * 8, path
    assert client.get("/v1/me").status_code == 401  # keyless /v1 calls still have allowance
