"""A small seeded demo catalog, synced, indexed and searchable, for search and skill tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session

from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine, migrate
from sourcing.domain.tables import Product, Supplier
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import EdgeProductIndex, IndexMeta
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.query_parser import load_query_vocabulary
from sourcing.retrieval.search import ProductSearch, SearchRequest, SearchResult


class Demo:
    def __init__(self, workdir: Path, embedder: Embedder, products: int) -> None:
        manifest = generate_demo(
            workdir / "feeds", products=products, seed=7, today=date(2026, 11, 25)
        )
        self.feeds = workdir / "feeds"
        self.engine = make_engine(f"sqlite:///{workdir / 'catalog.db'}")
        migrate(self.engine)
        sync_feed(self.engine, manifest.suppliers_path, kind="suppliers")
        self.index = EdgeProductIndex.open(
            workdir / "index", IndexMeta(embedder=embedder.name, dim=embedder.dim)
        )
        self.indexer = Indexer(self.engine, self.index, embedder)
        sync_feed(self.engine, manifest.products_path, indexer=self.indexer)
        self.search = ProductSearch(
            engine=self.engine,
            index=self.index,
            embedder=embedder,
            vocabulary=load_query_vocabulary(),
        )

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
        self.index.close()
        self.engine.dispose()
