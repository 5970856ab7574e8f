"""POST /v1/alerts/{id}/act carries out each kind of one-click action for the alert's buyer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.domain.tables import Product
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo

BUYER = "b-0001"


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    alerts: dict[str, int]  # action type → alert id
    bought: Product  # a product BUYER ordered before
    last_quantity: int
    others: list[str]  # product ids of the same category, another supplier's


def _act(world: World, kind: str, buyer: str = BUYER) -> Any:
    return world.client.post(f"/v1/alerts/{world.alerts[kind]}/act", headers=world.headers[buyer])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("alert-actions"))
    engine = load_demo(settings)
    with Session(engine, expire_on_commit=False) as session:
        catalog = CatalogRepository(session)
        products = session.exec(select(Product).order_by(col(Product.id))).all()
        for line in reversed(OrderRepository(session).ordered_lines(BUYER)):
            bought = catalog.get_product(line.product_id)
            others = [
                product.id
                for product in products
                if product.category_path == bought.category_path
                and product.supplier_id != bought.supplier_id
            ][:3]
            if len(others) >= 2:
                break
        supplier = bought.supplier_id
        actions = {
            "show_alternatives": {"type": "show_alternatives", "product_id": bought.id,
                                  "product_ids": others},
            "draft_reorder": {"type": "draft_reorder", "product_id": bought.id,
                              "sku_ids": [line.sku_id] if line.sku_id else []},
            "open_supplier": {"type": "open_supplier", "supplier_id": supplier,
                              "product_ids": [bought.id]},
            "open_product": {"type": "open_product", "product_id": bought.id},
            "open_opportunities": {"type": "open_opportunities",
                                   "category": bought.category_path.split("/")[0]},
        }  # fmt: skip
        drafts = [
            AlertDraft(buyer_id=BUYER, kind="price_down", title=kind, dedup_key=kind, action=action)
            for kind, action in actions.items()
        ]
        created = AlertRepository(session).add_many(drafts)
        keys = ApiKeyRepository(session)
        secrets = {buyer: keys.create(ApiRole.BUYER, buyer)[1] for buyer in (BUYER, "b-0002")}
        session.commit()
        pairs = zip(drafts, created, strict=True)
        alerts = {draft.dedup_key: alert.id or 0 for draft, alert in pairs}
    assert len(others) >= 2, "the buyer bought something with alternatives in its category"
    headers = {buyer: {"Authorization": f"Bearer {secret}"} for buyer, secret in secrets.items()}
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield World(client, headers, alerts, bought, line.quantity, others)
    container.close()


def test_show_alternatives_answers_the_alternatives_as_product_cards(world: World) -> None:
    response = _act(world, "show_alternatives")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["action"] == "show_alternatives"
    assert [card["product_id"] for card in body["cards"]] == world.others
    assert all(card["supplier"]["id"] != world.bought.supplier_id for card in body["cards"])


def test_draft_reorder_stores_the_last_order_again_at_today_s_tier(world: World) -> None:
    response = _act(world, "draft_reorder")
    assert response.status_code == 200, response.text
    draft = response.json()["draft"]
    assert draft["product_id"] == world.bought.id
    assert draft["supplier_id"] == world.bought.supplier_id
    quantity = max(world.bought.moq, world.last_quantity)
    assert [line["quantity"] for line in draft["lines"]] == [quantity]
    assert draft["total_cents"] == quantity * draft["lines"][0]["unit_price_cents"] > 0
    assert [card["product_id"] for card in response.json()["cards"]] == [world.bought.id]
    stored = world.client.get("/v1/reorder-drafts", headers=world.headers[BUYER]).json()
    assert [d["id"] for d in stored] == [draft["id"]]
    assert world.client.get("/v1/reorder-drafts", headers=world.headers["b-0002"]).json() == []


def test_open_supplier_answers_its_profile_and_its_new_products(world: World) -> None:
    body = _act(world, "open_supplier").json()
    assert body["cards"][0]["supplier"]["id"] == world.bought.supplier_id
    assert "signals" in body["cards"][0]
    assert [card.get("product_id") for card in body["cards"][1:]] == [world.bought.id]


def test_open_product_answers_its_card(world: World) -> None:
    body = _act(world, "open_product").json()
    assert [card["product_id"] for card in body["cards"]] == [world.bought.id]
    assert body["cards"][0]["moq"] == world.bought.moq


def test_open_opportunities_answers_what_to_stock_in_the_category(world: World) -> None:
    body = _act(world, "open_opportunities").json()
    category = world.bought.category_path.split("/")[0]
    assert body["opportunities"], body
    assert all(item["category"].startswith(category) for item in body["opportunities"])


def test_acting_marks_the_alert_read_and_another_buyer_s_alert_is_a_404(world: World) -> None:
    assert _act(world, "open_product", buyer="b-0002").status_code == 404
    _act(world, "open_product")
    listed = world.client.get("/v1/alerts", headers=world.headers[BUYER]).json()["alerts"]
    read = {alert["id"]: alert["read_at"] for alert in listed}
    assert read[world.alerts["open_product"]] is not None
