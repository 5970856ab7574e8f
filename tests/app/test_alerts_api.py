"""Alert routes: a buyer lists, filters, acks and streams only their own alerts."""

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
from sourcing.domain.kinds import AlertSeverity, ApiRole
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo

Headers = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[TestClient, Headers, dict[str, int]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("alerts-api"), alert_poll_s=0.05)
    engine = load_demo(settings)
    drafts = [
        AlertDraft(buyer_id="b-0001", kind="price_up", title="涨价 12%", dedup_key="a1",
                   severity=AlertSeverity.WARNING, product_id="p-000001",
                   action={"type": "open_product", "product_id": "p-000001"}),
        AlertDraft(buyer_id="b-0001", kind="delisted", title="已下架", dedup_key="a2",
                   severity=AlertSeverity.CRITICAL),
        AlertDraft(buyer_id="b-0002", kind="price_down", title="降价", dedup_key="b1"),
    ]  # fmt: skip
    with Session(engine) as session:
        created = AlertRepository(session).add_many(drafts)
        repo = ApiKeyRepository(session)
        secrets = {buyer: repo.create(ApiRole.BUYER, buyer)[1] for buyer in ("b-0001", "b-0002")}
        session.commit()
        ids = {draft.dedup_key: alert.id or 0 for draft, alert in zip(drafts, created, strict=True)}
    headers = {buyer: {"Authorization": f"Bearer {secret}"} for buyer, secret in secrets.items()}
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield client, headers, ids
    container.close()


def _events(body: str) -> list[dict[str, Any]]:
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "alert":
            found.append(json.loads(fields["data"]) | {"event_id": fields["id"]})
    return found


def test_a_buyer_lists_and_filters_their_own_alerts(
    app: tuple[TestClient, Headers, dict[str, int]],
) -> None:
    client, headers, ids = app
    mine = client.get("/v1/alerts", headers=headers["b-0001"]).json()
    assert [alert["id"] for alert in mine["alerts"]] == [ids["a2"], ids["a1"]]  # newest first
    assert "buyer_id" not in mine["alerts"][0]
    assert mine["alerts"][1]["action"] == {"type": "open_product", "product_id": "p-000001"}
    critical = client.get(
        "/v1/alerts", params={"severity": "critical"}, headers=headers["b-0001"]
    ).json()
    assert [alert["kind"] for alert in critical["alerts"]] == ["delisted"]
    theirs = client.get("/v1/alerts", headers=headers["b-0002"]).json()
    assert [alert["id"] for alert in theirs["alerts"]] == [ids["b1"]]
    paged = client.get("/v1/alerts", params={"limit": 1, "offset": 1}, headers=headers["b-0001"])
    assert [alert["id"] for alert in paged.json()["alerts"]] == [ids["a1"]]


def test_acking_reads_an_alert_and_another_buyers_is_a_404(
    app: tuple[TestClient, Headers, dict[str, int]],
) -> None:
    client, headers, ids = app
    stolen = client.post(f"/v1/alerts/{ids['a1']}/ack", headers=headers["b-0002"])
    assert stolen.status_code == 404
    unknown = client.post("/v1/alerts/999999/ack", headers=headers["b-0002"])
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert stolen.json()["error"]["code"] == "not_found"
    before = client.get("/v1/alerts", headers=headers["b-0001"]).json()["unread"]
    acked = client.post(f"/v1/alerts/{ids['a1']}/ack", headers=headers["b-0001"]).json()
    assert acked["read_at"] is not None
    after = client.get("/v1/alerts", headers=headers["b-0001"]).json()["unread"]
    assert after == before - 1


def test_the_live_stream_sends_only_the_buyers_new_alerts_and_resumes(
    app: tuple[TestClient, Headers, dict[str, int]],
) -> None:
    client, headers, ids = app
    body = client.get(
        "/v1/alerts/stream", params={"after_id": 0, "wait_s": 0.3}, headers=headers["b-0001"]
    ).text
    streamed = _events(body)
    assert [event["id"] for event in streamed] == [ids["a1"], ids["a2"]]
    assert body.startswith("retry: 3000")
    resumed = client.get(
        "/v1/alerts/stream",
        params={"wait_s": 0.3},
        headers=headers["b-0001"] | {"Last-Event-ID": str(ids["a1"])},
    ).text
    assert [event["id"] for event in _events(resumed)] == [ids["a2"]]
    fresh = client.get("/v1/alerts/stream", params={"wait_s": 0.2}, headers=headers["b-0002"])
    assert _events(fresh.text) == []  # a new stream starts from now


def test_a_buyer_watches_products_of_their_own(
    app: tuple[TestClient, Headers, dict[str, int]],
) -> None:
    client, headers, _ = app
    first = client.put("/v1/watches/p-000002", headers=headers["b-0001"])
    again = client.put("/v1/watches/p-000002", headers=headers["b-0001"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    mine = [w["product_id"] for w in client.get("/v1/watches", headers=headers["b-0001"]).json()]
    theirs = [w["product_id"] for w in client.get("/v1/watches", headers=headers["b-0002"]).json()]
    assert "p-000002" in mine
    assert "p-000002" not in theirs
    assert client.delete("/v1/watches/p-000002", headers=headers["b-0002"]).status_code == 404
    assert client.delete("/v1/watches/p-000002", headers=headers["b-0001"]).status_code == 204
    assert client.put("/v1/watches/p-nope", headers=headers["b-0001"]).status_code == 404
