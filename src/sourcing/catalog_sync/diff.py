"""Pure diffing: what catalog events turn a stored product into the one a feed row describes."""

from __future__ import annotations

from dataclasses import dataclass

from sourcing.domain.kinds import CatalogEventKind, ProductStatus, SkuStatus
from sourcing.domain.records import ProductRecord, ProductState


@dataclass(frozen=True)
class EventDraft:
    """A catalog event before it has a sync run; prices are cents, as strings."""

    kind: CatalogEventKind
    product_id: str
    sku_id: str | None = None
    old_value: str | None = None
    new_value: str | None = None


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _stock_events(
    product_id: str, sku_id: str | None, old: int | None, new: int | None
) -> list[EventDraft]:
    # An unknown stock (None) is neither in nor out of stock, so it never fires an event.
    if old is None or new is None:
        return []
    if old > 0 and new == 0:
        return [EventDraft(CatalogEventKind.STOCK_OUT, product_id, sku_id, _text(old), "0")]
    if old == 0 and new > 0:
        return [EventDraft(CatalogEventKind.BACK_IN_STOCK, product_id, sku_id, "0", _text(new))]
    return []


def _price_events(
    product_id: str, sku_id: str | None, old: int | None, new: int | None
) -> list[EventDraft]:
    if old == new:
        return []
    return [EventDraft(CatalogEventKind.PRICE_CHANGED, product_id, sku_id, _text(old), _text(new))]


def product_events(old: ProductState | None, new: ProductRecord) -> list[EventDraft]:
    """Events for one product; an unchanged product yields none."""
    pid = new.id
    delisted = new.status == ProductStatus.DELISTED
    if old is None:
        return [] if delisted else [EventDraft(CatalogEventKind.PRODUCT_ADDED, pid)]
    was_delisted = old.status == ProductStatus.DELISTED
    if delisted:
        return [] if was_delisted else [EventDraft(CatalogEventKind.PRODUCT_DELISTED, pid)]
    events = [EventDraft(CatalogEventKind.PRODUCT_RELISTED, pid)] if was_delisted else []
    events += _price_events(pid, None, old.price_cents, new.price_cents)
    events += _stock_events(pid, None, old.stock, new.stock)
    live_skus = {sku_id: s for sku_id, s in old.skus.items() if s.status == SkuStatus.ACTIVE}
    new_skus = {sku.id: sku for sku in new.skus}
    for sku_id in sorted(new_skus.keys() - live_skus.keys()):
        events.append(EventDraft(CatalogEventKind.SKU_ADDED, pid, sku_id))
    for sku_id in sorted(live_skus.keys() - new_skus.keys()):
        events.append(EventDraft(CatalogEventKind.SKU_REMOVED, pid, sku_id))
    for sku_id in sorted(live_skus.keys() & new_skus.keys()):
        before, after = live_skus[sku_id], new_skus[sku_id]
        events += _price_events(pid, sku_id, before.price_cents, after.price_cents)
        events += _stock_events(pid, sku_id, before.stock, after.stock)
    return events
