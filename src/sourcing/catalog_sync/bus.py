"""The catalog event bus: whatever changed the catalog (a feed sync, an order import, a
reference load) publishes it once, and the subscribers carry out the consequences in order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from sourcing.catalog_sync.sync import SyncReport

Changed = Literal["products", "suppliers", "orders", "reference"]
_log = logging.getLogger("sourcing.bus")


@dataclass(frozen=True)
class CatalogChanged:
    what: Changed
    sync: SyncReport | None = None  # the feed's run, for products and suppliers
    redo: bool = False  # a redone job: its first attempt may have died before re-embedding


Subscriber = Callable[[CatalogChanged], BaseModel | None]


class CatalogBus:
    """In-process and synchronous: a job's subscribers run inside the job, so a job killed
    mid-way is redone whole, consequences included (each subscriber is safe to repeat)."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, frozenset[Changed], Subscriber]] = []

    def subscribe(self, name: str, on: set[Changed], subscriber: Subscriber) -> None:
        self._subscribers.append((name, frozenset(on), subscriber))

    @property
    def subscribers(self) -> list[str]:
        return [name for name, _, _ in self._subscribers]

    def publish(self, change: CatalogChanged) -> dict[str, BaseModel]:
        """Every subscriber to `change.what`, in the order subscribed; their reports by name."""
        reports: dict[str, BaseModel] = {}
        for name, on, subscriber in self._subscribers:
            if change.what in on:
                _log.info("catalog %s changed: %s", change.what, name)
                report = subscriber(change)
                if report is not None:
                    reports[name] = report
        return reports
