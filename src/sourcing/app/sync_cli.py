"""`sourcing sync` (handed to a running server, or run in this process) and `sourcing worker`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine

from sourcing.agents.alerts import AlertRunReport
from sourcing.app.console import console, print_alerts, print_sync
from sourcing.app.container import System
from sourcing.app.jobs import JobRunner, apply_feed
from sourcing.app.runtime import RunningServer
from sourcing.app.server_client import ServerClient, finished_report
from sourcing.app.settings import Settings
from sourcing.catalog_sync.bus import CatalogBus
from sourcing.catalog_sync.columns import FeedKind, parse_mapping
from sourcing.catalog_sync.feeds import count_rows
from sourcing.catalog_sync.sync import SyncReport
from sourcing.domain.errors import BadInputError
from sourcing.domain.kinds import SyncMode


def sync_command(
    path: Annotated[Path, typer.Argument(help="CSV, JSONL or XLSX feed (see docs/feeds.md)")],
    kind: Annotated[str, typer.Option(help="products or suppliers")] = "products",
    mode: Annotated[SyncMode, typer.Option(help="snapshot delists absent rows")] = (
        SyncMode.SNAPSHOT
    ),
    source: Annotated[str | None, typer.Option(help="feed source; default: file name")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    report: Annotated[Path | None, typer.Option(help="write the full JSON report here")] = None,
    index: Annotated[bool, typer.Option(help="re-embed changed products into the index")] = True,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="HEADER=COLUMN: read the feed's own header as a column (货号=id); saved for "
            "the source's later feeds (repeatable)",
        ),
    ] = None,
) -> None:
    """Validate a feed and bring the catalog (and the search index) in line with it. With a
    `sourcing serve` running on this data, the feed goes to it as a job and this follows it."""
    if kind not in ("products", "suppliers"):
        raise typer.BadParameter("must be products or suppliers", param_hint="--kind")
    feed_kind: FeedKind = "products" if kind == "products" else "suppliers"
    try:
        column_map = parse_mapping(column or [], feed_kind)
    except BadInputError as exc:
        raise typer.BadParameter(exc.message, param_hint="--map") from None
    settings = Settings()
    # A missing file is reported by the feed reader, in this process, as always.
    server = RunningServer.find(settings.data_dir) if index and path.is_file() else None
    if server is not None:
        console().print(f"handing the feed to the server at {server.url}")
        result, alerts = _sync_on_server(server, path, feed_kind, mode, source, column_map)
    else:
        result, alerts = _sync_here(settings, path, feed_kind, mode, source, batch_size, index,
                                    column_map)  # fmt: skip
    print_sync(result)
    if alerts is not None:
        print_alerts(alerts)
    if report is not None:
        report.write_text(result.model_dump_json(indent=2), encoding="utf-8")


def _sync_here(
    settings: Settings,
    path: Path,
    kind: FeedKind,
    mode: SyncMode,
    source: str | None,
    batch_size: int,
    index: bool,
    column_map: dict[str, str],
) -> tuple[SyncReport, AlertRunReport | None]:
    with System(settings) as system:
        outcome = sync_with_progress(system.engine, system.bus(index=index), path, kind, mode,
                                     source, batch_size, column_map)  # fmt: skip
        if index:
            system.search.optimize_if_large(settings.hnsw_min_products)
    return outcome


def _sync_on_server(
    server: RunningServer,
    path: Path,
    kind: FeedKind,
    mode: SyncMode,
    source: str | None,
    column_map: dict[str, str],
) -> tuple[SyncReport, AlertRunReport | None]:
    client = ServerClient(server)
    try:
        job_id = client.submit_feed(
            path, kind=kind, mode=mode, source=source or path.stem, column_map=column_map
        )
        with _progress(f"job {job_id}: sync {path.name}", path) as (progress, task):
            job = client.follow(job_id, lambda rows: progress.update(task, completed=rows))
    finally:
        client.close()
    done = finished_report(job)
    alerts = done.get("alerts")
    return SyncReport.model_validate(done["sync"]), (
        None if alerts is None else AlertRunReport.model_validate(alerts)
    )


@contextmanager
def _progress(description: str, path: Path) -> Iterator[tuple[Progress, TaskID]]:
    """A transient progress bar over the feed's rows."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console(), transient=True) as bar:
        yield bar, bar.add_task(description, total=count_rows(path) if path.is_file() else None)


def sync_with_progress(
    engine: Engine,
    bus: CatalogBus,
    path: Path,
    kind: FeedKind,
    mode: SyncMode,
    source: str | None,
    batch: int,
    column_map: dict[str, str],
) -> tuple[SyncReport, AlertRunReport | None]:
    with _progress(f"sync {path.name}", path) as (progress, task):
        return apply_feed(
            engine,
            bus,
            path,
            kind=kind,
            mode=mode,
            source=source,
            batch_size=batch,
            progress=lambda done: progress.update(task, completed=done),
            column_map=column_map,
        )


def worker_command() -> None:
    """Run submitted jobs (feed ingests) for servers started with SOURCING_RUN_JOBS=false, until
    SIGTERM or Ctrl-C. A killed worker's job is taken up again once its lease runs out. The
    embedded index is one process's: a worker serves replicas over a Qdrant server."""
    settings = Settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with System(settings) as system:
        search = system.search.search
        lease = timedelta(seconds=settings.job_lease_s)
        runner = JobRunner(system.engine, system.bus(), search, lease)
        console().print(f"worker running jobs from {settings.resolved_database_url}")
        runner.start()
        try:
            stop.wait()
        finally:
            runner.stop()
