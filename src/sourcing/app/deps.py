"""FastAPI dependency aliases: routes get clients from the container, tests override them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlmodel import Session

from sourcing.agents.assistant import Assistant
from sourcing.agents.skills.deps import SkillDeps
from sourcing.app.auth import (
    Principal,
    authenticate,
    check_roles,
    check_widget_scope,
    secret_from_headers,
)
from sourcing.app.container import Container
from sourcing.app.observability import Metrics, note_key
from sourcing.app.ratelimit import Limit, enforce
from sourcing.app.shutdown import Shutdown
from sourcing.domain.errors import AuthError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.retrieval.search import ProductSearch


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    """One session per request; read routes never commit, write routes commit explicitly."""
    with Session(container.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_catalog(session: SessionDep) -> CatalogRepository:
    return CatalogRepository(session)


CatalogDep = Annotated[CatalogRepository, Depends(get_catalog)]


def get_search(container: ContainerDep) -> ProductSearch:
    return container.search.search


SearchDep = Annotated[ProductSearch, Depends(get_search)]


def get_authentication(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    origin: Annotated[str | None, Header()] = None,
) -> Principal | AuthError:
    """The caller, or why there is none; resolved once per request for the limits and the route."""
    operator_hash = getattr(request.app.state, "operator_token_hash", None)
    try:
        secret = secret_from_headers(authorization, x_api_key)
        principal = authenticate(session, secret, origin=origin, operator_hash=operator_hash)
    except AuthError as exc:
        return exc
    finally:
        # End the lookup's read transaction: its pooled connection goes back now, not when the
        # response ends; 200 open chat streams would otherwise hold 200 and starve the turns.
        session.rollback()
    if not principal.widget_origin:
        note_key(principal.key_id)
    return principal


AuthenticationDep = Annotated[Principal | AuthError, Depends(get_authentication)]


def get_principal(request: Request, authentication: AuthenticationDep) -> Principal:
    """The caller behind the request's API key or widget token; 401 when there is none or it is
    not active, 403 for what a widget token may not do."""
    if isinstance(authentication, AuthError):
        raise authentication
    route = getattr(request.scope.get("route"), "path", "")
    return check_widget_scope(authentication, request.method, route)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _caller(request: Request, authentication: Principal | AuthError) -> str:
    if isinstance(authentication, Principal):
        return authentication.caller
    # Keyless and bad-key requests share their address's allowance, which slows key guessing.
    return f"addr:{request.client.host if request.client else 'unknown'}"


def limit_requests(
    request: Request, container: ContainerDep, authentication: AuthenticationDep
) -> None:
    """429 with Retry-After past SOURCING_RATE_LIMIT_PER_MINUTE for this caller."""
    limit = Limit("requests", container.settings.rate_limit_per_minute)
    enforce(container.limiter, limit, _caller(request, authentication))


def limit_chat_turns(
    request: Request, container: ContainerDep, authentication: AuthenticationDep
) -> None:
    """429 with Retry-After past SOURCING_CHAT_RATE_LIMIT_PER_MINUTE for this caller."""
    limit = Limit("chat turns", container.settings.chat_rate_limit_per_minute)
    enforce(container.limiter, limit, _caller(request, authentication))


# Every /v1 router is included with RATE_LIMITED; chat routes add CHAT_LIMITED.
RATE_LIMITED = [Depends(limit_requests)]
CHAT_LIMITED = [Depends(limit_chat_turns)]
# For routers whose every route needs a valid key of any role (shared catalog data).
ANY_KEY = [Depends(get_principal)]
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^\S+$")]
# Row ids are PostgreSQL INTEGER (and SQLite 64-bit): a larger one is a 422, not a driver error.
MAX_ROW_ID = 2**31 - 1
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def require_roles(*roles: ApiRole) -> Callable[[Principal], Principal]:
    """A dependency that lets through only keys with one of `roles` (403 otherwise)."""
    allowed = frozenset(roles)

    def dependency(principal: PrincipalDep) -> Principal:
        return check_roles(principal, allowed)

    return dependency


AdminDep = Annotated[Principal, Depends(require_roles(ApiRole.ADMIN))]


def get_assistant(container: ContainerDep) -> Assistant:
    return container.assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]


def get_skills(container: ContainerDep) -> SkillDeps:
    return container.assistant.deps.skills


SkillsDep = Annotated[SkillDeps, Depends(get_skills)]


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def get_shutdown(request: Request) -> Shutdown:
    shutdown: Shutdown = request.app.state.shutdown
    return shutdown


ShutdownDep = Annotated[Shutdown, Depends(get_shutdown)]
