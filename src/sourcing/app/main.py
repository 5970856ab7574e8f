"""The FastAPI application factory; the lifespan builds the container once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from sourcing.app.container import Container, build_container
from sourcing.app.deps import RATE_LIMITED
from sourcing.app.errors import install_error_handlers
from sourcing.app.jobs import JobRunner
from sourcing.app.limits import BodySizeLimit, RejectNulBytes
from sourcing.app.observability import Metrics, RequestObservability
from sourcing.app.routes import (
    alerts,
    assortment,
    catalog,
    chat,
    feeds,
    follows,
    health,
    keys,
    metrics,
    openai_compat,
    proactive,
    search,
    widget,
    widget_tokens,
)
from sourcing.app.routes.feeds import FEEDS_PATH
from sourcing.app.runtime import token_hash
from sourcing.app.schedule import ServerSchedule
from sourcing.app.security import install_browser_security
from sourcing.app.settings import Settings
from sourcing.app.shutdown import RefuseWhenStopping, Shutdown
from sourcing.app.subscribers import RebuildFollower


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    operator_token: str | None = None,
) -> FastAPI:
    """An app over `container`, or over one built from `settings` when the app starts;
    `operator_token` (the runtime file's, `app/runtime.py`) is accepted as an admin."""
    resolved = container.settings if container else settings or Settings()
    shutdown = Shutdown(resolved.shutdown_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        app.state.container = container or build_container(resolved)
        app.state.metrics = app.state.container.metrics or Metrics(app.state.container.engine)
        shutdown.attach()
        # A crash between a sync and its re-index leaves the index behind; this repairs it.
        app.state.container.search.indexer.catch_up()
        built: Container = app.state.container
        lease = timedelta(seconds=resolved.job_lease_s)
        runner = JobRunner(built.engine, built.catalog_bus(), built.search.search, lease)
        if resolved.run_jobs:
            runner.start()  # feed ingests submitted to this server, and any left by a kill
        follow = RebuildFollower(built.engine, built.assistant.deps.skills)
        follow.start()
        schedule = ServerSchedule(
            built.engine, resolved.daily_jobs_at, daily=resolved.schedule_jobs, follow=follow
        )
        schedule.start()
        try:
            yield
        finally:
            schedule.stop()
            await asyncio.to_thread(runner.stop)
            if owned:
                await app.state.container.aclose()

    # Swagger UI and ReDoc from the installed package's assets: /docs works offline.
    app = FastAPIOffline(
        title="Sourcing Assistant",
        version="0.1.0",
        summary="AI sourcing assistant for wholesale buyers (找货 · 选货 · 导购 · 补货)",
        lifespan=lifespan,
    )
    app.state.shutdown = shutdown
    app.state.operator_token_hash = token_hash(operator_token) if operator_token else None
    install_error_handlers(app)
    streamed = {FEEDS_PATH: resolved.max_feed_bytes}
    app.add_middleware(RejectNulBytes, streamed=streamed)  # inside the size limit: capped bodies
    app.add_middleware(BodySizeLimit, max_bytes=resolved.max_request_bytes, streamed=streamed)
    app.add_middleware(RefuseWhenStopping, shutdown=shutdown)
    install_browser_security(app, resolved)  # CORS and security headers
    # Added last, so outermost: every answer, a refusal included, is logged and counted.
    app.add_middleware(RequestObservability)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Every /v1 router is rate limited (tests/app/test_ratelimit.py checks the route table).
    # Search before catalog: /products/search beats /products/{id}.
    app.include_router(search.router, dependencies=RATE_LIMITED)
    app.include_router(catalog.router, dependencies=RATE_LIMITED)
    app.include_router(keys.router, dependencies=RATE_LIMITED)
    app.include_router(chat.router, dependencies=RATE_LIMITED)
    app.include_router(openai_compat.router, dependencies=RATE_LIMITED)
    app.include_router(assortment.router, dependencies=RATE_LIMITED)
    app.include_router(alerts.router, dependencies=RATE_LIMITED)
    app.include_router(feeds.router, dependencies=RATE_LIMITED)
    app.include_router(follows.router, dependencies=RATE_LIMITED)
    app.include_router(proactive.router, dependencies=RATE_LIMITED)
    app.include_router(widget_tokens.router, dependencies=RATE_LIMITED)
    app.include_router(widget.router)
    return app
