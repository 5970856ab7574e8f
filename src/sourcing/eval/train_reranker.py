"""Train the search reranker on the dev halves of real catalogs (`sourcing eval train-reranker`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightgbm
import numpy as np

from sourcing.eval.beir import load_beir
from sourcing.eval.catalog_search import RECALL_K, is_dev_query, load_ignored, loaded_catalog
from sourcing.retrieval.embedders import Embedder, build_embedder
from sourcing.retrieval.rerank import FEATURE_VERSION, FEATURES, MODEL_FILE, Reranker
from sourcing.retrieval.search import SearchRequest

MODEL_DIR = Path(__file__).resolve().parents[1] / "retrieval" / "models"
# Small trees and few rounds: a few hundred dev queries, and the model runs inside a search.
PARAMETERS: dict[str, object] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "lambda_l2": 10.0,
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "lambdarank_truncation_level": 20,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "seed": 7,
    "verbose": -1,
}
ROUNDS = 100


@dataclass
class Groups:
    """One query per group: its candidates' feature rows and graded labels."""

    rows: list[list[float]]
    labels: list[int]
    sizes: list[int]
    queries: int = 0

    def extend(self, rows: Sequence[list[float]], labels: Sequence[int]) -> None:
        self.rows.extend(rows)
        self.labels.extend(labels)
        self.sizes.append(len(rows))
        self.queries += 1


def collect(folder: Path, workdir: Path, embedder: Embedder, groups: Groups) -> None:
    """The dev queries of one set, searched as served (reranker off), their pools labelled."""
    dataset, ignored = load_beir(folder), load_ignored(folder)
    with loaded_catalog(folder, workdir, embedder) as catalog:
        for qid in sorted(dataset.qrels):
            if qid not in dataset.queries or not is_dev_query(qid):
                continue
            request = SearchRequest(query=dataset.queries[qid][:500], limit=RECALL_K)
            ids, rows = catalog.search.feature_rows(request)
            kept = [n for n, pid in enumerate(ids) if pid not in ignored.get(qid, set())]
            labels = [dataset.qrels[qid].get(ids[n], 0) for n in kept]
            if any(labels) and not all(labels):  # a group with one label teaches nothing
                groups.extend([rows[n] for n in kept], labels)


def train(groups: Groups, sets: Sequence[str]) -> Reranker:
    data = lightgbm.Dataset(
        np.asarray(groups.rows, dtype=np.float64),
        label=np.asarray(groups.labels),
        group=groups.sizes,
        feature_name=list(FEATURES),
        free_raw_data=False,
    )
    booster = lightgbm.train(PARAMETERS, data, num_boost_round=ROUNDS)
    meta = {
        "version": FEATURE_VERSION,
        "features": list(FEATURES),
        "trained_on": {"sets": list(sets), "half": "dev (crc32(query id) even)"},
        "queries": groups.queries,
        "rows": len(groups.rows),
        "rounds": ROUNDS,
        "lightgbm": lightgbm.__version__,
    }
    return Reranker(booster, meta)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sourcing eval train-reranker", description=__doc__)
    parser.add_argument("sets", nargs="+", type=Path, help="BEIR folders with a catalog.csv")
    parser.add_argument("--out", type=Path, default=MODEL_DIR / MODEL_FILE)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    embedder = build_embedder("use")
    groups = Groups([], [], [])
    with tempfile.TemporaryDirectory(prefix="train-reranker-") as tmp:
        for number, folder in enumerate(args.sets):
            collect(folder, Path(tmp) / str(number), embedder, groups)
            print(f"{folder.name}: {groups.queries} dev queries so far, {len(groups.rows)} rows")
    reranker = train(groups, [folder.name for folder in args.sets])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(reranker.to_text(), encoding="utf-8")
    print(f"model written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
