"""BEIR-format datasets (corpus, queries, qrels) through the same index, retrieval and metrics."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sourcing.eval.metrics import mean, mrr_at_k, ndcg_at_k, recall_at_k, relevant
from sourcing.eval.report import MetricSet
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import EdgeProductIndex, IndexDoc, IndexMeta, ProductIndex
from sourcing.retrieval.lexical import document_vector
from sourcing.retrieval.search import SearchMode, retrieve

DENSE_TEXT_CHARS = 500
EMBED_BATCH = 256
MODES = ("hybrid", "dense", "sparse")
NDCG_K, RECALL_K, MRR_K = 10, 50, 10


@dataclass(frozen=True)
class BeirDoc:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    corpus: list[BeirDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> document id -> graded relevance


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A qrels TSV with the header `query-id  corpus-id  score`."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return qrels


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """corpus.jsonl (`_id`, `title`, `text`), queries.jsonl (`_id`, `text`), qrels/<split>.tsv."""
    corpus = [
        BeirDoc(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _jsonl(folder / "corpus.jsonl")
    ]
    queries = {str(row["_id"]): str(row["text"]) for row in _jsonl(folder / "queries.jsonl")}
    return BeirDataset(corpus, queries, load_qrels(folder / "qrels" / f"{split}.tsv"))


def dense_text(doc: BeirDoc) -> str:
    return f"{doc.title} {doc.text[:DENSE_TEXT_CHARS]}".strip()


def sparse_text(doc: BeirDoc) -> str:
    return f"{doc.title} {doc.text}".strip()


def ingest(
    corpus: Sequence[BeirDoc], index: ProductIndex, embedder: Embedder, batch: int = EMBED_BATCH
) -> int:
    """Embed and upsert the corpus in batches; documents carry no payload beyond their id."""
    for start in range(0, len(corpus), batch):
        docs = corpus[start : start + batch]
        dense = embedder.embed_documents([dense_text(doc) for doc in docs])
        index.upsert(
            [
                IndexDoc(doc.id, dense[row], document_vector(sparse_text(doc)), {})
                for row, doc in enumerate(docs)
            ]
        )
    return len(corpus)


def evaluate_index(
    dataset: BeirDataset, index: ProductIndex, embedder: Embedder, modes: Sequence[str] = MODES
) -> dict[str, MetricSet]:
    """Mean metrics per mode over the queries that have judgements."""
    judged = [(qid, grades) for qid, grades in dataset.qrels.items() if qid in dataset.queries]
    results: dict[str, MetricSet] = {}
    for mode in modes:
        ndcg, recall, mrr = [], [], []
        for qid, grades in judged:
            ranked = list(retrieve(index, embedder, dataset.queries[qid], mode=SearchMode(mode)))
            wanted = relevant(grades)
            ndcg.append(ndcg_at_k(ranked, grades, NDCG_K))
            recall.append(recall_at_k(ranked, wanted, RECALL_K))
            mrr.append(mrr_at_k(ranked, wanted, MRR_K))
        results[mode] = MetricSet(
            queries=len(judged),
            ndcg_at_10=mean(ndcg),
            recall_at_50=mean(recall),
            mrr_at_10=mean(mrr),
        )
    return results


def evaluate_beir(
    folder: Path, embedder: Embedder, workdir: Path, modes: Sequence[str] = MODES
) -> dict[str, MetricSet]:
    """Load the BEIR folder into a fresh Edge index under `workdir` and evaluate it."""
    dataset = load_beir(folder)
    index = EdgeProductIndex.open(
        workdir / "beir-index", IndexMeta(embedder=embedder.name, dim=embedder.dim), recreate=True
    )
    try:
        ingest(dataset.corpus, index, embedder)
        return evaluate_index(dataset, index, embedder, modes)
    finally:
        index.close()
