"""Widget sign-in without a key in the page: short-lived, origin-bound, revocable, scoped tokens;
the Host check; /metrics closed outside the demo; the API docs without a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from sourcing.app.container import Container, build_container
from sourcing.app.main import create_app
from sourcing.app.security import host_allowed
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.tables import WidgetToken
from sourcing.domain.types import utcnow
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo

SHOP = "https://shop.example"
PAGE_ORIGIN = "http://testserver"  # the TestClient's own origin: the demo page's
TOKEN_IN_PAGE = re.compile(r'data-token="(wt-[A-Za-z0-9_-]+)"')


@dataclass(frozen=True)
class Site:
    client: TestClient
    container: Container
    keys: dict[str, str]  # name -> secret

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def demo_token(self) -> str:
        page = self.client.get("/")
        assert page.status_code == 200, page.text
        found = TOKEN_IN_PAGE.search(page.text)
        assert found, "the demo page carries no widget token"
        return found.group(1)


def _bearer(token: str, origin: str | None = PAGE_ORIGIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} | ({"Origin": origin} if origin else {})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Site]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("widget-tokens"),
        llm_base_url="",
        demo=True,
        cors_origins=[SHOP],
        widget_token_ttl_s=600,
        rate_limit_per_minute=10_000,
    )
    engine = load_demo(settings, products=60)
    with Session(engine) as session:
        repo = ApiKeyRepository(session)
        roles = {
            "buyer": (ApiRole.BUYER, "b-0001"),
            "other_buyer": (ApiRole.BUYER, "b-0002"),
            "merchant": (ApiRole.MERCHANT, "s-0001"),
            "admin": (ApiRole.ADMIN, ""),
        }
        keys = {name: repo.create(role, subject)[1] for name, (role, subject) in roles.items()}
        session.commit()
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield Site(client, container, keys)
    container.close()


def _app(tmp_path: Any, use_embedder: Embedder, **overrides: Any) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, llm_base_url="", **overrides)
    load_demo(settings, products=20)
    container = build_container(settings, embedder=use_embedder)
    with TestClient(create_app(container=container)) as client:
        yield client
    container.close()


@pytest.fixture
def plain(tmp_path: Any, use_embedder: Embedder) -> Iterator[TestClient]:
    """A server as deployed: no demo, no metrics token."""
    yield from _app(tmp_path, use_embedder)


def test_the_demo_page_carries_a_short_lived_token_and_no_api_key(site: Site) -> None:
    page = site.client.get("/")
    assert page.headers["cache-control"] == "no-store"
    assert "sk-" not in page.text
    assert 'data-token-url="/demo/widget-token"' in page.text
    token = site.demo_token()
    assert token != site.demo_token(), "every page view mints its own token"
    alerts = site.client.get("/v1/alerts", headers=_bearer(token))
    assert alerts.status_code == 200, alerts.text
    with Session(site.container.engine) as session:
        rows = session.exec(select(WidgetToken)).all()
        newest = max(rows, key=lambda row: row.id or 0)
    assert newest.buyer_id == "b-0001"
    assert newest.origin == PAGE_ORIGIN
    assert newest.expires_at <= utcnow() + timedelta(seconds=600)
    assert all(row.token_hash != token for row in rows), "only a hash is stored"


def test_the_widget_token_refresh_is_for_the_page_own_origin_only(site: Site) -> None:
    fresh = site.client.post("/demo/widget-token", headers={"Origin": PAGE_ORIGIN})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["token"].startswith("wt-")
    for origin in (None, "https://evil.example"):
        headers = {"Origin": origin} if origin else {}
        refused = site.client.post("/demo/widget-token", headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"


def test_a_widget_token_is_refused_from_another_web_origin(site: Site) -> None:
    token = site.demo_token()
    foreign = site.client.get("/v1/alerts", headers=_bearer(token, "https://evil.example"))
    assert foreign.status_code == 401
    assert "origin" in foreign.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/keys", {"role": "admin"}),
        ("POST", "/v1/replenishment/plan", {}),
        ("POST", "/v1/widget/tokens", {"origin": SHOP}),
        ("DELETE", "/v1/conversations/conv_00000000000000000000", None),
        ("DELETE", "/v1/watches/p-000001", None),
        ("POST", "/v1/bundles", {"scene": "露营"}),
    ],
)
def test_a_widget_token_does_only_what_the_widget_does(
    site: Site, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = site.client.request(method, path, json=body, headers=_bearer(site.demo_token()))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"


def test_the_widget_chats_rates_and_watches_with_its_token(site: Site) -> None:
    headers = _bearer(site.demo_token())
    ask = {"message": "收纳盒", "stream": False}
    turn = site.client.post("/v1/chat", json=ask, headers=headers)
    assert turn.status_code == 200, turn.text
    watch = site.client.put("/v1/watches/p-000001", headers=headers)
    assert watch.status_code in (200, 201), watch.text
    listed = site.client.get("/v1/conversations", headers=headers)
    assert turn.json()["conversation_id"] in [c["id"] for c in listed.json()]


def test_an_expired_token_signs_in_no_more(site: Site) -> None:
    token = site.demo_token()
    with Session(site.container.engine) as session:
        row = max(session.exec(select(WidgetToken)).all(), key=lambda r: r.id or 0)
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    expired = site.client.get("/v1/alerts", headers=_bearer(token))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "unauthorised"


def test_a_host_site_mints_for_its_buyer_and_revokes(site: Site) -> None:
    minted = site.client.post(
        "/v1/widget/tokens", json={"origin": SHOP + "/", "ttl_s": 120}, headers=site.auth("buyer")
    )
    assert minted.status_code == 201, minted.text
    grant = minted.json()
    assert (grant["buyer_id"], grant["origin"]) == ("b-0001", SHOP)
    token, token_id = grant["token"], grant["id"]
    assert site.client.get("/v1/watches", headers=_bearer(token, SHOP)).status_code == 200
    assert site.client.get("/v1/watches", headers=_bearer(token, None)).status_code == 200
    # Another buyer cannot sign it out, nor learn that it exists.
    foreign = site.client.delete(f"/v1/widget/tokens/{token_id}", headers=site.auth("other_buyer"))
    assert foreign.status_code == 404
    revoked = site.client.delete(f"/v1/widget/tokens/{token_id}", headers=site.auth("buyer"))
    assert revoked.status_code == 204
    assert site.client.get("/v1/watches", headers=_bearer(token, SHOP)).status_code == 401


def test_revoking_the_issuing_key_signs_its_widgets_out(site: Site) -> None:
    created = site.client.post(
        "/v1/keys", json={"role": "buyer", "subject": "b-0003"}, headers=site.auth("admin")
    ).json()
    minted = site.client.post(
        "/v1/widget/tokens",
        json={"origin": SHOP},
        headers={"Authorization": f"Bearer {created['secret']}"},
    ).json()
    assert site.client.get("/v1/alerts", headers=_bearer(minted["token"], SHOP)).status_code == 200
    site.client.delete(f"/v1/keys/{created['id']}", headers=site.auth("admin"))
    after = site.client.get("/v1/alerts", headers=_bearer(minted["token"], SHOP))
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("caller", "body", "status"),
    [
        ("buyer", {"origin": "https://evil.example"}, 422),  # not a configured widget origin
        ("buyer", {"origin": "javascript:alert(1)"}, 422),
        ("buyer", {"origin": SHOP, "buyer_id": "b-0002"}, 403),
        ("merchant", {"origin": SHOP}, 403),
        ("admin", {"origin": SHOP}, 422),  # an admin names the buyer
        ("admin", {"origin": SHOP, "buyer_id": "b-9999"}, 404),
        ("buyer", {"origin": SHOP, "ttl_s": 10**6}, 422),
    ],
)
def test_minting_refuses_what_it_must(
    site: Site, caller: str, body: dict[str, Any], status: int
) -> None:
    response = site.client.post("/v1/widget/tokens", json=body, headers=site.auth(caller))
    assert response.status_code == status, response.text


def test_the_ttl_never_exceeds_the_server_maximum(site: Site) -> None:
    grant = site.client.post(
        "/v1/widget/tokens",
        json={"origin": SHOP, "buyer_id": "b-0001", "ttl_s": 86_400},
        headers=site.auth("admin"),
    ).json()
    with Session(site.container.engine) as session:
        row = session.get(WidgetToken, grant["id"])
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(seconds=600)


def test_outside_the_demo_there_is_no_demo_page_and_metrics_are_closed(plain: TestClient) -> None:
    assert plain.get("/").status_code == 404
    assert plain.post("/demo/widget-token", headers={"Origin": PAGE_ORIGIN}).status_code == 404
    closed = plain.get("/metrics")
    assert closed.status_code == 401
    assert closed.json()["error"]["code"] == "unauthorised"


def test_metrics_answer_an_admin_key_or_the_metrics_token_only(
    tmp_path: Any, use_embedder: Embedder
) -> None:
    for client in _app(tmp_path, use_embedder, metrics_token="m-secret"):
        with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
            repo = ApiKeyRepository(session)
            admin, buyer = repo.create(ApiRole.ADMIN)[1], repo.create(ApiRole.BUYER, "b-0001")[1]
            session.commit()
        for secret, status in (("m-secret", 200), (admin, 200), (buyer, 403), ("wrong", 401)):
            answer = client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
            assert answer.status_code == status, secret


def test_the_demo_serves_metrics_to_anyone(site: Site) -> None:
    assert site.client.get("/metrics").status_code == 200


def test_a_host_header_outside_the_allowed_hosts_is_a_typed_400(site: Site) -> None:
    for path in ("/v1/catalog/summary", "/", "/v1/products/search/", "/docs"):
        response = site.client.get(path, headers={"Host": "rebound.evil.example"})
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "unknown_host"
        assert "location" not in response.headers  # no redirect reflects the name
    # Orchestrators probe by address: the health checks answer whatever the Host.
    assert site.client.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200


def test_allowed_hosts_match_names_ports_and_subdomain_patterns() -> None:
    allowed = ["localhost", "*.shop.example"]
    assert host_allowed("localhost:8000", allowed)
    assert host_allowed("api.shop.example", allowed)
    assert host_allowed("API.Shop.Example.", allowed)
    assert not host_allowed("shop.example.evil.com", allowed)
    assert not host_allowed("evilshop.example", allowed)
    assert not host_allowed("", allowed)
    assert host_allowed("anything", ["*"])


def test_the_api_docs_load_their_assets_from_this_server(site: Site) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = site.client.get(page).text
        assert f"/static-offline-docs/{asset}" in html
        assert "cdn.jsdelivr.net" not in html
        served = site.client.get(f"/static-offline-docs/{asset}")
        assert served.status_code == 200
        assert len(served.content) > 100_000
