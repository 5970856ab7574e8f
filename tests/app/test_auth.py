"""API keys over HTTP: 401 with a Bearer challenge, 403 by role, keys made by admins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from sourcing.app.auth import Principal, owner_scope
from sourcing.app.container import Container, build_assistant, build_engine, build_search
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import ApiRole, BuyerChannel
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.tables import Buyer
from sourcing.retrieval.embedders import Embedder
from tests.catalog_sync.feedfiles import SUPPLIERS, write_jsonl


@pytest.fixture(scope="module")
def app_and_admin(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[TestClient, str]]:
    folder = tmp_path_factory.mktemp("auth")
    settings = Settings(data_dir=folder)
    engine = build_engine(settings)
    sync_feed(engine, write_jsonl(folder / "s.jsonl", SUPPLIERS), kind="suppliers")
    with Session(engine) as session:
        session.add(Buyer(id="b-0001", name="小王杂货", channel=BuyerChannel.DOUYIN_LIVE))
        _, admin_secret = ApiKeyRepository(session).create(ApiRole.ADMIN)
        session.commit()
    search = build_search(settings, engine, embedder=use_embedder)
    container = Container(
        settings=settings,
        engine=engine,
        search=search,
        assistant=build_assistant(settings, engine, search),
    )
    with TestClient(create_app(container=container)) as client:
        yield client, admin_secret
    container.close()


@pytest.fixture
def client(app_and_admin: tuple[TestClient, str]) -> TestClient:
    return app_and_admin[0]


@pytest.fixture
def admin(app_and_admin: tuple[TestClient, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_and_admin[1]}"}


def _new_key(
    client: TestClient, admin: dict[str, str], role: str, subject: str = ""
) -> dict[str, Any]:
    response = client.post("/v1/keys", json={"role": role, "subject": subject}, headers=admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _me_is_401(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "unauthorised"
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sk-not-a-real-key"},
        {"X-API-Key": "sk-not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
)
def test_a_missing_or_unknown_key_is_a_401_with_a_bearer_challenge(
    client: TestClient, headers: dict[str, str]
) -> None:
    _me_is_401(client, headers)


def test_an_admin_makes_a_buyer_key_that_works_with_either_header(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post("/v1/keys", json={"role": "buyer", "subject": "b-0001"}, headers=admin)
    assert response.status_code == 201
    body = response.json()
    assert (body["role"], body["subject"]) == ("buyer", "b-0001")
    assert body["prefix"] == body["secret"][:12]
    buyer = {"role": "buyer", "subject": "b-0001"}
    bearer = {"Authorization": f"Bearer {body['secret']}"}
    assert client.get("/v1/me", headers=bearer).json() == buyer
    assert client.get("/v1/me", headers={"X-API-Key": body["secret"]}).json() == buyer

    listed = client.get("/v1/keys", headers=admin).json()
    assert body["id"] in [key["id"] for key in listed]
    assert all("secret" not in key and "key_hash" not in key for key in listed)


def test_a_revoked_key_is_a_401(client: TestClient, admin: dict[str, str]) -> None:
    key = _new_key(client, admin, "merchant", SUPPLIERS[0]["id"])
    headers = {"Authorization": f"Bearer {key['secret']}"}
    assert client.get("/v1/me", headers=headers).json() == {"role": "merchant", "subject": "s1"}
    assert client.delete(f"/v1/keys/{key['id']}", headers=admin).status_code == 204

    assert _me_is_401(client, headers)["message"] == "the API key is unknown or revoked"
    assert client.delete("/v1/keys/99999", headers=admin).status_code == 404


@pytest.mark.parametrize("role", ["buyer", "evaluator"])
def test_only_admins_manage_keys(client: TestClient, admin: dict[str, str], role: str) -> None:
    key = _new_key(client, admin, role, "b-0001" if role == "buyer" else "")
    headers = {"X-API-Key": key["secret"]}
    for response in (
        client.get("/v1/keys", headers=headers),
        client.post("/v1/keys", json={"role": "admin"}, headers=headers),
        client.delete("/v1/keys/1", headers=headers),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"role": "owner"}, 422, "bad_input"),
        ({"role": "buyer"}, 422, "bad_input"),
        ({"role": "admin", "subject": "b-0001"}, 422, "bad_input"),
        ({"role": "buyer", "subject": "b-9999"}, 404, "not_found"),
        ({"role": "merchant", "subject": "nope"}, 404, "not_found"),
    ],
)
def test_a_bad_role_or_subject_is_a_typed_error(
    client: TestClient, admin: dict[str, str], body: dict[str, str], status: int, code: str
) -> None:
    response = client.post("/v1/keys", json=body, headers=admin)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_owner_scope_names_whose_data_a_key_sees() -> None:
    assert owner_scope(Principal(1, ApiRole.BUYER, "b-0001")) == "buyer:b-0001"
    assert owner_scope(Principal(2, ApiRole.MERCHANT, "s-0001")) == "merchant:s-0001"
    assert owner_scope(Principal(3, ApiRole.ADMIN, "")) == "admin"
    assert owner_scope(Principal(4, ApiRole.EVALUATOR, "")) == "evaluator"
