"""A buyer's alerts (list, acknowledge, act on, live SSE stream), reorder drafts and the
products they watch."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from anyio import to_thread
from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.act_on_alert import AlertActionResult, act_on_alert
from sourcing.app.auth import Principal
from sourcing.app.deps import (
    MAX_ROW_ID,
    ContainerDep,
    IdPath,
    PrincipalDep,
    RowIdPath,
    SessionDep,
    ShutdownDep,
)
from sourcing.app.shutdown import Shutdown
from sourcing.domain.errors import ForbiddenError
from sourcing.domain.kinds import AlertSeverity, ApiRole
from sourcing.domain.repositories.alerts import AlertRepository
from sourcing.domain.repositories.drafts import ReorderDraftRepository
from sourcing.domain.repositories.watches import WatchRepository
from sourcing.domain.tables import Alert, ReorderDraft
from sourcing.prompts.loader import Language

router = APIRouter(prefix="/v1", tags=["alerts"])
KEEP_ALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream


def _buyer_of(principal: Principal) -> str:
    """Alerts belong to buyers: only a buyer key reads them, and only its own."""
    if principal.role != ApiRole.BUYER or not principal.subject:
        raise ForbiddenError("alerts are read with a buyer key", role=principal.role)
    return principal.subject


def _shown(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude={"buyer_id", "dedup_key"})


@router.get("/alerts")
def list_alerts(
    principal: PrincipalDep,
    session: SessionDep,
    unread_only: bool = False,
    kind: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    severity: AlertSeverity | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """Newest first; `unread` counts every unread alert, whatever the filters."""
    buyer = _buyer_of(principal)
    repo = AlertRepository(session)
    alerts = repo.for_buyer(
        buyer,
        unread_only=unread_only,
        kinds=kind,
        severity=severity,
        limit=limit,
        offset=offset,
    )
    return {
        "alerts": [_shown(alert) for alert in alerts],
        "unread": repo.count_unread(buyer),
        "limit": limit,
        "offset": offset,
    }


@router.post("/alerts/{alert_id}/ack")
def ack_alert(alert_id: RowIdPath, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """Marks the alert read; someone else's alert is a 404, like one that does not exist."""
    alert = AlertRepository(session).ack(_buyer_of(principal), alert_id)
    session.commit()
    return _shown(alert)


@router.post("/alerts/{alert_id}/act")
def act_on(
    alert_id: RowIdPath,
    principal: PrincipalDep,
    session: SessionDep,
    container: ContainerDep,
    language: Language = "zh",
) -> AlertActionResult:
    """Carry out the alert's one-click action and mark it read: alternatives as cards
    (`show_alternatives`), a stored reorder draft (`draft_reorder`), the supplier and its new
    products (`open_supplier`), the product (`open_product`) or what to stock
    (`open_opportunities`). Someone else's alert is a 404."""
    buyer = _buyer_of(principal)
    alert = AlertRepository(session).get(buyer, alert_id)
    skills = container.assistant.deps.skills
    result = act_on_alert(skills.engine, skills.search, skills.prompts, session, alert, language)
    AlertRepository(session).ack(buyer, alert_id)
    session.commit()
    return result


@router.get("/reorder-drafts")
def list_reorder_drafts(principal: PrincipalDep, session: SessionDep) -> list[ReorderDraft]:
    """The buyer's reorder drafts, newest first (made by `draft_reorder` alert actions)."""
    return ReorderDraftRepository(session).for_buyer(_buyer_of(principal))


def _after(engine: Engine, buyer: str, last_event_id: str | None, after_id: int | None) -> int:
    if after_id is not None:
        return after_id
    resume = last_event_id.strip() if last_event_id else ""
    if resume.isdecimal() and int(resume) <= MAX_ROW_ID:
        return int(resume)  # a reconnecting EventSource resumes where it stopped
    with Session(engine) as session:
        return AlertRepository(session).last_id(buyer)


def _newer(engine: Engine, buyer: str, after: int) -> list[Alert]:
    with Session(engine) as session:
        return AlertRepository(session).since(buyer, after)


async def _stream(
    engine: Engine, buyer: str, after: int, poll_s: float, wait_s: float, shutdown: Shutdown
) -> AsyncIterator[str]:
    deadline = time.monotonic() + wait_s
    quiet_since = time.monotonic()
    yield "retry: 3000\n\n"
    # A stopping server ends the stream at once; EventSource resumes elsewhere from its last id.
    while time.monotonic() < deadline and not shutdown.started:
        for alert in await to_thread.run_sync(_newer, engine, buyer, after):
            after = alert.id or after
            quiet_since = time.monotonic()
            data = json.dumps(_shown(alert), ensure_ascii=False)
            yield f"id: {after}\nevent: alert\ndata: {data}\n\n"
        if time.monotonic() - quiet_since >= KEEP_ALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        with anyio.move_on_after(min(poll_s, max(0.0, deadline - time.monotonic()))):
            await shutdown.wait()


@router.get("/alerts/stream")
async def stream_alerts(
    principal: PrincipalDep,
    container: ContainerDep,
    shutdown: ShutdownDep,
    after_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    wait_s: Annotated[float, Query(gt=0, le=3600)] = 300,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """New alerts as they are created (`event: alert`, `id:` the alert id). The stream ends
    after `wait_s`; EventSource reconnects and resumes from Last-Event-ID."""
    buyer = _buyer_of(principal)
    engine = container.engine
    after = await to_thread.run_sync(_after, engine, buyer, last_event_id, after_id)
    poll_s = container.settings.alert_poll_s
    return StreamingResponse(
        _stream(engine, buyer, after, poll_s, wait_s, shutdown), media_type="text/event-stream"
    )


@router.get("/watches")
def list_watches(principal: PrincipalDep, session: SessionDep) -> list[dict[str, Any]]:
    """Products the buyer watches: price, stock and listing changes raise alerts."""
    watches = WatchRepository(session).for_buyer(_buyer_of(principal))
    return [watch.model_dump(mode="json", exclude={"buyer_id"}) for watch in watches]


@router.put("/watches/{product_id}")
def watch_product(
    product_id: IdPath, principal: PrincipalDep, session: SessionDep, response: Response
) -> dict[str, Any]:
    """Watch a product (201 when new, 200 when already watched)."""
    watch, created = WatchRepository(session).add(_buyer_of(principal), product_id)
    session.commit()
    response.status_code = 201 if created else 200
    return watch.model_dump(mode="json", exclude={"buyer_id"})


@router.delete("/watches/{product_id}", status_code=204)
def unwatch_product(product_id: IdPath, principal: PrincipalDep, session: SessionDep) -> Response:
    WatchRepository(session).remove(_buyer_of(principal), product_id)
    session.commit()
    return Response(status_code=204)
