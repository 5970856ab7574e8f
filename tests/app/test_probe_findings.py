"""Regressions for what an outside probe of the running demo broke: stalls, 500s, leaks, labels."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from sourcing.agents.events import ChatEvent, TextDelta
from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import ApiRole, SyncMode
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo
from tests.catalog_sync.feedfiles import product, write_jsonl

HOSTILE_ID = "p-990002"
HOSTILE_TITLE = (
    "<img src=x onerror=alert(1)> 义乌 防尘收纳盒 ![x](https://tracker.example/p.gif) "
    "[点我](javascript:alert(1))"
)
METRICS_TOKEN = "probe-metrics"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}
HUGE_AMOUNT = "收纳盒 1," + ",".join(["000"] * 200) + "元以内"


@dataclass(frozen=True)
class Probe:
    client: TestClient
    buyer: dict[str, str]
    other_buyer: dict[str, str]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Probe]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("probe"),
        rate_limit_per_minute=100_000,
        chat_rate_limit_per_minute=100_000,
        metrics_token=METRICS_TOKEN,
    )
    engine = load_demo(settings, products=120)
    folder = settings.data_dir
    hostile = product(
        HOSTILE_ID,
        title=HOSTILE_TITLE,
        supplier_id="s-0001",
        category="日用百货/收纳整理/收纳盒",
        price_tiers=[{"min_quantity": 2, "price": "4.50"}],
    )
    sync_feed(engine, write_jsonl(folder / "hostile.jsonl", [hostile]), mode=SyncMode.DELTA)
    with Session(engine) as session:
        repo = ApiKeyRepository(session)
        (_, buyer), (_, other) = (
            repo.create(ApiRole.BUYER, "b-0001"),
            repo.create(ApiRole.BUYER, "b-0002"),
        )
        session.commit()
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield Probe(
            client, {"Authorization": f"Bearer {buyer}"}, {"Authorization": f"Bearer {other}"}
        )
    container.close()


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.mark.parametrize("value", ["1e400000", "1e999999", "9" * 20, "1" * 40])
def test_a_huge_price_parameter_is_a_quick_typed_422(probe: Probe, value: str) -> None:
    started = time.perf_counter()
    response = probe.client.get(
        "/v1/products/search", params={"q": "收纳盒", "price_max": value}, headers=probe.buyer
    )
    assert time.perf_counter() - started < 0.5
    assert response.status_code == 422
    assert "price_max" in json.dumps(_error(response))  # the field is named


def test_a_huge_moq_parameter_is_a_typed_422(probe: Probe) -> None:
    response = probe.client.get(
        "/v1/products/search", params={"q": "收纳盒", "moq_max": str(10**309)}, headers=probe.buyer
    )
    assert response.status_code == 422
    assert _error(response)["code"] == "bad_input"


def test_a_huge_replenishment_budget_is_a_typed_422(probe: Probe) -> None:
    response = probe.client.post(
        "/v1/replenishment/plan",
        content=b'{"budget": 1e30}',
        headers=probe.buyer | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize("field", ["moq_max", "price_max_cents"])
def test_huge_bundle_constraints_are_a_typed_422(probe: Probe, field: str) -> None:
    body = f'{{"scene": "露营", "constraints": {{"{field}": {10**309}}}}}'
    response = probe.client.post(
        "/v1/bundles",
        content=body.encode(),
        headers=probe.buyer | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_healthz_answers_within_100_ms_while_hostile_numbers_arrive(probe: Probe) -> None:
    stop = threading.Event()
    hostile_seconds: list[float] = []

    def send_hostile() -> None:
        probe.client.get(
            "/v1/products/search",
            params={"q": "收纳盒", "price_max": "1e400000"},
            headers=probe.buyer,
        )

    def hostile() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            send_hostile()
            hostile_seconds.append(time.perf_counter() - started)

    # First calls pay one-time costs (route compilation, lazy imports) that are not the probe's.
    send_hostile()
    probe.client.get("/healthz")

    sender = threading.Thread(target=hostile)
    sender.start()
    waits = []
    try:
        for _ in range(20):
            started = time.perf_counter()
            assert probe.client.get("/healthz").status_code == 200
            waits.append(time.perf_counter() - started)
            time.sleep(0.01)
    finally:
        stop.set()
        sender.join()
    assert hostile_seconds, "the hostile requests never ran"
    assert max(waits) < 0.1, f"/healthz waited {max(waits):.3f} s"


def _sse_events(text: str) -> list[str]:
    return [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event:")]


def test_a_huge_comma_grouped_amount_in_chat_is_answered(probe: Probe) -> None:
    plain = probe.client.post(
        "/v1/chat", json={"message": HUGE_AMOUNT, "stream": False}, headers=probe.buyer
    )
    assert plain.status_code == 200
    streamed = probe.client.post("/v1/chat", json={"message": HUGE_AMOUNT}, headers=probe.buyer)
    assert streamed.status_code == 200
    assert _sse_events(streamed.text)[-1] == "done"
    facade = probe.client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": HUGE_AMOUNT}], "stream": True},
        headers=probe.buyer,
    )
    assert facade.status_code == 200
    assert facade.text.rstrip().endswith("data: [DONE]")


def test_a_turn_that_fails_unexpectedly_ends_with_an_error_event_not_a_cut_stream(
    probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(_self: object, *_args: object) -> AsyncGenerator[ChatEvent]:
        yield TextDelta(delta="正在查找")
        raise RuntimeError("a bug in a skill")

    monkeypatch.setattr("sourcing.agents.assistant.Assistant._answer", failing)
    streamed = probe.client.post("/v1/chat", json={"message": "收纳盒"}, headers=probe.buyer)
    assert _sse_events(streamed.text)[-1] == "error"
    assert "internal_error" in streamed.text
    # The turn is stored as failed with what it showed, not as a complete (or missing) answer.
    listed = probe.client.get("/v1/conversations", headers=probe.buyer).json()
    newest = max(listed, key=lambda c: c["updated_at"])
    stored = probe.client.get(f"/v1/conversations/{newest['id']}", headers=probe.buyer).json()
    assert [(m["role"], m["status"]) for m in stored["messages"]] == [
        ("user", "complete"),
        ("assistant", "failed"),
    ]
    assert stored["messages"][-1]["content"] == "正在查找"
    facade = probe.client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "收纳盒"}], "stream": True},
        headers=probe.buyer,
    )
    chunks = [line.removeprefix("data: ") for line in facade.text.splitlines() if line]
    assert chunks[-1] == "[DONE]"
    assert json.loads(chunks[-2])["error"]["code"] == "internal_error"


def test_feedback_on_another_buyers_message_answers_like_a_missing_one(probe: Probe) -> None:
    turn = probe.client.post(
        "/v1/chat", json={"message": "收纳盒", "stream": False}, headers=probe.buyer
    ).json()
    conversation_id = turn["conversation_id"]
    messages = probe.client.get(f"/v1/conversations/{conversation_id}", headers=probe.buyer).json()[
        "messages"
    ]
    message_id = next(m["id"] for m in messages if m["role"] == "assistant")
    foreign = probe.client.post(
        f"/v1/messages/{message_id}/feedback", json={"rating": 1}, headers=probe.other_buyer
    )
    missing = probe.client.post(
        "/v1/messages/msg_nope/feedback", json={"rating": 1}, headers=probe.other_buyer
    )
    assert foreign.status_code == missing.status_code == 404
    assert conversation_id not in foreign.text
    assert _error(foreign)["message"] == f"no assistant message {message_id!r}"


def test_made_up_http_methods_share_one_metrics_label(probe: Probe) -> None:
    before = probe.client.get("/metrics", headers=SCRAPER).text
    for index in range(30):
        probe.client.request(f"BOGUS{index}", "/v1/products/search")
    after = probe.client.get("/metrics", headers=SCRAPER).text
    assert "BOGUS" not in after
    assert 'method="other"' in after
    grown = len(after.splitlines()) - len(before.splitlines())
    assert grown < 40, f"{grown} new metrics lines for 30 made-up methods"


def _markup_in(text: str) -> list[str]:
    return [mark for mark in ("<img", "![", "javascript:", "tracker.example") if mark in text]


def test_catalog_markup_reaches_no_rendered_text_but_stays_in_the_cards(probe: Probe) -> None:
    ask = "义乌 防尘收纳盒"
    body = {"message": ask, "stream": False}
    events = probe.client.post("/v1/chat", json=body, headers=probe.buyer).json()["events"]
    text = "".join(e["delta"] for e in events if e["type"] == "text")
    results = [e for e in events if e["type"] == "tool_result"]
    titles = [card.get("title") for result in results for card in result["cards"]]
    assert HOSTILE_TITLE in titles, "the hostile product must be among the cards"
    assert "防尘收纳盒" in text, text
    assert not _markup_in(text), text
    facade = probe.client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": ask}], "stream": False},
        headers=probe.buyer,
    )
    content = facade.json()["choices"][0]["message"]["content"]
    assert "防尘收纳盒" in content
    assert not _markup_in(content), content


NUL_REQUESTS = [
    ("GET", "/v1/conversations/conv_%00x", None),
    ("DELETE", "/v1/conversations/conv_%00x", None),
    ("GET", "/v1/products/search?q=%E6%94%B6%00", None),
    ("POST", "/v1/chat", {"message": "收纳盒\x00", "stream": False}),
    ("POST", "/v1/chat", {"message": "收纳盒\x00"}),
    ("POST", "/v1/messages/msg_1/feedback", {"rating": 1, "comment": "好\x00"}),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "a\x00"}]}),
]


@pytest.fixture
def postgres_client(
    tmp_path: Any, postgres_engine: Any, use_embedder: Embedder
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path, database_url=str(postgres_engine.url), llm_base_url="")
    with Session(postgres_engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.EVALUATOR)  # needs no buyer row
        session.commit()
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield client, {"Authorization": f"Bearer {secret}"}
    container.close()


@pytest.mark.parametrize(("method", "path", "body"), NUL_REQUESTS)
def test_a_nul_character_is_a_typed_422_on_postgresql(
    postgres_client: tuple[TestClient, dict[str, str]],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    client, headers = postgres_client
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert "NUL" in _error(response)["message"]


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(probe: Probe) -> None:
    body = '{"message": "路径 C:\\\\u0000 收纳盒", "stream": false}'
    response = probe.client.post(
        "/v1/chat", content=body, headers=probe.buyer | {"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


class HealthzWatch:
    """Times /healthz every 10 ms from a thread while other requests run."""

    def __init__(self, client: TestClient) -> None:
        self.client, self.waits, self.stop = client, list[tuple[float, float]](), threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            assert self.client.get("/healthz").status_code == 200
            self.waits.append((started, time.perf_counter() - started))
            time.sleep(0.01)

    def worst_since(self, since: float) -> float:
        """The longest wait of the pings started since `since`, once at least one has ended."""
        deadline = time.perf_counter() + 2
        while not (waits := [wait for started, wait in list(self.waits) if started >= since]):
            assert time.perf_counter() < deadline, "/healthz did not answer within 2 s"
            time.sleep(0.005)
        return max(waits)


@pytest.fixture(scope="module")
def healthz_watch(probe: Probe) -> Iterator[HealthzWatch]:
    probe.client.post("/v1/chat", json={"message": "收纳盒", "stream": False}, headers=probe.buyer)
    watch = HealthzWatch(probe.client)
    watch.thread.start()
    yield watch
    watch.stop.set()
    watch.thread.join(timeout=5)


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=400)
AMOUNTS = st.one_of(
    DIGITS,
    st.lists(st.sampled_from(["000", "999", "1", "12"]), min_size=1, max_size=200).map(",".join),
    st.builds(lambda a, b: f"{a}.{b}", DIGITS, DIGITS),
    st.builds(lambda a, e: f"{a}e{e}", DIGITS, st.integers(-(10**6), 10**6)),
    st.builds(lambda a, unit: f"{a}{unit}", DIGITS, st.sampled_from(["万", "亿", "千", "k", "w"])),
    st.builds(lambda a, b: f"{a}-{b}", DIGITS, DIGITS),
    DIGITS.map(lambda digits: digits.translate(FULL_WIDTH)),
    st.sampled_from(["一千万", "十亿", "NaN", "inf", "-0", "1_000", "0x1F", "¥-5"]),
)
TEMPLATES = ["收纳盒 {}元以内", "起批{}个的保温杯", "预算{}元 露营", "cups under {} yuan MOQ {}"]


@given(st.sampled_from(TEMPLATES), AMOUNTS)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_amounts_in_chat_are_answered_without_stalling_healthz(
    probe: Probe, healthz_watch: HealthzWatch, template: str, amount: str
) -> None:
    message = template.replace("{}", amount)

    def worst_wait() -> float:
        since = time.perf_counter()
        answer = probe.client.post(
            "/v1/chat", json={"message": message, "stream": False}, headers=probe.buyer
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["events"][-1]["type"] == "done"
        return healthz_watch.worst_since(since)

    # A message that blocks the loop blocks it every time; a pause of the machine (another
    # process, a collection) once: the message is asked again before it is blamed.
    worst = worst_wait()
    if worst >= 0.1:
        worst = min(worst, worst_wait())
    assert worst < 0.1, f"/healthz waited during {message[:60]!r}"
