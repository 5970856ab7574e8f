"""Benchmark: ingest and filtered hybrid search at scale, beside LangChain's QdrantVectorStore."""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine, migrate
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.eval.machine import describe_machine
from sourcing.retrieval.bridge import load_cedict
from sourcing.retrieval.documents import dense_text, is_searchable, payload
from sourcing.retrieval.embedders import Embedder, build_embedder
from sourcing.retrieval.index import (
    HNSW_MIN_PRODUCTS,
    EdgeProductIndex,
    IndexMeta,
    index_size_bytes,
    point_id,
)
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.lexical import document_vector, query_vector
from sourcing.retrieval.query_parser import load_query_vocabulary
from sourcing.retrieval.rerank import Reranker
from sourcing.retrieval.search import ProductSearch, SearchRequest

# Buyer queries with hard constraints, cycled through for the latency runs.
QUERIES = (
    "义乌 收纳盒 10元以内",
    "源头工厂 不锈钢保温杯 可定制",
    "深圳 蓝牙耳机 50元以下",
    "起批量50以内 数据线",
    "yoga mat under ¥30",
    "广州 女包 100元以内",
    "手机壳 5到15元",
    "factory direct phone case",
    "汕头 积木 玩具 20元以内",
    "连衣裙 起批量10以内",
)
BASELINE_COLLECTION = "products"


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare(workdir: Path, products: int) -> str:
    manifest = generate_demo(workdir / "feeds", products=products, seed=7, today=date(2026, 11, 25))
    url = f"sqlite:///{workdir / 'catalog.db'}"
    engine = make_engine(url)
    migrate(engine)
    sync_feed(engine, manifest.suppliers_path, kind="suppliers")
    sync_feed(engine, manifest.products_path, batch_size=1000)
    engine.dispose()
    return url


def _listings(engine: Engine) -> list[Any]:
    with Session(engine) as session:
        repo = CatalogRepository(session)
        ids = sorted(repo.active_listing_versions())
        return [pair for pair in repo.listings(ids) if is_searchable(*pair)]


def _timed(run: Callable[[], object], repeats: int) -> list[float]:
    latencies = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _search_latencies(search: ProductSearch, queries: int) -> list[float]:
    for text in QUERIES:  # warm-up
        search.search(SearchRequest(query=text))
    cycle = iter(QUERIES * (queries // len(QUERIES) + 1))
    return _timed(lambda: search.search(SearchRequest(query=next(cycle))), queries)


def run_ours(url: str, workdir: str, queries: int, out: Any) -> None:
    engine = make_engine(url)
    embedder = build_embedder("use")
    index = EdgeProductIndex.open(
        Path(workdir) / "edge" / "products", IndexMeta(embedder=embedder.name, dim=embedder.dim)
    )
    started = time.perf_counter()
    report = Indexer(engine, index, embedder, batch_size=512).catch_up()
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if report.embedded >= HNSW_MIN_PRODUCTS:
        index.optimize()
    hnsw_seconds = time.perf_counter() - started
    vocabulary, latencies = load_query_vocabulary(), {}
    for name, reranker in (("reranked", Reranker.packaged()), ("unreranked", None)):
        search = ProductSearch(
            engine=engine,
            index=index,
            embedder=embedder,
            vocabulary=vocabulary,
            reranker=reranker,
            cedict=load_cedict(),
        )
        latencies[name] = _search_latencies(search, queries)
    index.close()
    out.put(
        {
            "ingest_per_s": report.embedded / ingest_seconds,
            "hnsw_seconds": hnsw_seconds,
            "latencies_ms": latencies["reranked"],
            "unreranked_ms": latencies["unreranked"],
            "rss_mib": _peak_rss_mib(),
            "index_bytes": index_size_bytes(Path(workdir) / "edge" / "products"),
        }
    )


def _langchain_store(embedder: Embedder, path: str) -> Any:
    from langchain_core.embeddings import Embeddings
    from langchain_qdrant import QdrantVectorStore, RetrievalMode, SparseEmbeddings
    from langchain_qdrant import SparseVector as LangchainSparse

    class DenseAdapter(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, row)) for row in embedder.embed_documents(texts)]

        def embed_query(self, text: str) -> list[float]:
            return list(map(float, embedder.embed_query(text)))

    class SparseAdapter(SparseEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[LangchainSparse]:
            return [
                LangchainSparse(indices=v.indices, values=v.values)
                for v in map(document_vector, texts)
            ]

        def embed_query(self, text: str) -> LangchainSparse:
            vector = query_vector(text)
            return LangchainSparse(indices=vector.indices, values=vector.values)

    return QdrantVectorStore.construct_instance(
        embedding=DenseAdapter(),
        sparse_embedding=SparseAdapter(),
        retrieval_mode=RetrievalMode.HYBRID,
        client_options={"path": path},
        collection_name=BASELINE_COLLECTION,
        force_recreate=True,
    )


def run_baseline(url: str, workdir: str, queries: int, out: Any) -> None:
    """The same products and queries through LangChain on qdrant-client's local mode."""
    from qdrant_client import models

    engine = make_engine(url)
    embedder = build_embedder("use")
    listings = _listings(engine)
    store = _langchain_store(embedder, str(Path(workdir) / "qdrant-local"))
    started = time.perf_counter()
    for start in range(0, len(listings), 512):
        chunk = listings[start : start + 512]
        store.add_texts(
            [dense_text(p, s) for p, s in chunk],
            metadatas=[payload(p, s) for p, s in chunk],
            ids=[point_id(product.id) for product, _ in chunk],
            batch_size=512,
        )
    ingest_seconds = time.perf_counter() - started
    cap = models.Filter(
        must=[models.FieldCondition(key="metadata.price_cents", range=models.Range(lte=3000.0))]
    )
    cycle = iter(QUERIES * (queries // len(QUERIES) + 1))
    latencies = _timed(lambda: store.similarity_search(next(cycle), k=10, filter=cap), queries)
    out.put(
        {
            "ingest_per_s": len(listings) / ingest_seconds,
            "latencies_ms": latencies,
            "rss_mib": _peak_rss_mib(),
            "index_bytes": sum(
                f.stat().st_size for f in (Path(workdir) / "qdrant-local").rglob("*") if f.is_file()
            ),
        }
    )


def _in_child(target: Callable[..., None], *args: Any) -> dict[str, Any]:
    """Each system runs in its own process, so memory figures do not mix."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    while True:
        try:
            result: dict[str, Any] = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(
                    f"{target.__name__} died, exit code {process.exitcode}"
                ) from None
    process.join()
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--baseline-queries", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        url = _prepare(Path(tmp), args.products)
        print(f"catalog of {args.products:,} products generated and synced in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        ours = _in_child(run_ours, url, tmp, args.queries)
        baseline = _in_child(run_baseline, url, tmp, args.baseline_queries)
    print(f"machine: {describe_machine()}")
    # (label, key, format, higher is better)
    rows: list[tuple[str, str, Callable[[float], str], bool]] = [
        ("ingest + embed, products/s", "ingest_per_s", lambda v: f"{v:,.0f}", True),
        ("hybrid query p50, ms", "p50", lambda v: f"{v:,.1f}", False),
        ("hybrid query p99, ms", "p99", lambda v: f"{v:,.1f}", False),
        ("peak memory, MiB", "rss_mib", lambda v: f"{v:,.0f}", False),
        ("index on disk, MiB", "index_mib", lambda v: f"{v:,.0f}", False),
    ]
    for result in (ours, baseline):
        result["p50"] = statistics.median(result["latencies_ms"])
        result["p99"] = _percentile(result["latencies_ms"], 0.99)
        result["index_mib"] = result["index_bytes"] / 2**20
    print(f"{'metric':<30} {'ours (Edge)':>14} {'LangChain+local':>16} {'ours better by':>15}")
    for label, key, fmt, higher_is_better in rows:
        better, worse = (
            (ours[key], baseline[key]) if higher_is_better else (baseline[key], ours[key])
        )
        ratio = better / worse if worse else float("nan")
        print(f"{label:<30} {fmt(ours[key]):>14} {fmt(baseline[key]):>16} {ratio:>14.2f}x")
    unreranked = ours["unreranked_ms"]
    print(
        f"ours without the reranker: p50 {statistics.median(unreranked):.1f} ms, "
        f"p99 {_percentile(unreranked, 0.99):.1f} ms (the table's are with it)"
    )
    print(f"ours: HNSW graph built after ingest in {ours['hnsw_seconds']:.0f} s (not in ingest/s)")
    print(
        f"queries: ours {len(ours['latencies_ms'])} full searches (parse, embed, filtered dense "
        f"+ sparse, fuse, rerank, score, diversify);\n"
        f"baseline {len(baseline['latencies_ms'])} filtered hybrid similarity_search calls"
    )


if __name__ == "__main__":
    main()
