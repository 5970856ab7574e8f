"""A command's way to a running server: submit a feed as a job and follow its progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from sourcing.app.runtime import RunningServer
from sourcing.catalog_sync.columns import FeedKind
from sourcing.domain.errors import BadInputError, ServiceUnavailableError, UpstreamError
from sourcing.domain.kinds import JobStatus, SyncMode

_CONTENT_TYPE_BY_SUFFIX = {
    ".csv": "text/csv",
    ".jsonl": "application/x-ndjson",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_CHUNK_BYTES = 1 << 20
_FOLLOW_WAIT_S = 300  # one events stream; the client reconnects until the job is done


class ServerClient:
    def __init__(self, server: RunningServer, *, timeout_s: float = 60.0) -> None:
        self.http = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=httpx.Timeout(timeout_s, read=_FOLLOW_WAIT_S + 30),
        )

    def close(self) -> None:
        self.http.close()

    def submit_feed(
        self,
        path: Path,
        *,
        kind: FeedKind,
        mode: SyncMode,
        source: str,
        column_map: Mapping[str, str],
    ) -> int:
        """The id of the job the server queued for the feed at `path` (streamed, not read whole)."""
        content_type = _CONTENT_TYPE_BY_SUFFIX.get(path.suffix.lower())
        if content_type is None:
            raise BadInputError(f"a feed is a .csv, .jsonl or .xlsx file, not {path.name}")
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("kind", kind),
            ("mode", str(mode)),
            ("source", source),
        ]
        params += [("map", f"{header}={column}") for header, column in column_map.items()]
        try:
            answer = self.http.post(
                "/v1/feeds",
                params=params,
                content=_chunks(path),
                headers={"Content-Type": content_type},
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                f"the server at {self.http.base_url} did not answer: {exc}"
            ) from exc
        body = _json(answer)
        return int(body["id"])

    def follow(self, job_id: int, on_progress: Callable[[int], None]) -> dict[str, Any]:
        """The finished job, calling `on_progress` with the rows read as the server reports them."""
        while True:
            try:
                with self.http.stream(
                    "GET", f"/v1/jobs/{job_id}/events", params={"wait_s": _FOLLOW_WAIT_S}
                ) as answer:
                    if answer.status_code != 200:
                        answer.read()
                        _json(answer)
                    for event, data in _events(answer.iter_lines()):
                        if event == "progress":
                            on_progress(int(data["progress"]))
                        elif event == "done":
                            return data
            except httpx.TransportError as exc:
                raise ServiceUnavailableError(
                    f"the server stopped answering about job {job_id} (it finishes the job "
                    f"when it is back; GET /v1/jobs/{job_id} shows it): {exc}"
                ) from exc


def finished_report(job: Mapping[str, Any]) -> dict[str, Any]:
    """A completed job's report; a failed one is the error it failed with."""
    if job["status"] != JobStatus.COMPLETED:
        raise UpstreamError(f"job {job['id']} failed on the server: {job.get('error')}")
    return dict(job["report"])


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as feed:
        while chunk := feed.read(_CHUNK_BYTES):
            yield chunk


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event:
            yield event, json.loads(line.removeprefix("data: "))
            event = ""


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") if isinstance(error, dict) else None
        refused = BadInputError if answer.status_code < 500 else UpstreamError
        raise refused(f"the server refused ({answer.status_code}): {message or answer.text[:300]}")
    return body if isinstance(body, dict) else {}
