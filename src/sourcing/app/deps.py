"""FastAPI dependency aliases: routes get clients from the container, tests override them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from sourcing.app.container import Container
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
