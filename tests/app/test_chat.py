"""The chat API in offline mode: SSE events, one-JSON mode, conversations per buyer, feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("chat")
    settings = Settings(data_dir=folder)
    engine = load_demo(settings)
    with Session(engine) as session:
        keys = {
            buyer: ApiKeyRepository(session).create(ApiRole.BUYER, buyer)[1]
            for buyer in ("b-0001", "b-0002")
        }
        session.commit()
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:  # start-up indexes the catalog
        yield client, keys
    container.close()


def _auth(keys: dict[str, str], buyer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[buyer]}"}


def _sse(body: str) -> list[dict[str, Any]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        event = json.loads(lines["data"])
        assert event["type"] == lines["event"]
        events.append(event)
    return events


def test_a_turn_streams_typed_events_ending_in_done(app: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app
    response = client.post(
        "/v1/chat", json={"message": "义乌 收纳盒 20元以内"}, headers=_auth(keys, "b-0001")
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    assert [e["type"] for e in events] == ["text", "tool_call", "tool_result", "text", "done"]
    cards = events[2]["cards"]
    assert [card["product_id"] for card in cards] == events[-1]["cited_product_ids"]
    assert events[-1]["mode"] == "offline"


def test_one_json_mode_and_the_conversation_continues(
    app: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = app
    first = client.post(
        "/v1/chat",
        json={"message": "现在还能仅退款吗？", "stream": False},
        headers=_auth(keys, "b-0001"),
    ).json()
    assert "仅退款" in first["text"]
    again = client.post(
        "/v1/chat",
        json={
            "message": "发票怎么开",
            "stream": False,
            "conversation_id": first["conversation_id"],
        },
        headers=_auth(keys, "b-0001"),
    ).json()
    assert again["conversation_id"] == first["conversation_id"]
    history = client.get(
        f"/v1/conversations/{first['conversation_id']}", headers=_auth(keys, "b-0001")
    ).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]


def test_a_buyer_never_sees_another_buyers_conversations(
    app: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = app
    mine = client.post(
        "/v1/chat", json={"message": "手机壳", "stream": False}, headers=_auth(keys, "b-0001")
    ).json()["conversation_id"]
    other = _auth(keys, "b-0002")
    assert mine not in [c["id"] for c in client.get("/v1/conversations", headers=other).json()]
    assert client.get(f"/v1/conversations/{mine}", headers=other).status_code == 404
    assert client.delete(f"/v1/conversations/{mine}", headers=other).status_code == 404
    hijack = {"message": "继续", "conversation_id": mine}
    assert client.post("/v1/chat", json=hijack, headers=other).status_code == 404
    history = client.get(f"/v1/conversations/{mine}", headers=_auth(keys, "b-0001")).json()
    reply_id = history["messages"][1]["id"]
    rating = {"rating": 1}
    assert (
        client.post(f"/v1/messages/{reply_id}/feedback", json=rating, headers=other).status_code
        == 404
    )
    assert (
        client.post(
            f"/v1/messages/{reply_id}/feedback", json=rating, headers=_auth(keys, "b-0001")
        ).status_code
        == 201
    )
    assert (
        client.delete(f"/v1/conversations/{mine}", headers=_auth(keys, "b-0001")).status_code == 204
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 422), ({"message": ""}, 422), ({"message": "x" * 4001}, 422), ({"message": 3}, 422)],
)
def test_bad_chat_requests_are_typed_4xx(
    app: tuple[TestClient, dict[str, str]], body: dict[str, Any], status: int
) -> None:
    client, keys = app
    response = client.post("/v1/chat", json=body, headers=_auth(keys, "b-0001"))
    assert response.status_code == status
    assert response.json()["error"]["code"] == "bad_input"


def test_chat_needs_an_api_key(app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    response = client.post("/v1/chat", json={"message": "手机壳"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_oversized_body_is_a_typed_413(app: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app
    body = json.dumps({"message": "杯" * 600_000}).encode()
    response = client.post(
        "/v1/chat",
        content=body,
        headers=_auth(keys, "b-0001") | {"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        yield from (body[i : i + 65536] for i in range(0, len(body), 65536))

    chunked = client.post(
        "/v1/chat",
        content=chunks(),
        headers=_auth(keys, "b-0001") | {"content-type": "application/json"},
    )
    assert chunked.status_code == 413
