"""The HTTP API over a real SQLite catalog: health, summary, products, suppliers, typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sourcing.app.container import Container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl


@pytest.fixture
def client(sqlite_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    sync_feed(sqlite_engine, write_jsonl(tmp_path / "s.jsonl", SUPPLIERS), kind="suppliers")
    sync_feed(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [product("p1"), product("p2")]))
    container = Container(settings=Settings(data_dir=tmp_path), engine=sqlite_engine)
    with TestClient(create_app(container=container)) as test_client:
        yield test_client


def test_health_checks_the_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_summary_counts_the_catalog_and_lists_sync_runs(client: TestClient) -> None:
    body = client.get("/v1/catalog/summary").json()
    assert body["counts"]["active_products"] == 2
    assert body["active_products_by_category"] == {"日用百货": 2}
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


def test_a_malformed_id_is_a_typed_422(client: TestClient) -> None:
    response = client.get("/v1/suppliers/" + "x" * 65)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_input"


def test_the_openapi_page_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/v1/catalog/summary" in client.get("/openapi.json").json()["paths"]
