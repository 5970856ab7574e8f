"""Schemathesis over the app's OpenAPI, in-process: generated requests never get a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo


@dataclass(frozen=True)
class Keys:
    buyer: str
    merchant: str
    admin: str
    ids: frozenset[str]  # the keys above: revoking them would turn the rest of the run into 401s


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[FastAPI, Keys]]:
    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("schemathesis"),
        llm_base_url="",  # offline mode: every chat turn runs the real planner and skills
        # Thousands of requests in a minute from one key: the limits are tested elsewhere.
        rate_limit_per_minute=1_000_000,
        chat_rate_limit_per_minute=1_000_000,
    )
    engine = load_demo(settings_, products=120)
    with Session(engine) as session:
        repo = ApiKeyRepository(session)
        made = [
            repo.create(ApiRole.BUYER, "b-0001"),
            repo.create(ApiRole.MERCHANT, "s-0001"),
            repo.create(ApiRole.ADMIN),
        ]
        session.commit()
        (_, buyer), (_, merchant), (_, admin) = made
        keys = Keys(buyer, merchant, admin, frozenset(str(key.id) for key, _ in made))
    container = build_container(settings_, embedder=use_embedder)
    app = create_app(container=container)
    yield app, keys
    container.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed: tuple[FastAPI, Keys]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed[0])


def _is_number(value: object) -> bool:
    try:
        return float(str(value)) > 0
    except ValueError:
        return False


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_is_a_server_error(
    case: schemathesis.Case[Any], fuzzed: tuple[FastAPI, Keys]
) -> None:
    _, keys = fuzzed
    path = case.operation.path
    secret = (
        keys.admin
        if path.startswith("/v1/keys")
        else keys.merchant
        if path.startswith("/v1/merchant")
        else keys.buyer
    )
    if path == "/v1/keys/{key_id}" and str(case.path_parameters.get("key_id")) in keys.ids:
        case.path_parameters["key_id"] = 1_000_000
    if path == "/v1/alerts/stream" and _is_number(case.query.get("wait_s", 300)):
        case.query["wait_s"] = 0.2  # a stream left open for its default five minutes stalls the run
    # The key headers are in the schema (every route declares them); generated ones would make
    # nearly every case a 401, so the run's own key replaces them.
    case.headers["authorization"] = f"Bearer {secret}"
    case.headers.pop("x-api-key", None)
    case.call_and_validate(
        checks=[not_a_server_error, response_schema_conformance],
        timeout=20,
    )


# Regressions for what the run found: each was a 500 before.
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/keys/9223372036854775808"),  # past SQLite's INTEGER
        ("DELETE", "/v1/keys/2147483648"),  # past PostgreSQL's INTEGER
        ("POST", "/v1/alerts/9223372036854775808/ack"),
        ("GET", "/v1/alerts/stream?after_id=9223372036854775808&wait_s=0.1"),
    ],
)
def test_an_id_past_the_databases_integers_is_a_typed_422(
    fuzzed: tuple[FastAPI, Keys], method: str, path: str
) -> None:
    app, keys = fuzzed
    secret = keys.admin if "/keys/" in path else keys.buyer
    with TestClient(app) as client:
        response = client.request(method, path, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "bad_input"


def test_a_last_event_id_past_the_databases_integers_starts_from_now(
    fuzzed: tuple[FastAPI, Keys],
) -> None:
    app, keys = fuzzed
    headers = {"Authorization": f"Bearer {keys.buyer}", "Last-Event-ID": "9" * 30}
    with TestClient(app) as client:
        response = client.get("/v1/alerts/stream", params={"wait_s": 0.1}, headers=headers)
    assert response.status_code == 200
    assert response.text.startswith("retry:")


def test_an_unparsable_body_is_a_typed_400(fuzzed: tuple[FastAPI, Keys]) -> None:
    app, keys = fuzzed
    headers = {"Authorization": f"Bearer {keys.buyer}", "Content-Type": "application/json"}
    with TestClient(app) as client:
        response = client.post("/v1/messages/m1/feedback", content=b"\xff\xfe{", headers=headers)
        unknown = client.get("/v1/nowhere", headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_input"
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")


# Past every bound a number field may have: exponents, digits beyond float and INTEGER, signs.
HUGE_NUMBERS = ["1e400000", "1e999999", "-1e308", str(10**309), "9" * 4000, "1" + "0" * 30, "-0"]


# What each route needs besides the number: a query, and a stream that ends at once.
EXTRA_PARAMS = {"/v1/products/search": {"q": "收纳盒"}, "/v1/alerts/stream": {"wait_s": "0.1"}}


def _numeric(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("type") in ("number", "integer") for option in options)


def _number_fields(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, 'query' or 'body', name) for every numeric query parameter and top-level
    body property the OpenAPI declares."""
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for path, operations in spec["paths"].items():
        if "{" in path:
            continue  # the id paths have their own regressions above
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and _numeric(parameter.get("schema", {})):
                    found.append((method.upper(), path, "query", parameter["name"]))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            ref = (body or {}).get("schema", {}).get("$ref", "")
            properties = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            found += [
                (method.upper(), path, "body", name)
                for name, field in properties.items()
                if _numeric(field)
            ]
    return found


def test_every_number_field_refuses_huge_values_with_a_typed_4xx(
    fuzzed: tuple[FastAPI, Keys],
) -> None:
    app, keys = fuzzed
    headers = {"Authorization": f"Bearer {keys.buyer}", "Content-Type": "application/json"}
    minimal = {"/v1/bundles": {"scene": "露营"}, "/v1/chat": {"message": "收纳盒", "stream": False}}
    with TestClient(app) as client:
        fields = _number_fields(client.get("/openapi.json").json())
        assert len(fields) >= 15, fields  # the walk finds the API's number fields
        for method, path, where, name in fields:
            for value in HUGE_NUMBERS:
                if where == "query":
                    params = {name: value} | EXTRA_PARAMS.get(path, {})
                    response = client.request(method, path, params=params, headers=headers)
                else:
                    base = json.dumps(minimal.get(path, {}), ensure_ascii=False)[1:-1]
                    body = "{" + (base + ", " if base else "") + f'"{name}": {value}' + "}"
                    response = client.request(method, path, content=body.encode(), headers=headers)
                where_sent = f"{method} {path} {where} {name}={value[:20]}"
                assert response.status_code < 500, f"{where_sent}: {response.text[:300]}"
                if response.status_code >= 400:
                    assert response.json()["error"]["code"], where_sent
