"""The `sourcing` command line: database, sync, demo marketplace and the API server."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.alerts import run_alert_jobs, scheduled_sources
from sourcing.app.backup_cli import backup_command, index_check_command, restore_command
from sourcing.app.console import MAX_REJECTIONS_SHOWN, console, print_alerts, print_sync
from sourcing.app.container import System
from sourcing.app.eval_cli import bench_app, eval_app
from sourcing.app.main import create_app
from sourcing.app.model_cli import model_app
from sourcing.app.runtime import RunningServer
from sourcing.app.settings import Settings
from sourcing.app.skill_cli import BASKET_COMMANDS, COMMANDS, add_skill_commands
from sourcing.app.sync_cli import sync_command, sync_with_progress, worker_command
from sourcing.catalog_sync.baskets import CoPurchaseReport, build_copurchase
from sourcing.catalog_sync.bus import CatalogChanged
from sourcing.catalog_sync.columns import FeedKind
from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.order_history import import_order_history
from sourcing.catalog_sync.reference import ReferenceReport, load_reference
from sourcing.domain.db import UNAVAILABLE_ERRORS, database_unavailable, migrate
from sourcing.domain.errors import SourcingError
from sourcing.domain.kinds import ApiRole, SyncMode
from sourcing.domain.money import format_cents
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.prompts.loader import Language
from sourcing.retrieval.index import INDEX_UNAVAILABLE_ERRORS, index_unavailable
from sourcing.retrieval.search import SearchRequest, SearchResult

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Sourcing Assistant: AI sourcing for wholesale buyers.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo marketplace.", no_args_is_help=True)
load_app = typer.Typer(help="Load reference data.", no_args_is_help=True)
index_app = typer.Typer(help="The product search index.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(load_app, name="load")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(model_app, name="model")
keys_app = typer.Typer(help="API keys (a secret is shown once, when made).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.command("backup")(backup_command)
app.command("restore")(restore_command)
index_app.command("check")(index_check_command)
app.command("sync")(sync_command)
app.command("worker")(worker_command)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all schema migrations (safe to repeat)."""
    with System(Settings(), run_migrations=False) as system:
        migrate(system.engine)
    console().print(f"schema up to date: {system.settings.resolved_database_url}")


@load_app.command("reference")
def load_reference_command(
    folder: Annotated[Path, typer.Argument(help="folder with buyers.jsonl, orders.jsonl …")],
) -> None:
    """Load buyers, orders, trend signals, festivals and knowledge documents."""
    with System(Settings()) as system:
        _print_reference(load_reference(system.engine, folder))
        system.bus(index=False).publish(CatalogChanged("reference"))


def _print_reference(report: ReferenceReport) -> None:
    out = console()
    for name, count in report.loaded.items():
        out.print(f"{name}: {count} new")
    for row in report.rejected[:MAX_REJECTIONS_SHOWN]:
        out.print(f"rejected {row.file}:{row.line} {row.field}: {row.reason}")


@demo_app.command("build")
def demo_build(
    products: Annotated[int, typer.Option(min=10, max=1_000_000)] = 2000,
    seed: Annotated[int, typer.Option()] = 7,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default today")] = None,
    index: Annotated[bool, typer.Option(help="embed the products into the index")] = True,
) -> None:
    """Generate the demo marketplace as feed files and load it through catalog sync."""
    settings = Settings()
    day = date.fromisoformat(today) if today else date.today()
    manifest = generate_demo(settings.demo_dir, products=products, seed=seed, today=day)
    console().print(f"demo feeds written to {settings.demo_dir} ({manifest.products} products)")
    feeds: list[tuple[Path, FeedKind]] = [
        (manifest.suppliers_path, "suppliers"),
        (manifest.products_path, "products"),
    ]
    with System(settings) as system:
        engine, bus = system.engine, system.bus(index=index, alerts=False)  # alerts: once, below
        for path, kind in feeds:
            result, _ = sync_with_progress(engine, bus, path, kind, SyncMode.SNAPSHOT, None, 1000,
                                           {})  # fmt: skip
            print_sync(result)
        if index and system.search.optimize_if_large(settings.hnsw_min_products):
            console().print("built the HNSW graph of the index")
        _print_reference(load_reference(engine, settings.demo_dir))
        _print_copurchase(build_copurchase(engine))
        print_alerts(run_alert_jobs(engine, None, scheduled_sources(today=day)))
        # Keys for trying the API by hand; the demo page signs in with short-lived widget tokens.
        _create_key(engine, ApiRole.BUYER, settings.demo_buyer)
        _create_key(engine, ApiRole.ADMIN, "")


@keys_app.command("create")
def keys_create(
    role: Annotated[ApiRole, typer.Option(help="buyer, merchant, admin or evaluator")],
    subject: Annotated[str, typer.Option(help="buyer id or supplier id; none for others")] = "",
) -> None:
    """Create an API key and print its secret, which is never shown again."""
    with System(Settings()) as system:
        _create_key(system.engine, role, subject)


def _create_key(engine: Engine, role: ApiRole, subject: str) -> str:
    with Session(engine, expire_on_commit=False) as session:
        key, secret = ApiKeyRepository(session).create(role, subject)
        session.commit()
    owner = f" for {key.subject}" if key.subject else ""
    out = console()
    out.print(f"new {key.role} key {key.id}{owner}; its secret, shown only now:")
    out.print(secret, markup=False)
    return secret


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (prefixes only; secrets are not kept)."""
    with System(Settings()) as system, Session(system.engine) as session:
        keys = ApiKeyRepository(session).list()
    table = Table()
    for name in ("id", "role", "subject", "prefix", "created", "revoked"):
        table.add_column(name)
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-"
        table.add_row(
            str(key.id), key.role, key.subject or "-", key.prefix,
            f"{key.created_at:%Y-%m-%d %H:%M}", revoked,
        )  # fmt: skip
    console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="see keys list")]) -> None:
    """Revoke an API key; it stops working at once."""
    with System(Settings()) as system, Session(system.engine) as session:
        ApiKeyRepository(session).revoke(key_id)
        session.commit()
    console().print(f"revoked key {key_id}")


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Drop the index and embed every searchable product again (after a change of embedder)."""
    with System(Settings(), recreate_index=True) as system:
        search = system.search
        report = search.indexer.catch_up()
        search.optimize_if_large(system.settings.hnsw_min_products)
    console().print(
        f"indexed {report.embedded} products with {search.embedder.name} in "
        f"{report.seconds:.1f} s ({report.products_per_second:,.0f}/s)"
    )


@index_app.command("catch-up")
def index_catch_up() -> None:
    """Embed products that are missing or stale in the index and drop the ones that left."""
    with System(Settings()) as system:
        report = system.search.indexer.catch_up()
        system.search.optimize_if_large(system.settings.hnsw_min_products)
    console().print(f"re-embedded {report.embedded}, removed {report.removed}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="e.g. 义乌 硅胶折叠水杯 5元以内")],
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
    quantity: Annotated[int | None, typer.Option(min=1)] = None,
    language: Annotated[str, typer.Option(help="zh or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="print the full JSON result")] = False,
) -> None:
    """Search the catalog the way the API does."""
    with System(Settings()) as system:
        result = system.search.search.search(
            SearchRequest(
                query=query, limit=limit, quantity=quantity,
                language="en" if language == "en" else "zh",
            )
        )  # fmt: skip
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print_search(result)


def _print_search(result: SearchResult) -> None:
    out = console()
    constraints = result.constraints.model_dump(exclude_defaults=True)
    out.print(f"semantic: {result.semantic_text}  constraints: {constraints or '-'}")
    table = Table()
    for name in ("#", "product", "title", "price", "moq", "supplier", "why"):
        table.add_column(name)
    for rank, hit in enumerate(result.hits, start=1):
        price = format_cents(hit.unit_price_cents) if hit.unit_price_cents is not None else "面议"
        supplier = hit.supplier.name if hit.supplier else "-"
        table.add_row(
            str(rank), hit.product_id, hit.title, price, f"{hit.moq}{hit.unit}", supplier,
            " | ".join(hit.why),
        )  # fmt: skip
    out.print(table)
    for relaxation in result.relaxations:
        out.print(f"no match; dropping {relaxation.constraint} gives {relaxation.would_return}")
    out.print(f"timings (ms): {result.timings_ms}")


copurchase_app = typer.Typer(help="Co-purchase statistics (what is bought together).")
app.add_typer(copurchase_app, name="copurchase")
basket_app = typer.Typer(help="Baskets: what goes with what.", no_args_is_help=True)
app.add_typer(basket_app, name="basket")
add_skill_commands(app, COMMANDS)
add_skill_commands(basket_app, BASKET_COMMANDS)


def _print_copurchase(report: CoPurchaseReport) -> None:
    out = console()
    out.print(
        f"co-purchase: {report.basket_count} baskets ({report.order_baskets} from orders,"
        f" {report.file_baskets} from the file), {report.products} products,"
        f" {report.product_pairs} product rules, {report.category_pairs} category rules"
    )
    for problem in report.problems[:MAX_REJECTIONS_SHOWN]:
        out.print(f"  skipped {problem.file}:{problem.line} {problem.reason}", markup=False)


@copurchase_app.command("build")
def copurchase_build(
    baskets: Annotated[
        Path | None, typer.Option(help="a basket file or order-lines CSV (docs/baskets.md)")
    ] = None,
    orders: Annotated[bool, typer.Option(help="count the stored orders' baskets too")] = True,
    min_pairs: Annotated[int, typer.Option(min=1, help="baskets a pair needs to count")] = 2,
) -> None:
    """Recompute what is bought together, from orders and/or a basket file; a running server
    picks it up with its next co-purchase job (POST /v1/jobs {"kind": "copurchase"})."""
    with System(Settings()) as system:
        report = build_copurchase(
            system.engine, basket_file=baskets, use_orders=orders, min_pair_count=min_pairs
        )
    _print_copurchase(report)


orders_app = typer.Typer(help="Order history.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")


alerts_app = typer.Typer(help="The proactive alert feed.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("run")
def alerts_run(
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default today")] = None,
    language: Annotated[str, typer.Option(help="zh or en")] = "zh",
) -> None:
    """Turn source changes, due reorders and near festivals into alerts (safe to repeat)."""
    lang: Language = "en" if language == "en" else "zh"
    day = date.fromisoformat(today) if today else None
    with System(Settings()) as system:
        sources = scheduled_sources(today=day, language=lang)
        report = run_alert_jobs(system.engine, system.search.search, sources, language=lang)
    print_alerts(report)


@orders_app.command("import")
def orders_import(
    path: Annotated[Path, typer.Argument(help="CSV: buyer, sku or product, date, quantity, price")],
) -> None:
    """Import order history (docs/order-history.md); re-importing the same file adds nothing."""
    with System(Settings()) as system:
        report = import_order_history(system.engine, path)
        rebuilt = system.bus(index=False).publish(CatalogChanged("orders"))
    out = console()
    out.print(
        f"{report.rows} rows: {report.imported_rows} imported into {report.orders_added} new"
        f" orders, {report.orders_already_present} orders already present,"
        f" {len(report.rejected)} rejected"
    )
    for row in report.rejected[:MAX_REJECTIONS_SHOWN]:
        out.print(f"  rejected {row.file}:{row.line} {row.field}: {row.reason}", markup=False)
    if isinstance(copurchase := rebuilt.get("copurchase"), CoPurchaseReport):
        _print_copurchase(copurchase)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the API (OpenAPI page at /docs); SIGTERM or Ctrl-C stops it gracefully."""
    import uvicorn

    from sourcing.app.observability import configure_logging
    from sourcing.app.shutdown import GracefulServer

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    bind_host, bind_port = host or settings.host, port or settings.port
    console().print(f"serving on http://{bind_host}:{bind_port}  (API docs: /docs)")
    announced = RunningServer.announce(settings.data_dir, bind_host, bind_port)
    api = create_app(settings, operator_token=announced.token)
    config = uvicorn.Config(
        api,
        host=bind_host,
        port=bind_port,
        log_level=settings.log_level,
        log_config=None,  # configure_logging's JSON or console lines, uvicorn's included
        access_log=False,  # the app logs one access line per request, with its request id
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    server = GracefulServer(config, api.state.shutdown)
    try:
        server.run()
    finally:
        announced.withdraw(settings.data_dir)
    if not server.started:
        # The start-up failed (an index another process holds, a database that is gone):
        # uvicorn logged why; the exit status (uvicorn's own for this) says so too.
        raise SystemExit(3)


def main(argv: list[str] | None = None) -> None:
    """Entry point; a SourcingError (a locked or unreachable database or index included) ends
    the command with its message and exit status 2."""
    try:
        try:
            app(args=argv)
        except UNAVAILABLE_ERRORS as exc:
            raise database_unavailable(exc) from exc
        except INDEX_UNAVAILABLE_ERRORS as exc:
            raise index_unavailable(exc) from exc
    except SourcingError as exc:
        console(stderr=True).print(f"[red]error:[/red] {exc.message}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
