"""Feeds submitted to the running server: a durable job syncs, re-indexes and alerts while
the server serves; merchants load only their own rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.tables import Product
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo

Headers = dict[str, str]
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[tuple[TestClient, dict[str, Headers], Product]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("feeds-api"))
    engine = load_demo(settings)
    with Session(engine) as session:
        product = session.exec(select(Product).where(Product.price_cents > 500)).first()
        assert product is not None
        assert product.supplier_id
        other = session.exec(
            select(Product.supplier_id).where(Product.supplier_id != product.supplier_id)
        ).first()
        assert other
        keys = ApiKeyRepository(session)
        secrets = {
            "admin": keys.create(ApiRole.ADMIN, "")[1],
            "merchant": keys.create(ApiRole.MERCHANT, product.supplier_id)[1],
            "other_merchant": keys.create(ApiRole.MERCHANT, other)[1],
            "buyer": keys.create(ApiRole.BUYER, "b-0001")[1],
            "buyer_b": keys.create(ApiRole.BUYER, "b-0002")[1],
        }
        session.commit()
        session.refresh(product)
        session.expunge(product)
    headers = {who: {"Authorization": f"Bearer {secret}"} for who, secret in secrets.items()}
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield client, headers, product
    container.close()


def _lines(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def _finished(client: TestClient, headers: Headers, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in 120 s")


def test_a_feed_posted_to_the_server_is_searchable_once_its_job_ends(
    served: tuple[TestClient, dict[str, Headers], Product],
) -> None:
    client, headers, product = served
    rows = [
        {"商品ID": "new-feed-1", "商品标题": "钛合金户外折叠露营锅具套装", "单价": "88",
         "supplier_id": product.supplier_id},
        {"id": product.id, "title": product.title, "price": "1.00",
         "supplier_id": product.supplier_id, "category": product.category_path},
    ]  # fmt: skip
    submitted = client.post(
        "/v1/feeds?source=api-test", content=_lines(rows), headers=headers["admin"] | NDJSON
    )
    assert submitted.status_code == 202, submitted.text
    job = _finished(client, headers["admin"], submitted.json()["id"])
    assert job["status"] == "completed", job["error"]
    assert job["report"]["sync"]["added"] == 1
    assert job["report"]["sync"]["updated"] == 1
    assert job["report"]["alerts"] is not None
    found = client.get(
        "/v1/products/search", params={"q": "钛合金露营锅具"}, headers=headers["buyer"]
    )
    assert found.json()["hits"][0]["product_id"] == "new-feed-1"
    cheap = client.get(
        "/v1/products/search",
        params={"q": product.category_path.rsplit("/", 1)[-1], "price_max": 2, "limit": 50},
        headers=headers["buyer"],
    )
    assert product.id in [hit["product_id"] for hit in cheap.json()["hits"]]


def test_a_merchant_loads_only_its_own_supplier_s_rows(
    served: tuple[TestClient, dict[str, Headers], Product],
) -> None:
    client, headers, product = served
    rows = [
        {"id": "merchant-own-1", "title": "加厚纯棉浴巾"},
        {"id": "merchant-theirs-1", "title": "别家的浴巾", "supplier_id": "s-elsewhere"},
    ]
    submitted = client.post("/v1/feeds", content=_lines(rows), headers=headers["merchant"] | NDJSON)
    assert submitted.status_code == 202, submitted.text
    job = _finished(client, headers["merchant"], submitted.json()["id"])
    report = job["report"]["sync"]
    assert (report["added"], report["rejected_rows"]) == (1, 1)
    assert report["rejected"][0]["field"] == "supplier_id"
    assert job["source"] == f"merchant-{product.supplier_id}"
    own = client.get("/v1/products/merchant-own-1", headers=headers["buyer"]).json()
    assert own["supplier_id"] == product.supplier_id
    # another merchant does not see this job
    assert client.get(f"/v1/jobs/{job['id']}", headers=headers["other_merchant"]).status_code == 404


def test_a_follower_sees_a_merchant_s_new_product_and_an_alert_others_do_not(
    served: tuple[TestClient, dict[str, Headers], Product],
) -> None:
    client, headers, product = served
    supplier = product.supplier_id
    client.delete(f"/v1/follows/{supplier}", headers=headers["buyer"])  # the demo may follow it
    assert client.put(f"/v1/follows/{supplier}", headers=headers["buyer"]).status_code == 201
    assert client.put(f"/v1/follows/{supplier}", headers=headers["buyer"]).status_code == 200
    listed = client.get("/v1/follows", headers=headers["buyer"]).json()["follows"]
    assert supplier in [follow["supplier_id"] for follow in listed]
    assert client.put("/v1/follows/s-nowhere", headers=headers["buyer"]).status_code == 404
    # a source's first feed is its catalog's import (no news); the next one lists something new
    for rows in ([{"id": "follow-import-1", "title": "纯棉毛巾"}],
                 [{"id": "follow-new-1", "title": "新款硅胶折叠水杯 便携"}]):  # fmt: skip
        submitted = client.post(
            "/v1/feeds",
            content=_lines(rows),
            headers=headers["merchant"] | NDJSON,
        )
        job = _finished(client, headers["merchant"], submitted.json()["id"])
        assert job["status"] == "completed"
    arrivals = client.get("/v1/follows/new-arrivals", headers=headers["buyer"]).json()["products"]
    assert "follow-new-1" in [found["product_id"] for found in arrivals]
    alerts = client.get("/v1/alerts", headers=headers["buyer"]).json()["alerts"]
    assert ("new_arrival", "follow-new-1") in {(a["kind"], a["product_id"]) for a in alerts}
    others = client.get("/v1/alerts", headers=headers["buyer_b"]).json()["alerts"]
    assert "follow-new-1" not in {alert["product_id"] for alert in others}
    theirs = client.get("/v1/follows/new-arrivals", headers=headers["buyer_b"]).json()
    assert "follow-new-1" not in [found["product_id"] for found in theirs["products"]]
    assert client.delete(f"/v1/follows/{supplier}", headers=headers["buyer"]).status_code == 204
    listed = client.get("/v1/follows", headers=headers["buyer"]).json()["follows"]
    assert supplier not in [follow["supplier_id"] for follow in listed]


@pytest.mark.parametrize(
    ("who", "query", "content_type", "body", "code"),
    [
        ("buyer", "?source=x", "application/x-ndjson", b'{"id": "a", "title": "b"}\n', 403),
        ("admin", "?source=x", "text/plain", b"id,title\n", 422),
        ("admin", "", "application/x-ndjson", b'{"id": "a", "title": "b"}\n', 422),
        ("admin", "?source=x", "application/x-ndjson", b"  \n", 422),
        ("merchant", "?kind=suppliers", "application/x-ndjson", b'{"id": "a"}\n', 403),
        ("admin", "?source=../etc", "application/x-ndjson", b'{"id": "a"}\n', 422),
        ("admin", "?source=x", "application/json", b'{"rows": {"id": "a"}}', 422),
        ("admin", "?source=x", "application/json", b"[" * 100_000, 422),
    ],
)
def test_a_feed_the_server_cannot_take_is_refused_typed(
    served: tuple[TestClient, dict[str, Headers], Product],
    who: str,
    query: str,
    content_type: str,
    body: bytes,
    code: int,
) -> None:
    client, headers, _ = served
    refused = client.post(
        f"/v1/feeds{query}", content=body, headers=headers[who] | {"Content-Type": content_type}
    )
    assert refused.status_code == code, refused.text
    assert "error" in refused.json()
