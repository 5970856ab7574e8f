"""Real catalogs in BEIR layout, synced and searched as a buyer would, beside the baselines."""

from __future__ import annotations

import copy
import csv
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bm25s  # type: ignore[import-untyped]
import numpy as np
import rjieba
from sqlalchemy import Engine

from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine, migrate
from sourcing.eval.beir import BeirDataset, BeirDoc, load_beir
from sourcing.eval.metrics import mean, ndcg_at_k, recall_at_k, relevant
from sourcing.eval.report import Figures, RealSetReport
from sourcing.retrieval.bridge import load_cedict
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import EdgeProductIndex, IndexMeta
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.lexical import has_cjk
from sourcing.retrieval.query_parser import load_query_vocabulary
from sourcing.retrieval.ranking import rrf_fuse
from sourcing.retrieval.rerank import Reranker
from sourcing.retrieval.search import ProductSearch, SearchMode, SearchRequest, SearchTuning

NDCG_K, RECALL_K = 10, 50
BASELINE_DEPTH = 1000  # each baseline ranking is cut here before fusion, as in the README
BASELINE_BM25 = {"k1": 1.5, "b": 0.75}
_LATIN_WORD = re.compile(r"\w+")
_WORD_CHARACTER = re.compile(r"\w")

Ranking = dict[str, list[str]]  # query id -> product ids, best first


def add_method(report: RealSetReport, method: str, rankings: Ranking, dataset: BeirDataset) -> None:
    report.methods[method] = {
        name: score(rankings, dataset, ids) for name, ids in report.slices.items()
    }


def score(rankings: Ranking, dataset: BeirDataset, query_ids: Sequence[str]) -> Figures:
    ndcg, recall = [], []
    for qid in query_ids:
        grades = dataset.qrels[qid]
        ranked = rankings.get(qid, [])
        ndcg.append(ndcg_at_k(ranked, grades, NDCG_K))
        recall.append(recall_at_k(ranked, relevant(grades), RECALL_K))
    return Figures(
        queries=len(query_ids),
        ndcg_at_10=round(mean(ndcg), 4),
        recall_at_50=round(mean(recall), 4),
    )


def is_dev_query(query_id: str) -> bool:
    """Half of every set, fixed by the id's checksum: what tuning may look at."""
    return zlib.crc32(query_id.encode()) % 2 == 0


def query_slices(folder: Path, dataset: BeirDataset) -> dict[str, list[str]]:
    """all, dev and test halves, and per language and lexical class where the set says."""
    judged = sorted(qid for qid in dataset.qrels if qid in dataset.queries)
    slices: dict[str, list[str]] = {
        "all": judged,
        "dev": [qid for qid in judged if is_dev_query(qid)],
        "test": [qid for qid in judged if not is_dev_query(qid)],
    }
    meta_path = folder / "queries_meta.jsonl"
    if meta_path.exists():
        with meta_path.open(encoding="utf-8") as lines:
            meta = {row["_id"]: row for row in map(json.loads, filter(str.strip, lines))}
        for qid in judged:
            row = meta.get(qid, {})
            language = row.get("lang")
            if language:
                slices.setdefault(language, []).append(qid)
                if row.get("lexical_class") and language == "zh":
                    slices.setdefault(f"zh {row['lexical_class']}", []).append(qid)
    return slices


def load_ignored(folder: Path) -> dict[str, set[str]]:
    path = folder / "qrels" / "ignore.tsv"
    ignored: dict[str, set[str]] = {}
    if path.exists():
        with path.open(encoding="utf-8", newline="") as rows:
            for row in csv.DictReader(rows, delimiter="\t"):
                ignored.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return ignored


def without_ignored(rankings: Ranking, ignored: Mapping[str, set[str]]) -> Ranking:
    return {
        qid: [pid for pid in ranked if pid not in ignored.get(qid, set())]
        for qid, ranked in rankings.items()
    }


# --- the baselines of ../shared/datasets/README.md, run the same way here ------------------


def baseline_tokens(text: str) -> list[str]:
    """jieba words for Chinese text, lower-cased \\w+ words otherwise (the README's BM25)."""
    lowered = text.lower()
    if has_cjk(lowered):
        return [token for token in rjieba.cut(lowered) if _WORD_CHARACTER.search(token)]
    return _LATIN_WORD.findall(lowered)


def document_text(doc: BeirDoc) -> str:
    """Title and text (its first 500 characters), the title once where the text repeats it."""
    text = doc.text[:500]
    return doc.title if text in ("", doc.title) else f"{doc.title} {text}"


def bm25_rankings(dataset: BeirDataset, query_ids: Sequence[str]) -> Ranking:
    ids = [doc.id for doc in dataset.corpus]
    model = bm25s.BM25(**BASELINE_BM25)
    model.index(
        [baseline_tokens(document_text(doc)) for doc in dataset.corpus], show_progress=False
    )
    rankings: Ranking = {}
    depth = min(BASELINE_DEPTH, len(ids))
    for qid in query_ids:
        tokens = baseline_tokens(dataset.queries[qid])
        if not tokens:
            rankings[qid] = []
            continue
        found, scores = model.retrieve([tokens], k=depth, show_progress=False)
        rankings[qid] = [ids[i] for i, s in zip(found[0], scores[0], strict=True) if s > 0]
    return rankings


def dense_rankings(dataset: BeirDataset, query_ids: Sequence[str], embedder: Embedder) -> Ranking:
    ids = np.array([doc.id for doc in dataset.corpus])
    matrix = embedder.embed_documents([document_text(doc) for doc in dataset.corpus])
    depth = min(BASELINE_DEPTH, len(ids))
    rankings: Ranking = {}
    for qid in query_ids:
        scores = matrix @ embedder.embed_query(dataset.queries[qid])
        # Stable: ties fall back to catalog order, so a rerun ranks the same.
        order = np.argsort(-scores, kind="stable")[:depth]
        rankings[qid] = ids[order].tolist()
    return rankings


def rrf_rankings(*parts: Ranking) -> Ranking:
    return {qid: list(rrf_fuse([part.get(qid, []) for part in parts])) for qid in parts[0]}


# --- the product, loaded from catalog.csv through sync and the indexer ----------------------


@dataclass
class LoadedCatalog:
    engine: Engine
    index: EdgeProductIndex
    search: ProductSearch

    def rankings(
        self,
        dataset: BeirDataset,
        query_ids: Sequence[str],
        *,
        mode: SearchMode = SearchMode.HYBRID,
        diversify: bool = True,
        tuning: SearchTuning | None = None,
        rerank: bool = True,
    ) -> Ranking:
        search = copy.copy(self.search)
        search.tuning = tuning or search.tuning
        search.reranker = search.reranker if rerank else None
        rankings: Ranking = {}
        for qid in query_ids:
            request = SearchRequest(
                query=dataset.queries[qid][:500], limit=RECALL_K, mode=mode, diversify=diversify
            )
            rankings[qid] = [hit.product_id for hit in search.search(request).hits]
        return rankings


def index_catalog(
    engine: Engine, index_dir: Path, embedder: Embedder, reranker: Reranker | None = None
) -> tuple[EdgeProductIndex, ProductSearch]:
    """Every product of the database embedded into a fresh Edge shard, and the search over it."""
    index = EdgeProductIndex.open(
        index_dir, IndexMeta(embedder=embedder.name, dim=embedder.dim), recreate=True
    )
    try:
        Indexer(engine, index, embedder).catch_up()
    except BaseException:
        index.close()
        raise
    search = ProductSearch(
        engine=engine,
        index=index,
        embedder=embedder,
        vocabulary=load_query_vocabulary(),
        reranker=reranker,
        cedict=load_cedict(),
    )
    return index, search


@contextmanager
def loaded_catalog(
    folder: Path, workdir: Path, embedder: Embedder, reranker: Reranker | None = None
) -> Iterator[LoadedCatalog]:
    """catalog.csv synced into a fresh SQLite file and indexed into a fresh Edge shard."""
    workdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{workdir / 'catalog.db'}")
    migrate(engine)
    sync_feed(engine, folder / "catalog.csv", kind="products")
    index, search = index_catalog(engine, workdir / "index", embedder, reranker)
    try:
        yield LoadedCatalog(engine, index, search)
    finally:
        index.close()
        engine.dispose()


# --- one set: baselines and the product's stages, side by side ------------------------------

Stage = Callable[[LoadedCatalog, BeirDataset, Sequence[str]], Ranking]
SERVED = "product: + diversity (as served)"


def product_stages() -> dict[str, Stage]:
    """The search pipeline cut after each stage, for the ablation table."""
    open_floors = SearchTuning(
        dense_floor=0.0, dense_ratio=0.0, unknown_words_dense_floor=0.0, sparse_ratio=0.0
    )
    return {
        "product: dense alone": lambda c, d, q: c.rankings(
            d, q, mode=SearchMode.DENSE, diversify=False, tuning=open_floors, rerank=False
        ),
        "product: sparse alone": lambda c, d, q: c.rankings(
            d, q, mode=SearchMode.SPARSE, diversify=False, tuning=open_floors, rerank=False
        ),
        "product: fusion, no floors": lambda c, d, q: c.rankings(
            d, q, diversify=False, tuning=open_floors, rerank=False
        ),
        "product: + floors, business scoring": lambda c, d, q: c.rankings(
            d, q, diversify=False, rerank=False
        ),
        "product: + reranker": lambda c, d, q: c.rankings(d, q, diversify=False),
        SERVED: lambda c, d, q: c.rankings(d, q),
    }


def evaluate_set(
    folder: Path, workdir: Path, embedder: Embedder, *, stages: bool = True
) -> RealSetReport:
    dataset = load_beir(folder)
    slices = query_slices(folder, dataset)
    report = RealSetReport(name=folder.name, slices=slices)
    ignored = load_ignored(folder)
    query_ids = slices["all"]
    bm25 = bm25_rankings(dataset, query_ids)
    dense = dense_rankings(dataset, query_ids, embedder)
    for name, rankings in (("BM25", bm25), ("dense", dense), ("RRF", rrf_rankings(bm25, dense))):
        add_method(report, name, without_ignored(rankings, ignored), dataset)
    chosen = product_stages()
    if not stages:
        chosen = {SERVED: chosen[SERVED]}
    with loaded_catalog(folder, workdir, embedder, Reranker.packaged()) as catalog:
        for name, stage in chosen.items():
            ranked = without_ignored(stage(catalog, dataset, query_ids), ignored)
            add_method(report, name, ranked, dataset)
    return report


def below_baselines(report: RealSetReport) -> list[str]:
    """Where the product as served falls below BM25 or RRF on nDCG@10, or below RRF's
    Recall@50, over all of a set's queries."""
    served, found = report.methods[SERVED]["all"], []
    for baseline in ("BM25", "RRF"):
        other = report.methods[baseline]["all"]
        if served.ndcg_at_10 <= other.ndcg_at_10:
            found.append(
                f"{report.name}: nDCG@10 {served.ndcg_at_10:.3f} not above {baseline}'s "
                f"{other.ndcg_at_10:.3f}"
            )
    rrf = report.methods["RRF"]["all"]
    if served.recall_at_50 < rrf.recall_at_50:
        found.append(
            f"{report.name}: Recall@50 {served.recall_at_50:.3f} below RRF's {rrf.recall_at_50:.3f}"
        )
    return found
