"""A small seeded demo catalog, synced, indexed and searchable, for search and skill tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session

from sourcing.domain.tables import Product, Supplier
from sourcing.eval.retrieval_suite import build_demo_environment
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.search import SearchRequest, SearchResult


class Demo:
    """The eval suite's demo environment, at a test's size, with a few helpers."""

    def __init__(self, workdir: Path, embedder: Embedder, products: int) -> None:
        self.environment = build_demo_environment(
            workdir, products=products, seed=7, today=date(2026, 11, 25), embedder=embedder
        )
        self.feeds = self.environment.manifest.out_dir
        self.engine = self.environment.engine
        self.search = self.environment.search
        self.indexer = Indexer(self.engine, self.environment.index, embedder)

    def run(self, query: str, **options: object) -> SearchResult:
        return self.search.search(SearchRequest(query=query, **options))  # type: ignore[arg-type]

    def product(self, product_id: str) -> tuple[Product, Supplier]:
        with Session(self.engine) as session:
            product = session.get(Product, product_id)
            assert product is not None
            assert product.supplier_id is not None
            supplier = session.get(Supplier, product.supplier_id)
            assert supplier is not None
            return product, supplier

    def close(self) -> None:
        self.environment.close()
