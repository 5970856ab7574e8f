"""What follows a catalog change, subscribed to the bus once, in the bootstrap: the index
re-embedded, alerts raised, co-purchase statistics and the knowledge base swapped in live."""

from __future__ import annotations

import logging

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from sourcing.agents.alerts import run_alert_jobs
from sourcing.agents.skills.deps import SkillDeps
from sourcing.app.jobs import COPURCHASE_JOB, KNOWLEDGE_JOB, ORDERS_JOB
from sourcing.catalog_sync.baskets import build_copurchase, load_copurchase
from sourcing.catalog_sync.bus import CatalogBus, CatalogChanged
from sourcing.domain.repositories.jobs import JobRepository
from sourcing.domain.repositories.reference import ReferenceRepository
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.knowledge import KnowledgeIndex
from sourcing.retrieval.search import ProductSearch

_log = logging.getLogger("sourcing.follow")
STATISTICS_JOBS = (COPURCHASE_JOB, ORDERS_JOB)  # their completion rebuilt the co-purchase stats


class KnowledgeReport(BaseModel):
    documents: int


def build_bus(
    engine: Engine,
    indexer: Indexer | None,
    search: ProductSearch | None,
    skills: SkillDeps | None = None,
    *,
    alerts: bool = True,
) -> CatalogBus:
    """The bus every sync publishes to; `alerts=False` for a first load (the demo build), which
    raises its alerts once at the end instead."""
    bus = CatalogBus()
    if indexer is not None:
        bus.subscribe("index", {"products", "suppliers"}, lambda change: _reindex(indexer, change))
    if alerts:
        bus.subscribe("alerts", {"products", "suppliers"}, lambda c: _alerts(engine, search, c))
    bus.subscribe("copurchase", {"orders"}, lambda _: _refresh_copurchase(engine, skills))
    if skills is not None:
        bus.subscribe("knowledge", {"reference"}, lambda _: _reload_knowledge(skills))
    return bus


class RebuildFollower:
    """Swaps in what another replica rebuilt: a job's subscribers swap statistics and
    knowledge only in the process that ran it, so every server compares the newest completed
    rebuild job of each kind with the one it last saw, and reloads when there is a newer one."""

    def __init__(self, engine: Engine, skills: SkillDeps) -> None:
        self.engine, self.skills = engine, skills
        self.seen: dict[str, int] | None = None  # read at the first tick: start-up loaded that

    def start(self) -> None:
        """Records what start-up loaded as current; a database still away is read next tick."""
        self._tick(reload=False)

    def __call__(self) -> None:
        self._tick(reload=True)

    def _tick(self, *, reload: bool) -> None:
        try:
            latest = self._latest()
        except SQLAlchemyError:  # the database away: readiness reports it; the next tick retries
            _log.warning("reading the newest rebuilds failed; trying again next tick")
            return
        if self.seen is not None and reload:
            if self._newer(latest, STATISTICS_JOBS):
                self.skills.copurchase = load_copurchase(self.engine)
            if self._newer(latest, (KNOWLEDGE_JOB,)):
                _reload_knowledge(self.skills)
        self.seen = latest

    def _newer(self, latest: dict[str, int], kinds: tuple[str, ...]) -> bool:
        seen = self.seen or {}
        return any(latest.get(kind, 0) > seen.get(kind, 0) for kind in kinds)

    def _latest(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return JobRepository(session).latest_completed((*STATISTICS_JOBS, KNOWLEDGE_JOB))


def _alerts(engine: Engine, search: ProductSearch | None, change: CatalogChanged) -> BaseModel:
    if change.sync is None:
        return run_alert_jobs(engine, search)
    return run_alert_jobs(engine, search, sync_run_id=change.sync.run_id)


def _reindex(indexer: Indexer, change: CatalogChanged) -> BaseModel:
    # A supplier's change alters its products' filters and trust signals; a redo may follow an
    # attempt killed before it re-embedded: both bring the whole index level with the catalog.
    if change.redo or change.what == "suppliers" or change.sync is None:
        return indexer.catch_up()
    return indexer.refresh(change.sync.changed_ids)


def _refresh_copurchase(engine: Engine, skills: SkillDeps | None) -> BaseModel:
    report = build_copurchase(engine)
    if skills is not None:
        # One attribute swap: a turn reads the old statistics or the new, never a mix.
        skills.copurchase = load_copurchase(engine)
    return report


def _reload_knowledge(skills: SkillDeps) -> BaseModel:
    with Session(skills.engine) as session:
        docs = ReferenceRepository(session).knowledge_docs()
    skills.knowledge = KnowledgeIndex.from_docs(docs, skills.search.embedder)
    return KnowledgeReport(documents=len(docs))
