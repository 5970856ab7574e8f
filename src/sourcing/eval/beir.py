"""BEIR-format datasets: corpus, queries and graded qrels, as jsonl and TSV files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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
