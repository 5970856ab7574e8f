"""Caps on chat input from Settings: message length and turns per conversation, as typed 4xx."""

from __future__ import annotations

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

MAX_CHARS, MAX_TURNS = 30, 2


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("limits"),
        max_message_chars=MAX_CHARS,
        max_conversation_turns=MAX_TURNS,
    )
    engine = load_demo(settings, products=40)
    with Session(engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
        session.commit()
    engine.dispose()
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {secret}"
        yield test_client
    container.close()


def _completion(message: str, conversation_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": message}]}
    if conversation_id:
        body["sourcing"] = {"conversation_id": conversation_id}
    return body


@pytest.mark.parametrize("stream", [False, True])
def test_a_message_over_the_cap_is_a_typed_422_on_both_chat_routes(
    client: TestClient, stream: bool
) -> None:
    long = "杯" * (MAX_CHARS + 1)
    for path, body in (
        ("/v1/chat", {"message": long}),
        ("/v1/chat/completions", _completion(long)),
    ):
        response = client.post(path, json=body | {"stream": stream})
        assert response.status_code == 422, f"{path}: {response.text}"
        error = response.json()["error"]
        assert error["code"] == "bad_input"
        assert f"longer than {MAX_CHARS} characters" in error["message"]
    exact = client.post("/v1/chat", json={"message": "杯" * MAX_CHARS, "stream": False})
    assert exact.status_code == 200, exact.text


@pytest.mark.parametrize("stream", [False, True])
def test_a_full_conversation_refuses_a_new_turn_with_a_409(
    client: TestClient, stream: bool
) -> None:
    first = client.post("/v1/chat", json={"message": "保温杯", "stream": False}).json()
    conversation_id = first["conversation_id"]
    again = {"message": "要100个", "stream": False, "conversation_id": conversation_id}
    assert client.post("/v1/chat", json=again).status_code == 200  # turn 2 of 2
    refusals = [
        client.post("/v1/chat", json=again | {"stream": stream}),
        client.post(
            "/v1/chat/completions", json=_completion("还有吗", conversation_id) | {"stream": stream}
        ),
    ]
    for response in refusals:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "conversation_full"
        assert "start a new conversation" in error["message"]
        assert error["details"] == {"conversation_id": conversation_id, "max_turns": MAX_TURNS}
    stored = client.get(f"/v1/conversations/{conversation_id}").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] * MAX_TURNS  # nothing added
    fresh = client.post("/v1/chat", json={"message": "保温杯", "stream": False})
    assert fresh.status_code == 200
    assert fresh.json()["conversation_id"] != conversation_id
