"""The HTTP API over a real SQLite catalog: health, summary, products, suppliers, typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from sourcing.agents.skills.cards import Card
from sourcing.app.container import Container, build_assistant, build_engine, build_search
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("api")
    settings = Settings(data_dir=folder)
    engine = build_engine(settings)
    sync_feed(engine, write_jsonl(folder / "s.jsonl", SUPPLIERS), kind="suppliers")
    others = [
        product("p3", title="真皮女士手提包", category="鞋靴箱包/箱包/女包", supplier_id="s2")
    ]
    sync_feed(engine, write_jsonl(folder / "p.jsonl", [product("p1"), product("p2"), *others]))
    search = build_search(settings, engine, embedder=use_embedder)
    container = Container(settings, engine, search, build_assistant(settings, engine, search))
    with Session(engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.EVALUATOR)
        session.commit()
    with TestClient(create_app(container=container)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {secret}"
        yield test_client  # the app's start-up catch-up has indexed the three products
    container.close()


def test_liveness_calls_nothing_and_readiness_checks_the_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["checks"]["database"] == {"status": "ok"}


def test_summary_counts_the_catalog_and_lists_sync_runs(client: TestClient) -> None:
    body = client.get("/v1/catalog/summary").json()
    assert body["counts"]["active_products"] == 3
    assert body["active_products_by_category"] == {"日用百货": 2, "鞋靴箱包": 1}
    assert [run["kind"] for run in body["recent_sync_runs"]] == ["products", "suppliers"]


def test_a_product_comes_with_its_skus_and_integer_prices(client: TestClient) -> None:
    body = client.get("/v1/products/p1").json()
    assert body["price_cents"] == 1250
    assert body["price_tiers"][1] == {"min_quantity": 100, "unit_price_cents": 1100}
    assert [sku["id"] for sku in body["skus"]] == ["black", "white"]
    assert "content_hash" not in body


def test_a_missing_product_is_a_typed_404(client: TestClient) -> None:
    response = client.get("/v1/products/nope")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "no product 'nope'",
        "details": {"product_id": "nope"},
    }


def test_a_supplier_is_served_by_its_id(client: TestClient) -> None:
    body = client.get("/v1/suppliers/s1").json()
    assert body["id"] == "s1"
    assert body["name"] == "义乌佳佳日用品厂"


def test_catalog_reads_need_a_key(client: TestClient) -> None:
    for path in ("/v1/catalog/summary", "/v1/products/p1", "/v1/products/search?q=杯"):
        assert client.get(path, headers={"Authorization": ""}).status_code == 401


def test_a_malformed_id_is_a_typed_422(client: TestClient) -> None:
    response = client.get("/v1/suppliers/" + "x" * 65)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_input"


def test_the_openapi_page_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/v1/catalog/summary" in client.get("/openapi.json").json()["paths"]


def test_the_card_models_are_in_the_openapi_schema_of_both_chat_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    kinds = {
        name: model["properties"]["card"]["const"]
        for name, model in schema["components"]["schemas"].items()
        if "card" in model.get("properties", {})
    }
    card_types = get_args(get_args(Card)[0])
    assert sorted(kinds.values()) == sorted(t.model_fields["card"].default for t in card_types)
    for path, model in (("/v1/chat", "ChatResponse"), ("/v1/chat/completions", "ChatCompletion")):
        answer = schema["paths"][path]["post"]["responses"]["200"]["content"]
        assert answer["application/json"]["schema"]["$ref"].endswith(f"/{model}")
        assert "text/event-stream" in answer
    tool_result = schema["components"]["schemas"]["ToolResult"]["properties"]["cards"]["items"]
    assert tool_result["discriminator"]["propertyName"] == "card"


def test_search_finds_products_with_cards_and_reasons(client: TestClient) -> None:
    body = client.get("/v1/products/search", params={"q": "义乌 硅胶水杯", "quantity": 100}).json()
    assert body["constraints"]["regions"] == ["义乌"]
    assert body["quantity"] == 100
    assert {hit["product_id"] for hit in body["hits"]} == {"p1", "p2"}
    first = body["hits"][0]
    assert first["unit_price_cents"] == 1100
    assert first["supplier"]["industrial_belt"] == "义乌小商品"
    assert first["why"]


def test_search_filters_by_parameters(client: TestClient) -> None:
    params = {"q": "手提包", "region": "义乌小商品"}
    body = client.get("/v1/products/search", params=params).json()
    assert body["hits"] == []
    assert body["relaxations"] == [{"constraint": "regions", "would_return": 1}]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"q": "杯子", "price_max": "abc"}, "price_max: price 'abc' is not a number"),
        ({"q": "杯子", "price_min": "9", "price_max": "3"}, "price_min_cents is above"),
    ],
)
def test_bad_search_parameters_are_typed_422s(
    client: TestClient, params: dict[str, str], reason: str
) -> None:
    response = client.get("/v1/products/search", params=params)
    assert response.status_code == 422
    assert reason in response.json()["error"]["message"]


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 501}, {"q": "杯", "limit": 0}])
def test_malformed_search_requests_are_422s(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/v1/products/search", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_input"
