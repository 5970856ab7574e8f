"""What the commands print: one console, and the reports more than one command shows."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sourcing.agents.alerts import AlertRunReport
from sourcing.catalog_sync.sync import SyncReport

MAX_REJECTIONS_SHOWN = 20


def console(*, stderr: bool = False) -> Console:
    # soft_wrap keeps each message on one line, so logs and grep see whole lines.
    return Console(highlight=False, soft_wrap=True, stderr=stderr)


def print_sync(result: SyncReport) -> None:
    out = console()
    table = Table(title=f"sync run {result.run_id}: {result.kind} from {result.source}")
    columns = ("rows", "added", "updated", "unchanged", "delisted", "rejected", "indexed", "rows/s")
    for name in columns:
        table.add_column(name, justify="right")
    table.add_row(
        str(result.rows_read),
        str(result.added),
        str(result.updated),
        str(result.unchanged),
        str(result.delisted),
        str(result.rejected_rows),
        str(result.indexed),
        f"{result.rows_per_second:,.0f}",
    )
    out.print(table)
    if result.events_by_kind:
        events = ", ".join(f"{kind} {n}" for kind, n in result.events_by_kind.items())
        out.print(f"events: {events}")
    if result.read_as:
        read = ", ".join(f"{header} → {column}" for header, column in result.read_as.items())
        out.print(f"columns read as: {read}")
    if result.unknown_columns:
        out.print(f"ignored unknown columns: {', '.join(result.unknown_columns)}")
    for row in result.rejected[:MAX_REJECTIONS_SHOWN]:
        out.print(f"rejected {row.file}:{row.line} id={row.id or '?'} {row.field}: {row.reason}")
    hidden = len(result.rejected) - MAX_REJECTIONS_SHOWN
    if hidden > 0:
        out.print(f"… and {hidden} more rejections (use --report FILE for all)")


def print_alerts(report: AlertRunReport) -> None:
    kinds = ", ".join(f"{kind} {count}" for kind, count in report.by_kind.items()) or "none"
    console().print(
        f"alerts: {report.created} new ({kinds}), {report.skipped_duplicates} already raised"
        + (f"; failed sources: {', '.join(report.failed_sources)}" if report.failed_sources else "")
    )
