"""Security headers on every response, CORS only for the configured widget origins, settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.security import API_CSP, PAGE_CSP
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder

WIDGET_ORIGIN = "https://shop.example.com"
FOREIGN_ORIGIN = "https://evil.example.net"


def _client(folder: Path, embedder: Embedder, **settings: Any) -> Iterator[TestClient]:
    container = build_container(Settings(data_dir=folder, **settings), embedder=embedder)
    with Session(container.engine) as session:
        _, secret = ApiKeyRepository(session).create(ApiRole.EVALUATOR)
        session.commit()
    with TestClient(create_app(container=container)) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client
    container.close()


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("security")
    yield from _client(folder, use_embedder, cors_origins=[WIDGET_ORIGIN], demo=True)


@pytest.fixture(scope="module")
def hsts_client(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[TestClient]:
    yield from _client(tmp_path_factory.mktemp("hsts"), use_embedder, hsts=True)


@pytest.mark.parametrize(
    "path", ["/v1/catalog/summary", "/v1/products/nope", "/healthz", "/docs", "/", "/widget.js"]
)
def test_every_response_says_nosniff_and_no_referrer(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers  # SOURCING_HSTS is off


@pytest.mark.parametrize(
    ("path", "status"), [("/v1/catalog/summary", 200), ("/v1/products/nope", 404)]
)
def test_api_answers_are_never_framed_or_cached(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == API_CSP
    assert response.headers["cache-control"] == "no-store"


def test_refusals_before_any_route_carry_the_headers_too(client: TestClient) -> None:
    unauthorised = client.get("/v1/me", headers={"Authorization": ""})
    too_large = client.post("/v1/chat", content=b"x" * 2_000_000)
    for response, status in ((unauthorised, 401), (too_large, 413)):
        assert response.status_code == status
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_the_demo_page_has_a_csp_that_lets_only_the_widget_run(client: TestClient) -> None:
    response = client.get("/")
    policy = dict(
        directive.strip().split(" ", 1) for directive in PAGE_CSP.split(";") if directive.strip()
    )
    assert response.headers["content-security-policy"] == PAGE_CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert policy["script-src"] == "'self'"  # /widget.js only: no inline script, no eval
    assert "unsafe-inline" not in policy["script-src"]
    assert policy["connect-src"] == "'self'"  # fetch and SSE to this server
    assert "https:" in policy["img-src"]  # catalog images
    assert policy["frame-ancestors"] == "'none'"


def test_the_widget_script_may_be_loaded_by_other_origins(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["cache-control"] == "public, max-age=300"  # the route's own
    assert "x-frame-options" not in response.headers


def test_hsts_is_sent_only_when_switched_on(hsts_client: TestClient) -> None:
    for path in ("/v1/catalog/summary", "/", "/healthz"):
        header = hsts_client.get(path).headers["strict-transport-security"]
        assert header.startswith("max-age=31536000")


def test_a_preflight_from_a_widget_origin_is_allowed(client: TestClient) -> None:
    response = client.options(
        "/v1/chat",
        headers={
            "Origin": WIDGET_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, last-event-id",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == WIDGET_ORIGIN
    allowed = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert allowed == {"GET", "POST", "PUT"}
    headers = response.headers["access-control-allow-headers"].lower()
    for name in ("authorization", "content-type", "x-api-key", "last-event-id"):
        assert name in headers
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_real_request_from_a_widget_origin_gets_the_cors_headers(client: TestClient) -> None:
    response = client.get("/v1/catalog/summary", headers={"Origin": WIDGET_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == WIDGET_ORIGIN
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_a_foreign_origin_gets_no_cors_headers(client: TestClient) -> None:
    preflight = client.options(
        "/v1/chat",
        headers={"Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    real = client.get("/v1/catalog/summary", headers={"Origin": FOREIGN_ORIGIN})
    assert real.status_code == 200
    for response in (preflight, real):
        assert "access-control-allow-origin" not in response.headers


def test_a_method_the_widget_does_not_use_is_refused_on_preflight(client: TestClient) -> None:
    response = client.options(
        "/v1/conversations/c1",
        headers={"Origin": WIDGET_ORIGIN, "Access-Control-Request-Method": "DELETE"},
    )
    assert response.status_code == 400
    assert "DELETE" not in response.headers.get("access-control-allow-methods", "")


def test_without_configured_origins_no_origin_gets_cors_headers(hsts_client: TestClient) -> None:
    preflight = hsts_client.options(
        "/v1/chat", headers={"Origin": WIDGET_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    real = hsts_client.get("/v1/catalog/summary", headers={"Origin": WIDGET_ORIGIN})
    assert preflight.status_code == 405  # no CORS layer: an OPTIONS is just an unknown method
    assert real.status_code == 200
    for response in (preflight, real):
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (
            "https://a.example.com, https://b.example.com/",
            ["https://a.example.com", "https://b.example.com"],
        ),
        ('["https://a.example.com"]', ["https://a.example.com"]),
        ("", []),
    ],
    ids=["comma-separated", "json", "empty"],
)
def test_cors_origins_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]
) -> None:
    monkeypatch.setenv("SOURCING_CORS_ORIGINS", value)
    monkeypatch.setenv("SOURCING_HSTS", "true")
    settings = Settings()
    assert settings.cors_origins == origins
    assert settings.hsts is True
