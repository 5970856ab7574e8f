"""Alert jobs: turn source changes and other skills' findings into deduplicated buyer alerts."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.discover_opportunities import (
    DiscoverOpportunitiesInput,
    discover_opportunities,
)
from sourcing.agents.skills.plan_replenishment import PlanReplenishmentInput, plan_replenishment
from sourcing.agents.skills.watch_sources import (
    DEFAULT_WINDOW,
    AlternativeCache,
    SourceChange,
    WatchContext,
    changes_for,
    load_context,
    load_sources,
    watch_vocabulary,
    with_alternatives,
)
from sourcing.domain.db import transaction
from sourcing.domain.kinds import AlertSeverity
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository, SourceRepository
from sourcing.domain.types import utcnow
from sourcing.prompts.loader import Language
from sourcing.retrieval.search import ProductSearch

__all__ = [
    "AlertDraft",
    "AlertRunReport",
    "AlertSource",
    "action_for",
    "draft_of",
    "run_alert_jobs",
    "watch_alerts",
]

AlertSource = Callable[[Engine], list[AlertDraft]]

logger = logging.getLogger(__name__)


class AlertRunReport(BaseModel):
    created: int
    skipped_duplicates: int
    by_kind: dict[str, int]  # alerts created, per kind
    alert_ids: list[int]  # the new alerts, oldest first
    snapshots: int  # supplier snapshots recorded (one per supplier and day)
    failed_sources: list[str] = []  # extra sources that raised; the others still ran


def action_for(change: SourceChange) -> dict[str, Any]:
    """The one-click action of an alert: what the buyer most likely wants to do next."""
    alternative_ids = [card.id for card in change.alternatives]
    if change.kind == "supplier_risk":
        return {
            "type": "show_alternatives",
            "supplier_id": change.supplier_id,
            "supplier_ids": alternative_ids,
        }
    if change.failing:
        return {
            "type": "show_alternatives",
            "product_id": change.product_id,
            "product_ids": alternative_ids,
        }
    if change.kind in ("price_down", "back_in_stock") and "bought" in change.relations:
        return {"type": "draft_reorder", "product_id": change.product_id, "sku_ids": change.sku_ids}
    if change.kind == "new_arrival" and len(change.product_ids) > 1:
        return {
            "type": "open_supplier",
            "supplier_id": change.supplier_id,
            "product_ids": change.product_ids,
        }
    return {"type": "open_product", "product_id": change.product_id}


def draft_of(buyer_id: str, change: SourceChange) -> AlertDraft:
    return AlertDraft(
        buyer_id=buyer_id,
        kind=change.kind,
        severity=change.severity,
        title=change.message,
        dedup_key=change.dedup_key,
        payload=change.model_dump(mode="json", exclude={"message"}),
        action=action_for(change),
        product_id=change.product_id,
        supplier_id=change.supplier_id,
        source_event_id=change.event_id,
    )


def _watch(
    engine: Engine,
    search: ProductSearch | None,
    *,
    since: datetime | None,
    since_event_id: int | None,
    sync_run_id: int | None,
    now: datetime,
    language: Language,
) -> tuple[list[AlertDraft], WatchContext]:
    if since is None and since_event_id is None and sync_run_id is None:
        since = now - DEFAULT_WINDOW
    with Session(engine) as session:
        sources = load_sources(session)
        context = load_context(
            session,
            sources.values(),
            now=now,
            since=since,
            after_event_id=since_event_id,
            sync_run_id=sync_run_id,
        )
    cached: AlternativeCache = {}
    drafts = []
    for buyer_id, buyer_sources in sources.items():
        changes = changes_for(buyer_sources, context, language)
        for change in with_alternatives(engine, search, changes, language, cached):
            drafts.append(draft_of(buyer_id, change))
    return drafts, context


def watch_alerts(
    engine: Engine,
    search: ProductSearch | None,
    *,
    since: datetime | None = None,
    since_event_id: int | None = None,
    sync_run_id: int | None = None,
    now: datetime | None = None,
    language: Language = "zh",
) -> list[AlertDraft]:
    """Drafts for every buyer from the catalog events after `since_event_id`, of `sync_run_id`
    or since `since` (default: the last 7 days), plus supplier risk against the last snapshot."""
    drafts, _ = _watch(
        engine,
        search,
        since=since,
        since_event_id=since_event_id,
        sync_run_id=sync_run_id,
        now=now or utcnow(),
        language=language,
    )
    return drafts


def _extra_drafts(
    engine: Engine, sources: Sequence[AlertSource]
) -> tuple[list[AlertDraft], list[str]]:
    drafts: list[AlertDraft] = []
    failed: list[str] = []
    for source in sources:
        name = getattr(source, "__name__", repr(source))
        try:
            drafts.extend(source(engine))
        except Exception:
            # One broken source must not cost buyers the alerts of the others; the report says.
            logger.exception("alert source %s failed", name)
            failed.append(name)
    return drafts, failed


def run_alert_jobs(
    engine: Engine,
    search: ProductSearch | None,
    sources: Sequence[AlertSource] = (),
    *,
    since: datetime | None = None,
    since_event_id: int | None = None,
    sync_run_id: int | None = None,
    now: datetime | None = None,
    language: Language = "zh",
) -> AlertRunReport:
    """Runs the watch source and `sources`, stores the new alerts and today's supplier
    snapshots in one transaction; a rerun creates no duplicates."""
    drafts, context = _watch(
        engine,
        search,
        since=since,
        since_event_id=since_event_id,
        sync_run_id=sync_run_id,
        now=now or utcnow(),
        language=language,
    )
    extra, failed = _extra_drafts(engine, sources)
    drafts += extra
    with transaction(engine) as session:
        created = AlertRepository(session).add_many(drafts)
        snapshots = SourceRepository(session).add_snapshots(context.snapshots)
        alert_ids = [alert.id for alert in created if alert.id is not None]
        by_kind = dict(sorted(Counter(alert.kind for alert in created).items()))
    return AlertRunReport(
        created=len(created),
        skipped_duplicates=len(drafts) - len(created),
        by_kind=by_kind,
        alert_ids=alert_ids,
        snapshots=snapshots,
        failed_sources=failed,
    )


def _message(language: Language, key: str, **values: object) -> str:
    return watch_vocabulary().messages[language][key].format(**values)


def replenishment_alerts(
    engine: Engine, *, today: date | None = None, language: Language = "zh"
) -> list[AlertDraft]:
    """A reorder alert for each line that runs out within its lead time.

    Lines merely below their reorder point are in the plan, not the alert feed: with lumpy
    demand most lines sit there, and an alert for each would drown the urgent ones.
    """
    with Session(engine) as session:
        buyers = SourceRepository(session).buyer_ids()
    drafts = []
    for buyer_id in buyers:
        plan = plan_replenishment(
            engine, PlanReplenishmentInput(buyer_id=buyer_id, today=today, language=language)
        )
        week = plan.today.isocalendar()
        for line in plan.lines:
            cover = line.days_of_cover
            if not line.reorder_now or cover is None or cover > line.lead_time_days:
                continue
            drafts.append(
                AlertDraft(
                    buyer_id=buyer_id,
                    kind="reorder",
                    severity=AlertSeverity.CRITICAL if cover <= 0 else AlertSeverity.WARNING,
                    title=_message(
                        language,
                        "reorder",
                        product=line.title,
                        days=max(0, round(cover)),
                        quantity=line.order_quantity,
                        unit=line.unit,
                    ),
                    # One a week per line: a reminder, not a new alert every run.
                    dedup_key=f"reorder:{line.product_id}:{line.sku_id or ''}:{week[0]}w{week[1]}",
                    payload=line.model_dump(mode="json"),
                    action={
                        "type": "draft_reorder",
                        "product_id": line.product_id,
                        "sku_ids": [line.sku_id] if line.sku_id else [],
                        "quantity": line.order_quantity,
                    },
                    product_id=line.product_id,
                    supplier_id=line.supplier_id,
                )
            )
    return drafts


def festival_alerts(
    engine: Engine,
    *,
    today: date | None = None,
    within_days: int = 14,
    language: Language = "zh",
) -> list[AlertDraft]:
    """For each buyer, festivals in their categories whose order-by day is near."""
    with Session(engine) as session:
        buyers = SourceRepository(session).buyer_ids()
    drafts = []
    for buyer_id in buyers:
        found = discover_opportunities(
            engine,
            None,
            DiscoverOpportunitiesInput(
                buyer_id=buyer_id,
                today=today,
                horizon_days=within_days,
                with_supply=False,
                kinds=("festival",),
                language=language,
            ),
        )
        for item in found.opportunities:
            if item.festival is None or item.stock_by is None:
                continue
            drafts.append(
                AlertDraft(
                    buyer_id=buyer_id,
                    kind="festival",
                    title=_message(
                        language,
                        "festival",
                        festival=item.festival,
                        day=item.festival_day,
                        category=item.category,
                        stock_by=item.stock_by,
                    ),
                    dedup_key=f"festival:{item.festival}:{item.festival_day}:{item.category}",
                    payload=item.model_dump(mode="json"),
                    action={"type": "open_opportunities", "category": item.category},
                )
            )
    return drafts


def scheduled_sources(*, today: date | None = None, language: Language = "zh") -> list[AlertSource]:
    """What `sourcing alerts run` adds to the watch source: reorders and festivals."""
    return [
        partial(replenishment_alerts, today=today, language=language),
        partial(festival_alerts, today=today, language=language),
    ]
