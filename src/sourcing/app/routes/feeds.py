"""Feeds, order imports and rebuilds while serving: each becomes a durable job the server runs
with its index; its progress and report are read back here."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.app.auth import Principal
from sourcing.app.deps import ContainerDep, RowIdPath, SessionDep, ShutdownDep, require_roles
from sourcing.app.jobs import FEED_JOB, ORDERS_JOB, FeedJob, job_view
from sourcing.app.shutdown import Shutdown
from sourcing.catalog_sync.columns import MAX_MAPPED_COLUMNS, FeedKind, parse_mapping
from sourcing.domain.errors import (
    BadInputError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
)
from sourcing.domain.kinds import ApiRole, JobStatus, SyncMode
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.tables import Job

router = APIRouter(prefix="/v1", tags=["feeds"])
FEEDS_PATH = "/v1/feeds"  # streamed to disk: the body limits give it its own cap
PROGRESS_POLL_S = 0.5

# The body's type names the reader, as a file's extension does for `sourcing sync`.
_SUFFIX_BY_TYPE = {
    "application/json": ".jsonl",  # {"rows": [{…}, …]}, written out one object a line
    "text/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}
FeederDep = Annotated[Principal, Depends(require_roles(ApiRole.ADMIN, ApiRole.MERCHANT))]


@router.post("/feeds", status_code=status.HTTP_202_ACCEPTED)
async def submit_feed(
    request: Request,
    principal: FeederDep,
    session: SessionDep,
    container: ContainerDep,
    kind: Annotated[str, Query(pattern="^(products|suppliers)$")] = "products",
    mode: SyncMode = SyncMode.DELTA,
    source: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[\w.-]+$")] = None,
    column: Annotated[
        list[str],
        Query(alias="map", max_length=MAX_MAPPED_COLUMNS, description="HEADER=COLUMN, saved"),
    ] = [],  # noqa: B006
) -> dict[str, Any]:
    """Queue a feed (CSV, JSONL or XLSX body by Content-Type, or JSON `{"rows": [...]}`) for
    the server to sync, index and alert on. A merchant key loads its own supplier's products
    only, as the source `merchant-<supplier id>`; an admin key loads any rows, under `source`.
    A file is streamed to disk up to `SOURCING_MAX_FEED_BYTES`; JSON rows are a request body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = _SUFFIX_BY_TYPE.get(content_type)
    if suffix is None:
        raise BadInputError(
            f"a feed body is one of {', '.join(sorted(_SUFFIX_BY_TYPE))}, not {content_type!r}"
        )
    feed_kind: FeedKind = "products" if kind == "products" else "suppliers"
    column_map = parse_mapping(column, feed_kind)
    only_supplier = None
    if principal.role == ApiRole.MERCHANT:
        if kind != "products":
            raise ForbiddenError("a merchant key loads products only")
        only_supplier, source = principal.subject, f"merchant-{principal.subject}"
    elif source is None:
        raise BadInputError("an admin feed names its source (?source=…)")
    settings = container.settings
    path = _feed_path(settings.data_dir, suffix)
    try:
        if content_type == "application/json":
            body = await _read_capped(request, settings.max_request_bytes)
            path.write_bytes(_json_rows_as_lines(body))
        else:
            await _stream_to(request, path, settings.max_feed_bytes)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    feed = FeedJob(str(path), feed_kind, mode, source, only_supplier, column_map)
    job = JobRepository(session).submit(FEED_JOB, feed.payload(), submitted_by=principal.caller)
    session.commit()
    return job_view(job) | {"links": {"self": f"/v1/jobs/{job.id}", "events": _events(job.id)}}


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["copurchase", "knowledge", "alerts"] = Field(
        description="copurchase: rebuild from the orders and swap in; knowledge: reload the "
        "knowledge base; alerts: due reorders, festivals, supplier risk and today's snapshots"
    )
    day: date | None = Field(default=None, description="alerts as of this day; default today")


AdminDep = Annotated[Principal, Depends(require_roles(ApiRole.ADMIN))]


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
def submit_job(request: JobRequest, principal: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Queue a rebuild or an alert run for the server; the scheduler queues the daily ones."""
    payload = {"day": request.day.isoformat()} if request.day else {}
    job = JobRepository(session).submit(request.kind, payload, submitted_by=principal.caller)
    session.commit()
    return job_view(job) | {"links": {"self": f"/v1/jobs/{job.id}", "events": _events(job.id)}}


@router.post("/orders/import", status_code=status.HTTP_202_ACCEPTED)
async def import_orders(
    request: Request, principal: AdminDep, session: SessionDep, container: ContainerDep
) -> dict[str, Any]:
    """Queue an order-history CSV (docs/order-history.md) for import; the co-purchase
    statistics are rebuilt from the orders and swapped in when it is done."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise BadInputError(f"order history is a text/csv body, not {content_type!r}")
    path = _feed_path(container.settings.data_dir, ".csv")
    try:
        await _stream_to(request, path, container.settings.max_request_bytes)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    job = JobRepository(session).submit(ORDERS_JOB, {"path": str(path)}, principal.caller)
    session.commit()
    return job_view(job) | {"links": {"self": f"/v1/jobs/{job.id}", "events": _events(job.id)}}


@router.get("/jobs/{job_id}")
def get_job(job_id: RowIdPath, principal: FeederDep, session: SessionDep) -> dict[str, Any]:
    """A job's status, rows read so far and, once done, its per-row report."""
    return job_view(_visible_job(session, principal, job_id))


@router.get("/jobs/{job_id}/events")
async def job_events(
    job_id: RowIdPath,
    principal: FeederDep,
    container: ContainerDep,
    shutdown: ShutdownDep,
    wait_s: Annotated[float, Query(gt=0, le=3600)] = 600,
) -> StreamingResponse:
    """The job's progress as it runs (`event: progress`, status and rows read, on each change),
    then `event: done` with the whole job and its report. The stream ends after `wait_s`, or
    when the server stops; reconnecting starts from the job's present state."""
    engine = container.engine
    await to_thread.run_sync(_visible_job_of, engine, principal, job_id)
    return StreamingResponse(
        _job_stream(engine, job_id, wait_s, shutdown), media_type="text/event-stream"
    )


def _visible_job(session: Session, principal: Principal, job_id: int) -> Job:
    job = JobRepository(session).get(job_id)
    if principal.role != ApiRole.ADMIN and job.submitted_by != principal.caller:
        raise NotFoundError(f"no job {job_id}")  # another merchant's job is not disclosed
    return job


def _visible_job_of(engine: Engine, principal: Principal, job_id: int) -> Job:
    with Session(engine) as session:
        return _visible_job(session, principal, job_id)


def _job_of(engine: Engine, job_id: int) -> Job:
    with Session(engine) as session:
        return JobRepository(session).get(job_id)


async def _job_stream(
    engine: Engine, job_id: int, wait_s: float, shutdown: Shutdown
) -> AsyncIterator[str]:
    deadline = time.monotonic() + wait_s
    shown: tuple[str, int] | None = None
    while time.monotonic() < deadline and not shutdown.started:
        job = await to_thread.run_sync(_job_of, engine, job_id)
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            yield f"event: done\ndata: {json.dumps(job_view(job), ensure_ascii=False)}\n\n"
            return
        if (job.status, job.progress) != shown:
            shown = (job.status, job.progress)
            data = json.dumps({"status": job.status, "progress": job.progress})
            yield f"event: progress\ndata: {data}\n\n"
        with anyio.move_on_after(min(PROGRESS_POLL_S, max(0.0, deadline - time.monotonic()))):
            await shutdown.wait()


def _feed_path(data_dir: Path, suffix: str) -> Path:
    folder = data_dir / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}{suffix}"


def _events(job_id: int | None) -> str:
    return f"/v1/jobs/{job_id}/events"


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLargeError(
                f"a JSON feed body is over {max_bytes} bytes; post a CSV, JSONL or XLSX file",
                max_bytes=max_bytes,
            )
    return bytes(body)


async def _stream_to(request: Request, path: Path, max_bytes: int) -> None:
    """The body written to `path` as it arrives, refused once it passes `max_bytes`."""
    written = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            written += len(chunk)
            if written > max_bytes:
                raise PayloadTooLargeError(
                    f"the feed is over {max_bytes} bytes", max_bytes=max_bytes
                )
            await to_thread.run_sync(out.write, chunk)
    if written == 0 or not path.read_bytes()[:4096].strip():
        raise BadInputError("the feed body is empty")


def _json_rows_as_lines(body: bytes) -> bytes:
    if not body.strip():
        raise BadInputError("the feed body is empty")
    try:
        rows = json.loads(body).get("rows")
    except (ValueError, AttributeError, RecursionError):
        rows = None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise BadInputError('a JSON feed is {"rows": [{...}, ...]}, one object a row')
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
