"""Tenant isolation, route by route from the app's route table: who may call it, whose data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.routing import Mount

from sourcing.app.container import build_container
from sourcing.app.jobs import FEED_JOB
from sourcing.app.main import create_app
from sourcing.app.routes.openai_compat import MODEL_ID
from sourcing.app.settings import Settings
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.repositories.widget_tokens import WidgetTokenRepository
from sourcing.domain.tables import Product, Supplier
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo


class Policy(StrEnum):
    PUBLIC = "public"  # no key needed
    CATALOG = "catalog"  # any key may read shared (not per-owner) data
    SELF = "self"  # any key; answers only about the calling key
    ADMIN_ONLY = "admin-only"  # admin keys only; any other role is a 403
    OWNER_SCOPED = "owner-scoped"  # data of the key's owner; anyone else's is a 404
    BUYER_KEY = "buyer-key"  # a buyer's own data (orders, alerts); other roles are a 403
    MERCHANT_KEY = "merchant-key"  # a merchant's own catalog; other roles are a 403
    BUYER_OR_ADMIN = "buyer-or-admin"  # for a buyer by its own key or an admin's; others a 403
    FEEDER = "feeder"  # merchant (its own rows and jobs) and admin keys; others a 403


@dataclass(frozen=True)
class Rule:
    """How a route is guarded, and a minimal valid request for it.

    Path parameters and string values in `body` may name `{conversation_id}`, `{message_id}`,
    `{product_id}`, `{supplier_id}`, `{key_id}`, `{token_id}`, `{job_id}` or `{asset}`; they
    are filled in before the request."""

    policy: Policy
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    ok: int | tuple[int, ...] = 200  # the status (or statuses) the rightful caller gets
    lists_conversations: bool = False  # OWNER_SCOPED: a listing, not one owned item
    headers: dict[str, str] = field(default_factory=dict)  # sent besides the caller's
    content: str | None = None  # a raw body (with its Content-Type in headers) instead of JSON


CONTINUE_CHAT = {"message": "继续", "stream": False, "conversation_id": "{conversation_id}"}
CONTINUE_COMPLETION = {
    "model": MODEL_ID,
    "messages": [{"role": "user", "content": "hi"}],
    "sourcing": {"conversation_id": "{conversation_id}"},
}

# Every (method, path) the app serves must be here. A new route fails
# test_every_route_is_classified until it is added with its policy and a minimal request.
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/openapi.json"): Rule(Policy.PUBLIC),
    ("GET", "/docs"): Rule(Policy.PUBLIC),
    ("GET", "/docs/oauth2-redirect"): Rule(Policy.PUBLIC),
    ("GET", "/redoc"): Rule(Policy.PUBLIC),
    ("GET", "/static-offline-docs/{asset}"): Rule(Policy.PUBLIC),  # Swagger UI's own files
    ("GET", "/healthz"): Rule(Policy.PUBLIC),
    ("GET", "/readyz"): Rule(Policy.PUBLIC),
    # Public in the demo only (SOURCING_DEMO); tests/app/test_probe_findings.py checks it closed.
    ("GET", "/metrics"): Rule(Policy.PUBLIC),
    ("GET", "/"): Rule(Policy.PUBLIC),  # the demo page: a short-lived token for the demo buyer
    ("POST", "/demo/widget-token"): Rule(Policy.PUBLIC, headers={"Origin": "http://testserver"}),
    ("GET", "/widget.js"): Rule(Policy.PUBLIC),
    ("GET", "/v1/products/search"): Rule(Policy.CATALOG, params={"q": "保温杯"}),
    ("GET", "/v1/catalog/summary"): Rule(Policy.CATALOG),
    ("GET", "/v1/products/{product_id}"): Rule(Policy.CATALOG),
    ("GET", "/v1/suppliers/{supplier_id}"): Rule(Policy.CATALOG),
    ("GET", "/v1/models"): Rule(Policy.CATALOG),
    ("GET", "/v1/me"): Rule(Policy.SELF),
    ("POST", "/v1/keys"): Rule(Policy.ADMIN_ONLY, body={"role": "evaluator"}, ok=201),
    ("GET", "/v1/keys"): Rule(Policy.ADMIN_ONLY),
    ("DELETE", "/v1/keys/{key_id}"): Rule(Policy.ADMIN_ONLY, ok=204),
    ("POST", "/v1/chat"): Rule(Policy.OWNER_SCOPED, body=CONTINUE_CHAT),
    ("GET", "/v1/conversations"): Rule(Policy.OWNER_SCOPED, lists_conversations=True),
    ("GET", "/v1/conversations/{conversation_id}"): Rule(Policy.OWNER_SCOPED),
    ("DELETE", "/v1/conversations/{conversation_id}"): Rule(Policy.OWNER_SCOPED, ok=204),
    ("POST", "/v1/messages/{message_id}/feedback"): Rule(
        Policy.OWNER_SCOPED, body={"rating": 1}, ok=201
    ),
    ("POST", "/v1/chat/completions"): Rule(Policy.OWNER_SCOPED, body=CONTINUE_COMPLETION),
    ("POST", "/v1/bundles"): Rule(Policy.CATALOG, body={"scene": "露营"}),
    ("GET", "/v1/products/{product_id}/similar"): Rule(Policy.CATALOG),
    ("GET", "/v1/suppliers/{supplier_id}/similar"): Rule(Policy.CATALOG),
    ("POST", "/v1/baskets/complete"): Rule(Policy.CATALOG, body={"product_ids": ["{product_id}"]}),
    ("POST", "/v1/assortment/shelf-fillers"): Rule(
        Policy.CATALOG, body={"product_ids": ["{product_id}"]}
    ),
    ("GET", "/v1/opportunities"): Rule(Policy.CATALOG, params={"with_supply": "false"}),
    ("GET", "/v1/merchant/overview"): Rule(Policy.MERCHANT_KEY),
    ("POST", "/v1/feeds"): Rule(
        Policy.FEEDER,
        body={"rows": [{"id": "isolation-1", "title": "隔离测试保温杯"}]},
        params={"source": "isolation"},
        ok=202,
    ),
    ("GET", "/v1/jobs/{job_id}"): Rule(Policy.FEEDER),  # the merchant's job
    ("GET", "/v1/jobs/{job_id}/events"): Rule(Policy.FEEDER, params={"wait_s": "0.2"}),
    ("POST", "/v1/jobs"): Rule(Policy.ADMIN_ONLY, body={"kind": "knowledge"}, ok=202),
    ("POST", "/v1/orders/import"): Rule(
        Policy.ADMIN_ONLY,
        headers={"Content-Type": "text/csv"},
        content="buyer,sku,date,quantity\n",
        ok=202,
    ),
    ("GET", "/v1/follows"): Rule(Policy.BUYER_KEY),
    ("GET", "/v1/follows/new-arrivals"): Rule(Policy.BUYER_KEY),
    ("PUT", "/v1/follows/{supplier_id}"): Rule(Policy.BUYER_KEY, ok=(200, 201)),
    ("DELETE", "/v1/follows/{supplier_id}"): Rule(Policy.BUYER_KEY, ok=204),
    ("POST", "/v1/replenishment/plan"): Rule(Policy.BUYER_KEY, body={}),
    ("GET", "/v1/alerts"): Rule(Policy.BUYER_KEY),
    ("GET", "/v1/watches"): Rule(Policy.BUYER_KEY),
    # Watching is idempotent (201 new, 200 already); unwatching what is not watched is a 404.
    ("PUT", "/v1/watches/{product_id}"): Rule(Policy.BUYER_KEY, ok=(200, 201)),
    ("DELETE", "/v1/watches/{product_id}"): Rule(Policy.BUYER_KEY, ok=(204, 404)),
    ("POST", "/v1/alerts/{alert_id}/ack"): Rule(Policy.BUYER_KEY),
    ("POST", "/v1/alerts/{alert_id}/act"): Rule(Policy.BUYER_KEY),
    ("GET", "/v1/reorder-drafts"): Rule(Policy.BUYER_KEY),
    ("GET", "/v1/alerts/stream"): Rule(Policy.BUYER_KEY, params={"wait_s": "0.1"}),
    ("POST", "/v1/widget/tokens"): Rule(
        Policy.BUYER_OR_ADMIN, body={"origin": "https://shop.example", "buyer_id": "b-0001"}, ok=201
    ),
    ("DELETE", "/v1/widget/tokens/{token_id}"): Rule(Policy.OWNER_SCOPED, ok=204),
}

RouteKey = tuple[str, str]


def app_routes(app: FastAPI) -> list[RouteKey]:
    """(method, path) for each route the app serves; anything but an HTTP route is listed as '*'.

    FastAPI keeps included routers as lazy wrappers in `app.routes`, so it is walked the way
    FastAPI's own OpenAPI generator walks it."""
    found: set[RouteKey] = set()
    for context in iter_route_contexts(app.routes):
        path, methods = context.path or repr(context.original_route), context.methods or set()
        if isinstance(context.original_route, Mount):
            found.add(("GET", f"{path}/{{asset}}"))  # static files: read-only, any name
        elif not methods:
            found.add(("*", path))
        # Starlette adds HEAD to its own GET routes (the docs pages); it is no route of its own.
        elif not isinstance(context.original_route, APIRoute) and "GET" in methods:
            methods = methods - {"HEAD"}
        found.update((method, path) for method in methods)
    return sorted(found)


def _route_id(key: RouteKey) -> str:
    return f"{key[0]} {key[1]}"


# Generated from the app itself, so a route added later gets every test below.
ALL_ROUTES = app_routes(create_app())


def _with_policy(policy: Policy) -> list[Any]:
    return [
        pytest.param(key, id=_route_id(key))
        for key in ALL_ROUTES
        if key in ROUTES and ROUTES[key].policy is policy
    ]


def _rule(key: RouteKey) -> Rule:
    if key not in ROUTES:
        pytest.fail(
            f"{_route_id(key)} is not classified: add it to ROUTES in {__name__} with its policy "
            f"(one of {', '.join(p.name for p in Policy)}) and a minimal valid request"
        )
    return ROUTES[key]


def _oks(rule: Rule) -> tuple[int, ...]:
    return rule.ok if isinstance(rule.ok, tuple) else (rule.ok,)


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]  # caller name -> auth headers
    ids: dict[str, str]  # shared ids: product_id, supplier_id, key_id

    def call(
        self, key: RouteKey, caller: str | dict[str, str], ids: dict[str, str] | None = None
    ) -> httpx2.Response:
        """The route's minimal request as `caller` (a key's name, or raw headers), ids filled in."""
        method, path = key
        rule = _rule(key)
        values = self.ids | (ids or {})
        headers = self.headers[caller] if isinstance(caller, str) else caller
        return self.client.request(
            method,
            path.format(**values),
            params=rule.params,
            json=_fill(rule.body, values),
            content=rule.content,
            headers=rule.headers | headers,
        )


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("isolation")
    # Offline mode, the demo page on, widgets allowed on one host site.
    settings = Settings(
        data_dir=folder, llm_base_url="", demo=True, cors_origins=["https://shop.example"]
    )
    engine = load_demo(settings)
    with Session(engine) as session:
        product = session.exec(select(Product)).first()
        supplier = session.exec(select(Supplier)).first()
        assert product is not None
        assert supplier is not None
        repo = ApiKeyRepository(session)
        subjects = {
            "buyer_a": (ApiRole.BUYER, "b-0001"),
            "buyer_a_second_key": (ApiRole.BUYER, "b-0001"),
            "buyer_b": (ApiRole.BUYER, "b-0002"),
            "merchant": (ApiRole.MERCHANT, supplier.id),
            "evaluator": (ApiRole.EVALUATOR, ""),
            "admin": (ApiRole.ADMIN, ""),
        }
        created = {name: repo.create(role, subject) for name, (role, subject) in subjects.items()}
        secrets = {name: secret for name, (_, secret) in created.items()}
        merchant_job = JobRepository(session).submit(
            FEED_JOB, {"path": "", "kind": "products"}, f"key:{created['merchant'][0].id}"
        )
        spare_key, _ = repo.create(ApiRole.EVALUATOR)  # the admin's DELETE /v1/keys revokes it
        # Buyer A's widget sign-in: the owner's DELETE revokes it (again and again: idempotent).
        token, _ = WidgetTokenRepository(session).mint("b-0001", "https://shop.example", ttl_s=600)
        action = {"type": "open_product", "product_id": product.id}
        draft = AlertDraft(
            buyer_id="b-0001", kind="price_up", title="涨价", dedup_key="t:1", action=action
        )
        alert = AlertRepository(session).add_many([draft])[0]
        session.commit()
        ids = {
            "product_id": product.id,
            "supplier_id": supplier.id,
            "key_id": str(spare_key.id),
            "alert_id": str(alert.id),
            "token_id": str(token.id),
            "job_id": str(merchant_job.id),
            "asset": "swagger-ui.css",
        }
    container = build_container(settings, embedder=use_embedder)
    headers = {name: {"Authorization": f"Bearer {secret}"} for name, secret in secrets.items()}
    with TestClient(create_app(container=container)) as client:
        yield World(client, headers, ids)
    container.close()


@dataclass(frozen=True)
class Owned:
    """A conversation of buyer A with one assistant reply: what others must not reach."""

    conversation_id: str
    message_id: str
    message_count: int

    @property
    def ids(self) -> dict[str, str]:
        return {"conversation_id": self.conversation_id, "message_id": self.message_id}


def _conversation(world: World, caller: str, conversation_id: str) -> httpx2.Response:
    return world.client.get(f"/v1/conversations/{conversation_id}", headers=world.headers[caller])


def _new_conversation(world: World) -> Owned:
    response = world.client.post(
        "/v1/chat", json={"message": "保温杯", "stream": False}, headers=world.headers["buyer_a"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["events"]
    conversation_id = response.json()["conversation_id"]
    messages = _conversation(world, "buyer_a", conversation_id).json()["messages"]
    reply = next(m["id"] for m in messages if m["role"] == "assistant")
    return Owned(conversation_id, reply, len(messages))


@pytest.fixture
def owned(world: World) -> Owned:
    """A fresh one per test: the owner's own DELETE removes it."""
    return _new_conversation(world)


@pytest.fixture(scope="module")
def standing(world: World) -> Owned:
    """One for the keyless requests, which must never reach it."""
    return _new_conversation(world)


NOBODY = {"conversation_id": "conv_00000000000000000000", "message_id": "msg_00000000000000000000"}


def test_every_route_is_classified() -> None:
    unclassified = [_route_id(key) for key in ALL_ROUTES if key not in ROUTES]
    assert not unclassified, (
        f"classify these routes in ROUTES ({__name__}) with a Policy and a minimal valid "
        f"request: {unclassified}"
    )
    stale = [_route_id(key) for key in ROUTES if key not in ALL_ROUTES]
    assert not stale, f"ROUTES lists routes the app no longer serves: {stale}"


@pytest.mark.parametrize("key", [pytest.param(k, id=_route_id(k)) for k in ALL_ROUTES])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"Authorization": "Bearer sk-not-a-real-key"}, id="unknown-key"),
    ],
)
def test_a_route_without_a_valid_key_is_a_401_unless_public(
    world: World, standing: Owned, key: RouteKey, headers: dict[str, str]
) -> None:
    rule = _rule(key)
    response = world.call(key, headers, standing.ids)
    if rule.policy is Policy.PUBLIC:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 401, (
        f"{_route_id(key)} answered {response.status_code} without a valid key: a route that is "
        "not PUBLIC must need one"
    )
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorised"


@pytest.mark.parametrize("key", _with_policy(Policy.ADMIN_ONLY))
def test_admin_routes_refuse_every_other_role_with_a_403(world: World, key: RouteKey) -> None:
    for caller in ("buyer_a", "buyer_b", "merchant", "evaluator"):
        response = world.call(key, caller)
        assert response.status_code == 403, f"{caller}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "forbidden"
    response = world.call(key, "admin")
    assert response.status_code in _oks(ROUTES[key]), response.text


@pytest.mark.parametrize("key", _with_policy(Policy.CATALOG))
def test_shared_catalog_routes_answer_every_role(world: World, key: RouteKey) -> None:
    for caller in ("buyer_a", "buyer_b", "merchant", "evaluator", "admin"):
        response = world.call(key, caller)
        assert response.status_code in _oks(ROUTES[key]), f"{caller}: {response.text}"


@pytest.mark.parametrize(
    ("key", "owner"),
    [
        pytest.param(key, owner, id=_route_id(key))
        for key in ALL_ROUTES
        for policy, owner in ((Policy.BUYER_KEY, "buyer_a"), (Policy.MERCHANT_KEY, "merchant"))
        if key in ROUTES and ROUTES[key].policy is policy
    ],
)
def test_own_data_routes_answer_only_their_kind_of_key(
    world: World, key: RouteKey, owner: str
) -> None:
    for caller in ("buyer_a", "buyer_b", "merchant", "evaluator", "admin"):
        if caller.startswith("buyer") == owner.startswith("buyer"):
            continue
        response = world.call(key, caller)
        assert response.status_code == 403, f"{caller}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "forbidden"
    response = world.call(key, owner)
    assert response.status_code in _oks(ROUTES[key]), response.text


@pytest.mark.parametrize("key", _with_policy(Policy.BUYER_OR_ADMIN))
def test_buyer_or_admin_routes_refuse_other_roles_and_other_buyers(
    world: World, key: RouteKey
) -> None:
    for caller in ("buyer_b", "merchant", "evaluator"):  # the body names buyer A
        response = world.call(key, caller)
        assert response.status_code == 403, f"{caller}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "forbidden"
    for caller in ("buyer_a", "admin"):
        response = world.call(key, caller)
        assert response.status_code in _oks(ROUTES[key]), f"{caller}: {response.text}"


@pytest.mark.parametrize("key", _with_policy(Policy.FEEDER))
def test_feed_routes_answer_merchants_and_admins_only(world: World, key: RouteKey) -> None:
    for caller in ("buyer_a", "evaluator"):
        response = world.call(key, caller)
        assert response.status_code == 403, f"{caller}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "forbidden"
    for caller in ("merchant", "admin"):
        response = world.call(key, caller)
        assert response.status_code in _oks(ROUTES[key]), f"{caller}: {response.text}"


@pytest.mark.parametrize("key", _with_policy(Policy.SELF))
def test_self_routes_answer_about_the_calling_key_only(world: World, key: RouteKey) -> None:
    a, b = world.call(key, "buyer_a"), world.call(key, "buyer_b")
    assert (a.status_code, b.status_code) == (200, 200)
    assert a.json() != b.json()
    assert a.json() == world.call(key, "buyer_a_second_key").json()


INTRUDERS = ("buyer_b", "merchant", "evaluator")


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("key", _with_policy(Policy.OWNER_SCOPED))
def test_nobody_else_reaches_an_owners_data(
    world: World, owned: Owned, key: RouteKey, intruder: str
) -> None:
    """Reaching for A's data tells an intruder what an unknown id would: 404, or not listed."""
    response = world.call(key, intruder, owned.ids)
    if ROUTES[key].lists_conversations:
        assert response.status_code == 200, response.text
        assert owned.conversation_id not in [c["id"] for c in response.json()]
    else:
        assert response.status_code == 404, f"{response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "not_found"
        unknown = world.call(key, intruder, NOBODY)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    # Nothing was changed or deleted on the way: A's conversation is as it was.
    after = _conversation(world, "buyer_a", owned.conversation_id)
    assert after.status_code == 200
    assert len(after.json()["messages"]) == owned.message_count


@pytest.mark.parametrize("key", _with_policy(Policy.OWNER_SCOPED))
def test_the_owner_reaches_their_own_data_with_any_of_their_keys(
    world: World, owned: Owned, key: RouteKey
) -> None:
    rule = ROUTES[key]
    for caller in ("buyer_a_second_key", "buyer_a"):  # a DELETE ends it at the first
        response = world.call(key, caller, owned.ids)
        assert response.status_code == rule.ok, f"{caller}: {response.text}"
        if rule.lists_conversations:
            assert owned.conversation_id in [c["id"] for c in response.json()]
        if rule.ok == 204:
            return


@pytest.mark.parametrize("stream", [True, False])
def test_a_streamed_or_json_chat_cannot_continue_anothers_conversation(
    world: World, owned: Owned, stream: bool
) -> None:
    hijacks = [
        (
            "/v1/chat",
            {"message": "继续", "stream": stream, "conversation_id": owned.conversation_id},
        ),
        ("/v1/chat/completions", _fill(CONTINUE_COMPLETION, owned.ids) | {"stream": stream}),
    ]
    for path, body in hijacks:
        for intruder in INTRUDERS:
            response = world.client.post(path, json=body, headers=world.headers[intruder])
            assert response.status_code == 404, f"{path} as {intruder}: {response.text}"
    after = _conversation(world, "buyer_a", owned.conversation_id).json()
    assert len(after["messages"]) == owned.message_count
