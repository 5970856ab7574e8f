"""Liveness (the process answers) and readiness (the database, the index and the model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from anyio import to_thread
from fastapi import APIRouter
from sqlmodel import Session

from sourcing.app.container import Container
from sourcing.app.deps import ContainerDep
from sourcing.domain.errors import ServiceUnavailableError
from sourcing.domain.repositories.operations import OperationsRepository

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2.0  # a dependency slower than this is as good as down for a load balancer
RETRY_AFTER_S = 5.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers; calls nothing, so a slow dependency never gets it restarted."""
    return {"status": "ok"}


def _database(container: Container) -> dict[str, Any]:
    with Session(container.engine) as session:
        OperationsRepository(session).ping()
    return {}


def _index(container: Container) -> dict[str, Any]:
    return {"products": container.search.index.count()}


async def _check(probe: Callable[[Container], dict[str, Any]], container: Container) -> Any:
    """`probe`'s findings with status ok, or status failed and why (a timeout included)."""
    with anyio.move_on_after(CHECK_TIMEOUT_S):
        try:
            found = await to_thread.run_sync(probe, container, abandon_on_cancel=True)
        except Exception as exc:  # any failure of a dependency is a failed check, not a 500
            return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"status": "ok", **found}
    return {"status": "failed", "error": f"no answer within {CHECK_TIMEOUT_S:g} s"}


def _model(container: Container) -> dict[str, Any]:
    """Never fails readiness: with the model down the offline planner still answers."""
    if container.model is None:
        return {"status": "ok", "mode": "offline", "breaker": None}
    chat = container.model.chat
    mode = "offline" if chat.breaker_open else "model"
    return {"status": "ok", "mode": mode, "breaker": chat.breaker.state.value}


@router.get("/readyz")
async def readyz(container: ContainerDep) -> dict[str, Any]:
    """200 with each check's status, or 503 with Retry-After naming the checks that failed."""
    checks = {
        "database": await _check(_database, container),
        "index": await _check(_index, container),
        "model": _model(container),
    }
    failed = [name for name, check in checks.items() if check["status"] != "ok"]
    if failed:
        raise ServiceUnavailableError(
            f"not ready: {', '.join(failed)}", retry_after_s=RETRY_AFTER_S, checks=checks
        )
    return {"status": "ok", "checks": checks}
