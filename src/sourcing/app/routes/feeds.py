"""Feed ingest while serving: a feed body becomes a durable job the server runs with its index."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from sourcing.app.auth import Principal
from sourcing.app.deps import ContainerDep, RowIdPath, SessionDep, require_roles
from sourcing.app.jobs import FEED_JOB, FeedJob, job_view
from sourcing.domain.errors import BadInputError, ForbiddenError, NotFoundError
from sourcing.domain.kinds import ApiRole, SyncMode
from sourcing.domain.repositories.jobs import JobRepository

router = APIRouter(prefix="/v1", tags=["feeds"])

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
) -> dict[str, Any]:
    """Queue a feed (CSV, JSONL or XLSX body by Content-Type, or JSON `{"rows": [...]}`) for
    the server to sync, index and alert on. A merchant key loads its own supplier's products
    only, as the source `merchant-<supplier id>`; an admin key loads any rows, under `source`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = _SUFFIX_BY_TYPE.get(content_type)
    if suffix is None:
        raise BadInputError(
            f"a feed body is one of {', '.join(sorted(_SUFFIX_BY_TYPE))}, not {content_type!r}"
        )
    only_supplier = None
    if principal.role == ApiRole.MERCHANT:
        if kind != "products":
            raise ForbiddenError("a merchant key loads products only")
        only_supplier, source = principal.subject, f"merchant-{principal.subject}"
    elif source is None:
        raise BadInputError("an admin feed names its source (?source=…)")
    body = await request.body()
    if not body.strip():
        raise BadInputError("the feed body is empty")
    folder = container.settings.data_dir / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(_json_rows_as_lines(body) if content_type == "application/json" else body)
    feed = FeedJob(str(path), "products" if kind == "products" else "suppliers", mode, source,
                   only_supplier)  # fmt: skip
    job = JobRepository(session).submit(FEED_JOB, feed.payload(), submitted_by=principal.caller)
    session.commit()
    return job_view(job) | {"links": {"self": f"/v1/jobs/{job.id}"}}


@router.get("/jobs/{job_id}")
def get_job(job_id: RowIdPath, principal: FeederDep, session: SessionDep) -> dict[str, Any]:
    """A job's status, rows read so far and, once done, its per-row report."""
    job = JobRepository(session).get(job_id)
    if principal.role != ApiRole.ADMIN and job.submitted_by != principal.caller:
        raise NotFoundError(f"no job {job_id}")  # another merchant's job is not disclosed
    return job_view(job)


def _json_rows_as_lines(body: bytes) -> bytes:
    try:
        rows = json.loads(body).get("rows")
    except (ValueError, AttributeError, RecursionError):
        rows = None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise BadInputError('a JSON feed is {"rows": [{...}, ...]}, one object a row')
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
