"""智能货源管理 (watch_sources): what changed about a buyer's sources, with 换供 alternatives.

A buyer's sources are the products they bought (order lines) or watch, and the suppliers they
follow or buy from. Severity rules, one per change:

- delisted: critical when bought, warning when only watched;
- stock_out of the whole product: critical when bought, else warning; of some SKUs: warning when
  bought, else info;
- price_up by more than 10 %: warning, else info; price_down: info;
- sku_removed: warning when bought, else info; sku_added, back_in_stock, relisted: info;
- new_arrival from a followed supplier (私域看上新): info; a feed's first sync is its import, so
  its additions are not new arrivals;
- supplier_risk: critical when the shop is suspended, has nothing in stock, its quality-refund rate
  crosses the alarm line, or its integrity score falls by 15 or more or below 60; warning for a
  smaller integrity drop or a rising quality-refund rate (both against the last daily snapshot).

Failing sources (delisted, whole-product stock-out, supplier risk) come with alternatives:
substitutes from other suppliers (needs a ProductSearch) or similar suppliers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
from sourcing.agents.skills.similar_assortment import (
    SimilarProductsInput,
    SimilarSuppliersInput,
    similar_products,
    similar_suppliers,
)
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import AlertSeverity, CatalogEventKind, SupplierStatus
from sourcing.domain.money import format_cents
from sourcing.domain.repositories.alerts import SourceRepository
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.tables import CatalogEvent, Product, Supplier, SupplierSnapshot
from sourcing.domain.types import utcnow
from sourcing.prompts.loader import Language
from sourcing.retrieval.ranking import QUALITY_REFUND_ALARM
from sourcing.retrieval.search import ProductSearch

ChangeKind = Literal[
    "price_up",
    "price_down",
    "sku_added",
    "sku_removed",
    "stock_out",
    "back_in_stock",
    "delisted",
    "relisted",
    "new_arrival",
    "supplier_risk",
]
Relation = Literal["bought", "watched", "followed"]
Listing = tuple[Product, Supplier | None]

DEFAULT_WINDOW = timedelta(days=7)
PRICE_RISE_WARNING = 10.0  # percent
INTEGRITY_DROP = 5  # points below the last snapshot that count as a drop
INTEGRITY_DROP_CRITICAL = 15
INTEGRITY_FLOOR = 60  # below this an integrity drop is critical
REFUND_RISE = 0.01  # share of orders: one percentage point up counts as rising
ALTERNATIVES = 3
NEW_ARRIVAL_TITLES = 3
NEW_ARRIVAL_IDS = 20
FAILING = frozenset({"delisted", "supplier_risk"})
_SEVERITY_RANK = {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}


class _WatchVocabulary(BaseModel):
    messages: dict[str, dict[str, str]]
    reasons: dict[str, dict[str, str]]
    switch: dict[str, str]
    separator: dict[str, str]
    summary: dict[str, str]
    nothing: dict[str, str]


@cache
def watch_vocabulary() -> _WatchVocabulary:
    raw = resources.files("sourcing.agents").joinpath("data/watch.json").read_text("utf-8")
    return _WatchVocabulary.model_validate(json.loads(raw))


class WatchSourcesInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    buyer_id: Annotated[str, SERVICE] = Field(min_length=1, max_length=64)
    since_days: int = Field(default=7, ge=1, le=90, description="look this many days back")
    since: Annotated[datetime | None, SERVICE] = Field(
        default=None, description="instead of since_days: changes after this time"
    )
    language: Annotated[Language, SERVICE] = "zh"

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A naive time from a query string is read as UTC rather than refused.
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class AlternativeCard(BaseModel):
    """A product of another supplier, or another supplier, to switch to (换供)."""

    kind: Literal["product", "supplier"]
    id: str
    title: str
    supplier_id: str | None = None
    supplier_name: str | None = None
    unit_price_cents: int | None = None
    price_difference_cents: int | None = None  # negative is cheaper than the original
    why: list[str] = []


class SourceChange(BaseModel):
    kind: ChangeKind
    severity: AlertSeverity
    relations: list[Relation]  # why the buyer cares: bought, watched, followed
    product_id: str | None = None
    product_title: str | None = None
    supplier_id: str | None = None
    supplier_name: str | None = None
    sku_ids: list[str] = []
    product_ids: list[str] = []  # new arrivals
    old_value: str | None = None  # as shown: "¥12.50", "92", "1.5%"
    new_value: str | None = None
    change_percent: float | None = None  # signed, price changes only
    reasons: list[str] = []  # supplier risk codes: suspended, integrity_drop, refund_rise, …
    sync_run_id: int | None = None
    event_id: int | None = None  # the first catalog event behind the change
    day: date | None = None  # supplier risk: the snapshot day it was seen
    at: datetime
    message: str
    alternatives: list[AlternativeCard] = []

    @property
    def dedup_key(self) -> str:
        """The same change seen twice gets the same key (one sync run, one day of risk)."""
        if self.kind == "supplier_risk":
            return f"supplier_risk:{self.supplier_id}:{'+'.join(self.reasons)}:{self.day}"
        if self.kind == "new_arrival":
            return f"new_arrival:{self.supplier_id}:run{self.sync_run_id}"
        return f"{self.kind}:{self.product_id}:run{self.sync_run_id}"

    @property
    def failing(self) -> bool:
        """A source the buyer may have to replace."""
        whole_stock_out = self.kind == "stock_out" and not self.sku_ids
        return self.kind in FAILING or whole_stock_out


class WatchReport(BaseModel):
    buyer_id: str
    since: datetime
    watched: int
    bought: int
    followed: int
    changes: list[SourceChange]  # most severe first, then newest
    text: str


@dataclass(frozen=True)
class BuyerSources:
    """What one buyer sources: bought and watched products, followed suppliers."""

    buyer_id: str
    watched: frozenset[str] = frozenset()
    bought: frozenset[str] = frozenset()
    followed: frozenset[str] = frozenset()

    def product_relations(self, product_id: str) -> list[Relation]:
        found: list[Relation] = []
        if product_id in self.bought:
            found.append("bought")
        if product_id in self.watched:
            found.append("watched")
        return found

    def supplier_relations(
        self, supplier_id: str, product_suppliers: Mapping[str, str]
    ) -> list[Relation]:
        found: list[Relation] = []
        sourced: tuple[tuple[Relation, frozenset[str]], ...] = (
            ("bought", self.bought),
            ("watched", self.watched),
        )
        for relation, products in sourced:
            if any(product_suppliers.get(pid) == supplier_id for pid in products):
                found.append(relation)
        if supplier_id in self.followed:
            found.append("followed")
        return found


@dataclass(frozen=True)
class EventGroup:
    """The events of one sync run about one product that make one change."""

    kind: str  # price, stock_out, back_in_stock, sku_added, sku_removed, delisted, relisted, added
    sync_run_id: int
    product_id: str
    events: tuple[CatalogEvent, ...]


@dataclass(frozen=True)
class SupplierRisk:
    supplier_id: str
    reasons: tuple[str, ...]
    severity: AlertSeverity
    values: dict[str, tuple[str, str]]  # reason → (old, new) as shown


@dataclass
class WatchContext:
    """Everything the changes of every buyer are computed from, loaded once per run."""

    groups: list[EventGroup]
    listings: dict[str, Listing]
    product_suppliers: dict[str, str]  # product id → supplier id, for bought/watched products
    suppliers: dict[str, Supplier]
    risks: dict[str, SupplierRisk]
    now: datetime
    snapshots: list[SupplierSnapshot] = field(default_factory=list)  # today's, for the job


_GROUP_OF: dict[str, str] = {
    CatalogEventKind.PRICE_CHANGED: "price",
    CatalogEventKind.STOCK_OUT: "stock_out",
    CatalogEventKind.BACK_IN_STOCK: "back_in_stock",
    CatalogEventKind.SKU_ADDED: "sku_added",
    CatalogEventKind.SKU_REMOVED: "sku_removed",
    CatalogEventKind.PRODUCT_DELISTED: "delisted",
    CatalogEventKind.PRODUCT_RELISTED: "relisted",
    CatalogEventKind.PRODUCT_ADDED: "added",
}


def group_events(events: Iterable[CatalogEvent]) -> list[EventGroup]:
    """Events grouped by (sync run, product, change); unknown kinds are skipped."""
    grouped: dict[tuple[int, str, str], list[CatalogEvent]] = defaultdict(list)
    for event in events:
        kind = _GROUP_OF.get(event.kind)
        if kind is not None:
            grouped[(event.sync_run_id, event.product_id, kind)].append(event)
    return [
        EventGroup(kind=kind, sync_run_id=run, product_id=pid, events=tuple(items))
        for (run, pid, kind), items in grouped.items()
    ]


def _new_states(
    current: SupplierSnapshot, previous: SupplierSnapshot | None
) -> dict[str, tuple[str, str]]:
    """States (high refunds, no stock) that hold now and did not at the last snapshot."""
    found: dict[str, tuple[str, str]] = {}
    high_now = current.quality_refund_rate > QUALITY_REFUND_ALARM
    high_before = previous is not None and previous.quality_refund_rate > QUALITY_REFUND_ALARM
    if high_now and not high_before:
        found["high_quality_refunds"] = ("", _percent(current.quality_refund_rate))
    empty_now = bool(current.active_products) and not current.in_stock_products
    empty_before = (
        previous is not None and bool(previous.active_products) and not previous.in_stock_products
    )
    if empty_now and not empty_before:
        found["no_stock"] = ("", "")
    return found


def _trends(
    current: SupplierSnapshot, previous: SupplierSnapshot
) -> tuple[dict[str, tuple[str, str]], bool]:
    """Integrity drops and quality-refund rises against the last snapshot, and if critical."""
    found: dict[str, tuple[str, str]] = {}
    critical = False
    drop = previous.integrity_score - current.integrity_score
    if drop >= INTEGRITY_DROP:
        found["integrity_drop"] = (str(previous.integrity_score), str(current.integrity_score))
        critical |= drop >= INTEGRITY_DROP_CRITICAL or current.integrity_score < INTEGRITY_FLOOR
    if current.quality_refund_rate - previous.quality_refund_rate >= REFUND_RISE - 1e-9:
        found["refund_rise"] = (
            _percent(previous.quality_refund_rate),
            _percent(current.quality_refund_rate),
        )
        critical |= current.quality_refund_rate > QUALITY_REFUND_ALARM
    return found, critical


def supplier_risk(
    supplier: Supplier, current: SupplierSnapshot, previous: SupplierSnapshot | None
) -> SupplierRisk | None:
    """The risk a supplier shows now against its last snapshot; states (no stock, high refunds)
    count only when they are new since that snapshot, so a lasting state alerts once."""
    values: dict[str, tuple[str, str]] = {}
    critical = supplier.status == SupplierStatus.SUSPENDED
    if critical:
        values["suspended"] = ("", "")
    if previous is not None:
        trends, trend_critical = _trends(current, previous)
        values.update(trends)
        critical |= trend_critical
    states = _new_states(current, previous)
    if "refund_rise" in values:
        states.pop("high_quality_refunds", None)  # the rise already says it
    values.update(states)
    critical |= bool(states)
    if not values:
        return None
    severity = AlertSeverity.CRITICAL if critical else AlertSeverity.WARNING
    return SupplierRisk(supplier.id, tuple(values), severity, values)


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _cents(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _title(listing: Listing | None, product_id: str) -> str:
    return listing[0].title if listing is not None else product_id


def _format(template: str, **values: Any) -> str:
    return template.format(**values)


def _price_change(
    group: EventGroup, base: dict[str, Any], messages: dict[str, str]
) -> SourceChange | None:
    # The product-level price speaks for the listing; without one, the first SKU's does.
    product_level = [e for e in group.events if e.sku_id is None]
    event = (product_level or list(group.events))[0]
    old, new = _cents(event.old_value), _cents(event.new_value)
    if old is None or new is None or old == new or old <= 0:
        return None  # negotiable (面议) prices have no direction to report
    percent = round((new - old) / old * 100, 1)
    kind: ChangeKind = "price_up" if new > old else "price_down"
    severity = AlertSeverity.WARNING if percent > PRICE_RISE_WARNING else AlertSeverity.INFO
    shown = {"old": format_cents(old), "new": format_cents(new), "percent": abs(percent)}
    return SourceChange(
        **base,
        kind=kind,
        severity=severity,
        sku_ids=sorted({e.sku_id for e in group.events if e.sku_id}),
        old_value=shown["old"],
        new_value=shown["new"],
        change_percent=percent,
        message=_format(messages[kind], product=base["product_title"], **shown),
    )


_CHANGE_OF: dict[str, ChangeKind] = {
    "stock_out": "stock_out",
    "back_in_stock": "back_in_stock",
    "delisted": "delisted",
    "relisted": "relisted",
    "sku_added": "sku_added",
    "sku_removed": "sku_removed",
}


def _severity(kind: ChangeKind, *, bought: bool, whole: bool) -> AlertSeverity:
    """The module docstring's rules for a product change other than a price change."""
    if kind == "delisted" or (kind == "stock_out" and whole):
        return AlertSeverity.CRITICAL if bought else AlertSeverity.WARNING
    if kind in ("stock_out", "sku_removed"):
        return AlertSeverity.WARNING if bought else AlertSeverity.INFO
    return AlertSeverity.INFO


def _product_change(
    group: EventGroup, sources: BuyerSources, context: WatchContext, language: Language
) -> SourceChange | None:
    relations = sources.product_relations(group.product_id)
    if not relations:
        return None
    listing = context.listings.get(group.product_id)
    supplier = listing[1] if listing is not None else None
    messages = watch_vocabulary().messages[language]
    base: dict[str, Any] = {
        "relations": relations,
        "product_id": group.product_id,
        "product_title": _title(listing, group.product_id),
        "supplier_id": supplier.id if supplier else None,
        "supplier_name": supplier.name if supplier else None,
        "sync_run_id": group.sync_run_id,
        "event_id": group.events[0].id,
        "at": group.events[0].created_at,
    }
    if group.kind == "price":
        return _price_change(group, base, messages)
    kind = _CHANGE_OF.get(group.kind)
    if kind is None:
        return None
    skus = sorted({e.sku_id for e in group.events if e.sku_id})
    whole = any(e.sku_id is None for e in group.events)
    severity = _severity(kind, bought="bought" in relations, whole=whole)
    skus_shown = [] if whole else skus
    template = f"{kind}_skus" if skus_shown and f"{kind}_skus" in messages else kind
    message = _format(
        messages[template],
        product=base["product_title"],
        skus=watch_vocabulary().separator[language].join(skus),
    )
    return SourceChange(**base, kind=kind, severity=severity, sku_ids=skus_shown, message=message)


def _new_arrivals(
    groups: Sequence[EventGroup], sources: BuyerSources, context: WatchContext, language: Language
) -> list[SourceChange]:
    by_supplier: dict[tuple[int, str], list[EventGroup]] = defaultdict(list)
    for group in groups:
        listing = context.listings.get(group.product_id)
        supplier = listing[1] if listing is not None else None
        if supplier is not None and supplier.id in sources.followed:
            by_supplier[(group.sync_run_id, supplier.id)].append(group)
    changes = []
    vocabulary = watch_vocabulary()
    for (run_id, supplier_id), added in sorted(by_supplier.items()):
        ids = sorted(group.product_id for group in added)
        supplier = context.listings[ids[0]][1]
        assert supplier is not None
        titles = [_title(context.listings.get(pid), pid) for pid in ids[:NEW_ARRIVAL_TITLES]]
        first = min((group.events[0] for group in added), key=lambda e: e.id or 0)
        message = vocabulary.messages[language]["new_arrival"].format(
            supplier=supplier.name,
            count=len(ids),
            titles=vocabulary.separator[language].join(titles),
        )
        changes.append(
            SourceChange(
                kind="new_arrival",
                severity=AlertSeverity.INFO,
                relations=["followed"],
                product_id=ids[0],
                product_title=titles[0],
                supplier_id=supplier_id,
                supplier_name=supplier.name,
                product_ids=ids[:NEW_ARRIVAL_IDS],
                sync_run_id=run_id,
                event_id=first.id,
                at=first.created_at,
                message=message,
            )
        )
    return changes


def _risk_change(
    risk: SupplierRisk, relations: list[Relation], context: WatchContext, language: Language
) -> SourceChange:
    vocabulary = watch_vocabulary()
    supplier = context.suppliers[risk.supplier_id]
    reasons = [
        vocabulary.reasons[language][reason].format(
            old=risk.values.get(reason, ("", ""))[0], new=risk.values.get(reason, ("", ""))[1]
        )
        for reason in risk.reasons
    ]
    message = vocabulary.messages[language]["supplier_risk"].format(
        supplier=supplier.name, reasons=vocabulary.separator[language].join(reasons)
    )
    first = risk.values.get(risk.reasons[0])
    return SourceChange(
        kind="supplier_risk",
        severity=risk.severity,
        relations=relations,
        supplier_id=supplier.id,
        supplier_name=supplier.name,
        old_value=first[0] if first else None,
        new_value=first[1] if first else None,
        reasons=list(risk.reasons),
        day=context.now.date(),
        at=context.now,
        message=message,
    )


def changes_for(
    sources: BuyerSources, context: WatchContext, language: Language = "zh"
) -> list[SourceChange]:
    """The buyer's changes, most severe first, then newest; no alternatives yet."""
    changes = [
        change
        for group in context.groups
        if group.kind != "added"
        and (change := _product_change(group, sources, context, language)) is not None
    ]
    added = [group for group in context.groups if group.kind == "added"]
    changes += _new_arrivals(added, sources, context, language)
    for supplier_id, risk in sorted(context.risks.items()):
        relations = sources.supplier_relations(supplier_id, context.product_suppliers)
        if relations:
            changes.append(_risk_change(risk, relations, context, language))
    return sort_changes(changes)


def sort_changes(changes: Iterable[SourceChange]) -> list[SourceChange]:
    ordered = sorted(changes, key=lambda c: c.dedup_key)
    ordered.sort(key=lambda c: c.at, reverse=True)
    ordered.sort(key=lambda c: _SEVERITY_RANK[c.severity])
    return ordered


# loading


def load_sources(session: Session, buyer_id: str | None = None) -> dict[str, BuyerSources]:
    """Buyer id → sources, for one buyer or every buyer with any source."""
    repository = SourceRepository(session)
    watched, bought = repository.watched(buyer_id), repository.bought(buyer_id)
    followed = repository.followed(buyer_id)
    buyers = sorted(set(watched) | set(bought) | set(followed))
    return {
        buyer: BuyerSources(
            buyer_id=buyer,
            watched=frozenset(watched.get(buyer, ())),
            bought=frozenset(bought.get(buyer, ())),
            followed=frozenset(followed.get(buyer, ())),
        )
        for buyer in buyers
    }


def load_context(
    session: Session,
    sources: Iterable[BuyerSources],
    *,
    now: datetime,
    since: datetime | None = None,
    after_event_id: int | None = None,
    sync_run_id: int | None = None,
) -> WatchContext:
    """The events in the window, the listings they name, and the risk of every source supplier."""
    sources = list(sources)
    repository = SourceRepository(session)
    products = sorted({pid for s in sources for pid in s.watched | s.bought})
    followed = {sid for s in sources for sid in s.followed}
    window: dict[str, Any] = {
        "after_id": after_event_id,
        "since": since,
        "sync_run_id": sync_run_id,
    }
    # Follows only care about new products (a feed's import is no news); the rest about sources.
    events = repository.events(product_ids=products, **window)
    events += repository.added_events(
        supplier_ids=sorted(followed), exclude_runs=repository.first_run_ids(), **window
    )
    groups = group_events(events)
    named = sorted({group.product_id for group in groups})
    listings = {p.id: (p, s) for p, s in CatalogRepository(session).listings(named)}
    product_suppliers = repository.suppliers_of(products)
    monitored = sorted(followed | set(product_suppliers.values()))
    suppliers = repository.suppliers(monitored)
    today = now.date()
    snapshots = repository.current_signals(today)
    previous = repository.previous_snapshots(today)
    risks = {
        snapshot.supplier_id: risk
        for snapshot in snapshots
        if snapshot.supplier_id in suppliers
        and (
            risk := supplier_risk(
                suppliers[snapshot.supplier_id], snapshot, previous.get(snapshot.supplier_id)
            )
        )
        is not None
    }
    return WatchContext(
        groups=groups,
        listings=listings,
        product_suppliers=product_suppliers,
        suppliers=suppliers,
        risks=risks,
        now=now,
        snapshots=snapshots,
    )


# alternatives


AlternativeCache = dict[tuple[str, str], list[AlternativeCard]]


def _product_alternatives(
    engine: Engine, search: ProductSearch, product_id: str, language: Language
) -> list[AlternativeCard]:
    request = SimilarProductsInput(
        product_id=product_id, mode="substitutes", limit=ALTERNATIVES, language=language
    )
    result = similar_products(engine, search, request)
    return [
        AlternativeCard(
            kind="product",
            id=a.product.product_id,
            title=a.product.title,
            supplier_id=a.product.supplier.id if a.product.supplier else None,
            supplier_name=a.product.supplier.name if a.product.supplier else None,
            unit_price_cents=a.unit_price_cents,
            price_difference_cents=a.price_difference_cents,
            why=a.product.why,
        )
        for a in result.alternatives
    ]


def _supplier_alternatives(
    engine: Engine, supplier_id: str, language: Language
) -> list[AlternativeCard]:
    request = SimilarSuppliersInput(supplier_id=supplier_id, limit=ALTERNATIVES, language=language)
    return [
        AlternativeCard(
            kind="supplier",
            id=s.supplier.id,
            title=s.supplier.name,
            supplier_id=s.supplier.id,
            supplier_name=s.supplier.name,
            why=s.why,
        )
        for s in similar_suppliers(engine, request).similar
    ]


def alternatives_for(
    engine: Engine,
    search: ProductSearch | None,
    change: SourceChange,
    language: Language,
    cached: AlternativeCache,
) -> list[AlternativeCard]:
    """Substitutes for a failing product (needs `search`), similar suppliers for a risky one."""
    if not change.failing:
        return []
    if change.kind == "supplier_risk" and change.supplier_id is not None:
        key = ("supplier", change.supplier_id)
        if key not in cached:
            cached[key] = _supplier_alternatives(engine, change.supplier_id, language)
        return cached[key]
    if search is None or change.product_id is None:
        return []
    key = ("product", change.product_id)
    if key not in cached:
        try:
            cached[key] = _product_alternatives(engine, search, change.product_id, language)
        except NotFoundError:
            cached[key] = []
    return cached[key]


def with_alternatives(
    engine: Engine,
    search: ProductSearch | None,
    changes: Sequence[SourceChange],
    language: Language,
    cached: AlternativeCache,
) -> list[SourceChange]:
    """The changes, failing ones with alternatives and a 换供 line in their message."""
    vocabulary = watch_vocabulary()
    done = []
    for change in changes:
        found = alternatives_for(engine, search, change, language, cached)
        if found:
            names = vocabulary.separator[language].join(card.title for card in found)
            switch = vocabulary.switch[language].format(names=names)
            message = f"{change.message}{vocabulary.separator[language]}{switch}"
            change = change.model_copy(update={"alternatives": found, "message": message})
        done.append(change)
    return done


def watch_sources(
    engine: Engine,
    request: WatchSourcesInput,
    search: ProductSearch | None = None,
    *,
    now: datetime | None = None,
) -> WatchReport:
    """Changes to the buyer's sources since `request.since` (else the last `since_days`)."""
    now = now or utcnow()
    since = request.since or now - timedelta(days=request.since_days)
    with Session(engine) as session:
        if not SourceRepository(session).buyer_exists(request.buyer_id):
            raise NotFoundError(f"no buyer {request.buyer_id!r}", buyer_id=request.buyer_id)
        sources = load_sources(session, request.buyer_id).get(
            request.buyer_id, BuyerSources(request.buyer_id)
        )
        context = load_context(session, [sources], now=now, since=since)
    changes = changes_for(sources, context, request.language)
    changes = with_alternatives(engine, search, changes, request.language, {})
    return WatchReport(
        buyer_id=request.buyer_id,
        since=since,
        watched=len(sources.watched),
        bought=len(sources.bought),
        followed=len(sources.followed),
        changes=changes,
        text=_summary(changes, since, request.language),
    )


def _summary(changes: Sequence[SourceChange], since: datetime, language: Language) -> str:
    vocabulary = watch_vocabulary()
    shown = since.date().isoformat()
    if not changes:
        return vocabulary.nothing[language].format(since=shown)
    critical = sum(change.severity == AlertSeverity.CRITICAL for change in changes)
    head = vocabulary.summary[language].format(since=shown, count=len(changes), critical=critical)
    return "\n".join([head, *(f"- {change.message}" for change in changes)])
