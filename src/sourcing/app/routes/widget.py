"""The web chat widget's script and, in the demo, the mock marketplace page that embeds it."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from sqlmodel import Session

from sourcing.app.container import Container
from sourcing.app.deps import ContainerDep
from sourcing.app.ratelimit import Limit, enforce
from sourcing.app.routes.widget_tokens import WidgetTokenGrant, grant
from sourcing.domain.errors import ForbiddenError, NotFoundError
from sourcing.domain.repositories.widget_tokens import WidgetTokenRepository

router = APIRouter(tags=["widget"], include_in_schema=False)
DEMO_TOKEN_PATH = "/demo/widget-token"


def _asset(name: str) -> str:
    return resources.files("sourcing.app").joinpath("widget", name).read_text("utf-8")


@router.get("/widget.js")
def widget_script() -> Response:
    return Response(
        _asset("widget.js"),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _own_origin(request: Request) -> str:
    # The Host header already passed SOURCING_ALLOWED_HOSTS, so this is a name the operator chose.
    return f"{request.url.scheme}://{request.url.netloc}"


def _mint_demo_token(container: Container, request: Request) -> WidgetTokenGrant | None:
    """A demo buyer's token for this page's own origin; none when the demo buyer is not loaded."""
    settings = container.settings
    if not settings.demo:
        raise NotFoundError("no page here: the demo page is served with SOURCING_DEMO=true")
    address = request.client.host if request.client else "unknown"
    limit = Limit("demo sign-ins", settings.rate_limit_per_minute)
    enforce(container.limiter, limit, f"demo:{address}")
    with Session(container.engine, expire_on_commit=False) as session:
        repository = WidgetTokenRepository(session)
        try:
            token, secret = repository.mint(
                settings.demo_buyer, _own_origin(request), ttl_s=settings.widget_token_ttl_s
            )
        except NotFoundError:
            return None
        session.commit()
    return grant(token, secret)


@router.get("/", response_class=HTMLResponse)
def demo_page(request: Request, container: ContainerDep) -> HTMLResponse:
    """A mock marketplace page with the widget, signed in as the demo buyer by a short-lived token
    bound to this origin (no API key is ever in the page)."""
    signed_in = _mint_demo_token(container, request)
    # Autoescape: the token and everything else land in the page as text, never markup.
    template = Environment(autoescape=True).from_string(_asset("demo.html"))
    page = template.render(
        token=signed_in.token if signed_in else "",
        token_url=DEMO_TOKEN_PATH,
        demo_buyer=container.settings.demo_buyer,
        lang="zh",
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.post(DEMO_TOKEN_PATH)
def demo_token(
    request: Request, container: ContainerDep, origin: Annotated[str | None, Header()] = None
) -> WidgetTokenGrant:
    """A fresh demo token when the page's has expired; only for the demo page's own origin."""
    if origin is None or origin.rstrip("/").lower() != _own_origin(request).lower():
        raise ForbiddenError("demo tokens are for the demo page on this server's own origin")
    signed_in = _mint_demo_token(container, request)
    if signed_in is None:
        raise NotFoundError(f"the demo buyer '{container.settings.demo_buyer}' is not loaded")
    return signed_in
