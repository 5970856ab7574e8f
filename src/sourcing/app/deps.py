"""FastAPI dependency aliases: routes get clients from the container, tests override them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlmodel import Session

from sourcing.agents.assistant import Assistant
from sourcing.agents.tools import SkillDeps
from sourcing.app.auth import Principal, authenticate, check_roles, secret_from_headers
from sourcing.app.container import Container
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


def get_principal(
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller behind the request's API key; 401 when there is none or it is not active."""
    return authenticate(session, secret_from_headers(authorization, x_api_key))


PrincipalDep = Annotated[Principal, Depends(get_principal)]
# For routers whose every route needs a valid key of any role (shared catalog data).
ANY_KEY = [Depends(get_principal)]
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^\S+$")]


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
