"""Keeps the product index in step with the catalog: refresh changed ids, catch up, rebuild."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.tables import Product, Supplier
from sourcing.retrieval.documents import dense_text, is_searchable, payload, sparse_fields
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import IndexDoc, ProductIndex
from sourcing.retrieval.lexical import DEFAULT_AVERAGE_TOKENS, document_length, document_vector

ProgressCallback = Callable[[int], None]


class IndexReport(BaseModel):
    embedded: int = 0
    removed: int = 0
    seconds: float = 0.0

    @property
    def products_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


class IndexDrift(BaseModel):
    """How the index differs from the catalog; every list holds product ids, sorted."""

    missing: list[str] = []  # searchable in the database, absent from the index
    stale: list[str] = []  # indexed at another listing version (content or supplier changed)
    orphaned: list[str] = []  # indexed, but the product is gone, delisted or its supplier is

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.orphaned)


class Indexer:
    """Embeds products from the database into the index, in batches."""

    def __init__(
        self, engine: Engine, index: ProductIndex, embedder: Embedder, *, batch_size: int = 256
    ) -> None:
        self.engine, self.index, self.embedder = engine, index, embedder
        self.batch_size = batch_size

    def refresh(
        self, product_ids: Sequence[str], progress: ProgressCallback | None = None
    ) -> IndexReport:
        """Re-embed the searchable ones of `product_ids`; remove the rest from the index."""
        started = time.perf_counter()
        report = IndexReport()
        for start in range(0, len(product_ids), self.batch_size):
            chunk = product_ids[start : start + self.batch_size]
            with Session(self.engine) as session:
                listings = CatalogRepository(session).listings(chunk)
            keep = [(p, s) for p, s in listings if is_searchable(p, s)]
            kept_ids = {product.id for product, _ in keep}
            gone = [pid for pid in chunk if pid not in kept_ids]
            self.index.upsert(self._documents(keep))
            self.index.delete(gone)
            report.embedded += len(keep)
            report.removed += len(gone)
            if progress is not None:
                progress(start + len(chunk))
        report.seconds = time.perf_counter() - started
        return report

    def catch_up(self, progress: ProgressCallback | None = None) -> IndexReport:
        """Bring the index to the catalog: embed what is missing or stale, drop the rest.

        This is what makes a crash between a sync and its re-index harmless.
        """
        return self.repair(self.drift(), progress)

    def repair(self, drift: IndexDrift, progress: ProgressCallback | None = None) -> IndexReport:
        """Re-embed the missing and stale products of `drift`, remove its orphans."""
        return self.refresh(sorted(drift.missing + drift.stale) + drift.orphaned, progress)

    def drift(self) -> IndexDrift:
        """Compare the index with the catalog without changing either (`sourcing index check`)."""
        with Session(self.engine) as session:
            wanted = CatalogRepository(session).active_listing_versions()
        indexed = self.index.versions()
        return IndexDrift(
            missing=sorted(wanted.keys() - indexed.keys()),
            stale=sorted(
                pid for pid, version in wanted.items() if indexed.get(pid, version) != version
            ),
            orphaned=sorted(indexed.keys() - wanted.keys()),
        )

    def average_tokens(self) -> float:
        """BM25's average document length: measured over the whole catalog the first time
        the index is filled and kept with it, so later refreshes weigh terms the same way
        (`sourcing index rebuild` measures again)."""
        stored = self.index.meta.average_tokens
        if stored is not None:
            return stored
        with Session(self.engine) as session:
            repository = CatalogRepository(session)
            ids = sorted(repository.active_listing_versions())
            lengths = [
                document_length(sparse_fields(product, supplier))
                for start in range(0, len(ids), self.batch_size)
                for product, supplier in repository.listings(ids[start : start + self.batch_size])
            ]
        if not lengths:
            return DEFAULT_AVERAGE_TOKENS
        measured = round(sum(lengths) / len(lengths), 3)
        self.index.record_average_tokens(measured)
        return measured

    def _documents(self, listings: list[tuple[Product, Supplier | None]]) -> list[IndexDoc]:
        if not listings:
            return []
        average = self.average_tokens()
        dense = self.embedder.embed_documents([dense_text(p, s) for p, s in listings])
        return [
            IndexDoc(
                product_id=product.id,
                dense=dense[row],
                sparse=document_vector(sparse_fields(product, supplier), average),
                payload=payload(product, supplier),
            )
            for row, (product, supplier) in enumerate(listings)
        ]
