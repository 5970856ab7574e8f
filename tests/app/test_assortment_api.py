"""Assortment routes over a demo catalog: bundles, alternatives, shelf fillers, baskets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.baskets import build_copurchase
from sourcing.domain.db import make_engine
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.tables import OrderLine, PurchaseOrder
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo

Keys = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[TestClient, Keys, Settings]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("assortment-api"))
    engine = load_demo(settings, products=800)
    build_copurchase(engine)
    with Session(engine) as session:
        repo = ApiKeyRepository(session)
        secrets = {
            "b-0001": repo.create(ApiRole.BUYER, "b-0001")[1],
            "b-0002": repo.create(ApiRole.BUYER, "b-0002")[1],
            "evaluator": repo.create(ApiRole.EVALUATOR)[1],
        }
        session.commit()
    keys = {name: {"Authorization": f"Bearer {secret}"} for name, secret in secrets.items()}
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield client, keys, settings
    container.close()


def _ordered(settings: Settings, buyer: str) -> set[str]:
    with Session(make_engine(settings.resolved_database_url)) as session:
        rows = session.exec(
            select(OrderLine.product_id)
            .join(PurchaseOrder, col(OrderLine.order_id) == col(PurchaseOrder.id))
            .where(PurchaseOrder.buyer_id == buyer)
        ).all()
    return set(rows)


def test_a_bundle_keeps_its_budget(app: tuple[TestClient, Keys, Settings]) -> None:
    client, keys, _ = app
    body = {"scene": "露营", "budget_cents": 500_000, "quantity": 10}
    bundle = client.post("/v1/bundles", json=body, headers=keys["b-0001"]).json()
    assert bundle["within_budget"]
    assert bundle["total_cents"] <= 500_000
    assert len(bundle["cards"]) == len(bundle["items"]) >= 3
    too_small = client.post(
        "/v1/bundles", json=body | {"budget_cents": 100}, headers=keys["b-0001"]
    ).json()
    assert not too_small["within_budget"]
    assert "budget_too_small" in too_small["notes"]


def test_bad_bundle_requests_are_typed_errors(app: tuple[TestClient, Keys, Settings]) -> None:
    client, keys, _ = app
    missing = client.post("/v1/bundles", json={}, headers=keys["b-0001"])
    assert missing.status_code == 422
    unknown = client.post("/v1/bundles", json={"scene": "moon base"}, headers=keys["b-0001"])
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_alternatives_are_cheaper_at_the_asked_quantity(
    app: tuple[TestClient, Keys, Settings],
) -> None:
    client, keys, _ = app
    hit = client.get("/v1/products/search", params={"q": "保温杯"}, headers=keys["b-0001"])
    product_id = hit.json()["hits"][0]["product_id"]
    found = client.get(
        f"/v1/products/{product_id}/similar",
        params={"mode": "cheaper", "quantity": 100},
        headers=keys["b-0001"],
    ).json()
    assert found["original"]["product_id"] == product_id
    for alternative in found["alternatives"]:
        assert alternative["price_difference_cents"] < 0
        assert alternative["product"]["supplier"]["id"] != found["original"]["supplier"]["id"]
    assert found["alternatives"] or found["note"] == "nothing_cheaper"
    missing = client.get("/v1/products/p-nope/similar", headers=keys["b-0001"])
    assert missing.status_code == 404


def test_similar_suppliers_exclude_the_supplier_itself(
    app: tuple[TestClient, Keys, Settings],
) -> None:
    client, keys, _ = app
    found = client.get("/v1/suppliers/s-0001/similar", headers=keys["b-0001"]).json()
    ids = [item["supplier"]["id"] for item in found["similar"]]
    assert ids
    assert "s-0001" not in ids


def test_a_buyers_shelf_comes_from_their_own_orders_only(
    app: tuple[TestClient, Keys, Settings],
) -> None:
    client, keys, settings = app
    for buyer in ("b-0001", "b-0002"):
        shelf = client.post("/v1/assortment/shelf-fillers", json={}, headers=keys[buyer]).json()
        assert set(shelf["stocked"]) == _ordered(settings, buyer)
        stocked = set(shelf["stocked"])
        assert all(filler["product"]["product_id"] not in stocked for filler in shelf["fillers"])
    no_orders = client.post("/v1/assortment/shelf-fillers", json={}, headers=keys["evaluator"])
    assert no_orders.status_code == 422


def test_a_basket_is_completed_with_other_products(
    app: tuple[TestClient, Keys, Settings],
) -> None:
    client, keys, settings = app
    basket = sorted(_ordered(settings, "b-0001"))[:2]
    found = client.post(
        "/v1/baskets/complete", json={"product_ids": basket}, headers=keys["b-0001"]
    ).json()
    suggested = [item["product_id"] for item in found["suggestions"]]
    assert suggested
    assert not set(suggested) & set(basket)
    empty = client.post("/v1/baskets/complete", json={"product_ids": []}, headers=keys["b-0001"])
    assert empty.status_code == 422
