"""The `sourcing backup`, `sourcing restore` and `sourcing index check` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sourcing.app.backup import read_manifest, restore_backup, write_backup
from sourcing.app.console import console
from sourcing.app.container import System, open_stored_index
from sourcing.app.settings import Settings
from sourcing.retrieval.index import IndexBusyError, ProductIndex
from sourcing.retrieval.indexer import IndexDrift

IDS_SHOWN = 10


def _index_for_backup(settings: Settings) -> ProductIndex | None:
    try:
        return open_stored_index(settings)
    except IndexBusyError as exc:
        raise IndexBusyError(
            f"the embedded index at {settings.index_path} is held by another process, most "
            "likely a running `sourcing serve` (the embedded store allows one process): stop the "
            "server to back up the index, or run `sourcing backup OUT --no-index` now (the "
            "database alone is consistent while the server runs; restore re-embeds it)"
        ) from exc


def backup_command(
    out: Annotated[Path, typer.Argument(help="a new or empty folder")],
    index: Annotated[bool, typer.Option(help="also export the search index's points")] = True,
) -> None:
    """Back up the database (every table, portable between SQLite and PostgreSQL) and the index."""
    with System(Settings(), run_migrations=False) as system:
        product_index = _index_for_backup(system.settings) if index else None
        try:
            manifest = write_backup(system.engine, product_index, out)
        finally:
            if product_index is not None:
                product_index.close()
    rows = sum(entry.rows for entry in manifest.tables)
    shown = console()
    shown.print(
        f"backed up {rows:,} rows in {len(manifest.tables)} tables (schema revision "
        f"{manifest.revision}, {manifest.database}) to {out}"
    )
    if manifest.index is not None:
        meta = manifest.index.meta
        shown.print(f"index: {manifest.index.rows:,} points ({meta.embedder}, {meta.dim}-dim)")
    else:
        shown.print("index: not included; restore will embed the products again")


def restore_command(
    source: Annotated[Path, typer.Argument(help="a folder written by `sourcing backup`")],
    force: Annotated[bool, typer.Option(help="replace a database or index that has data")] = False,
    index: Annotated[bool, typer.Option(help="restore (or re-embed) the search index")] = True,
) -> None:
    """Restore a backup into an empty database (one transaction) and index, then catch up."""
    manifest = read_manifest(source)  # refuse a damaged backup before touching anything
    with System(Settings(), recreate_index=force) as system:
        engine, search = system.engine, system.search if index else None
        report = restore_backup(
            engine, source, search.index if search else None, force=force, manifest=manifest
        )
        caught = search.indexer.catch_up() if search else None
        if search is not None:
            search.optimize_if_large(system.settings.hnsw_min_products)
    out = console()
    out.print(
        f"restored {sum(report.rows.values()):,} rows in {len(report.rows)} tables into "
        f"{engine.url.render_as_string(hide_password=True)} in {report.seconds:.1f} s"
    )
    if caught is not None:
        out.print(
            f"index: {report.points:,} points restored; catch-up re-embedded {caught.embedded}, "
            f"removed {caught.removed}"
        )


def _print_drift(console: Console, drift: IndexDrift) -> None:
    for label, ids in (
        ("missing (in the catalog, not in the index)", drift.missing),
        ("stale (indexed at an older listing version)", drift.stale),
        ("orphaned (indexed, product gone or delisted)", drift.orphaned),
    ):
        shown = ", ".join(ids[:IDS_SHOWN]) + (" …" if len(ids) > IDS_SHOWN else "")
        console.print(f"{label}: {len(ids)}" + (f"  {shown}" if ids else ""))


def index_check_command(
    repair: Annotated[bool, typer.Option(help="re-embed and remove until there is none")] = False,
) -> None:
    """Compare the index with the catalog; exit 1 when they drifted apart and were not repaired."""
    out = console()
    with System(Settings()) as system:
        indexer = system.search.indexer
        drift = indexer.drift()
        _print_drift(out, drift)
        if drift.total and repair:
            fixed = indexer.repair(drift)
            drift = indexer.drift()
            out.print(f"repaired: re-embedded {fixed.embedded}, removed {fixed.removed}")
    if drift.total:
        out.print(f"drift: {drift.total} products; run `sourcing index check --repair`")
        raise typer.Exit(1)
    out.print("no drift: the index matches the catalog")
