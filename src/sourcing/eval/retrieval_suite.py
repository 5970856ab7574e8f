"""The retrieval eval suite: labelled queries over the demo catalog, per mode and query type."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.catalog_sync.demo import DemoManifest, generate_demo
from sourcing.catalog_sync.reference import load_reference
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine, migrate
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.eval.catalog_search import below_baselines, evaluate_set, index_catalog
from sourcing.eval.judge import Listing, judge, violations
from sourcing.eval.machine import describe_machine
from sourcing.eval.metrics import group_by, mean, mrr_at_k, ndcg_at_k, rate, recall_at_k, relevant
from sourcing.eval.queries import DATASET, EvalQuery, QueryType, load_queries
from sourcing.eval.report import (
    MetricSet,
    ModeReport,
    ParseMismatch,
    QueryRow,
    RetrievalReport,
    compare_to_baseline,
    load_baseline,
    write_ablation,
    write_baseline,
    write_reports,
)
from sourcing.retrieval.constraints import ParsedQuery
from sourcing.retrieval.embedders import Embedder, build_embedder
from sourcing.retrieval.index import EdgeProductIndex
from sourcing.retrieval.query_parser import parse_query
from sourcing.retrieval.rerank import Reranker
from sourcing.retrieval.search import ProductSearch, SearchMode, SearchRequest

DEMO_PRODUCTS = 2000
DEMO_SEED = 7
DEMO_TODAY = date(2026, 11, 25)
MODES = ("hybrid", "dense", "sparse")
NDCG_K, RECALL_K, MRR_K, VIOLATION_K = 10, 50, 10, 10
SHOWN_HITS = 5


@dataclass
class DemoEnvironment:
    """A demo catalog in SQLite, indexed in an Edge shard, with the search over both."""

    workdir: Path
    manifest: DemoManifest
    engine: Engine
    index: EdgeProductIndex
    embedder: Embedder
    search: ProductSearch

    def listings(self) -> list[Listing]:
        """Every searchable product with its supplier."""
        with Session(self.engine) as session:
            repository = CatalogRepository(session)
            return repository.listings(sorted(repository.active_listing_versions()))

    def close(self) -> None:
        self.index.close()
        self.engine.dispose()


def load_demo_catalog(
    workdir: Path,
    *,
    products: int = DEMO_PRODUCTS,
    seed: int = DEMO_SEED,
    today: date = DEMO_TODAY,
    reference: bool = False,
) -> tuple[Engine, DemoManifest]:
    """Generate the demo marketplace into `workdir` and sync it into SQLite there; with
    `reference`, also its buyers, orders, signals, festivals and knowledge."""
    manifest = generate_demo(workdir / "feeds", products=products, seed=seed, today=today)
    engine = make_engine(f"sqlite:///{workdir / 'catalog.db'}")
    migrate(engine)
    sync_feed(engine, manifest.suppliers_path, kind="suppliers")
    sync_feed(engine, manifest.products_path, kind="products")
    if reference:
        load_reference(engine, manifest.out_dir)
    return engine, manifest


def build_demo_environment(
    workdir: Path,
    *,
    products: int = DEMO_PRODUCTS,
    seed: int = DEMO_SEED,
    today: date = DEMO_TODAY,
    embedder: Embedder | None = None,
) -> DemoEnvironment:
    """Generate the demo marketplace into `workdir`, load it and index every product."""
    engine, manifest = load_demo_catalog(workdir, products=products, seed=seed, today=today)
    model = embedder if embedder is not None else build_embedder("use")
    index, search = index_catalog(engine, workdir / "index", model, Reranker.packaged())
    return DemoEnvironment(workdir, manifest, engine, index, model, search)


def _normalised(values: Mapping[str, Any]) -> dict[str, Any]:
    # Order within a list (regions, supplier kinds) carries no meaning.
    return {
        key: sorted(value) if isinstance(value, list) else value for key, value in values.items()
    }


def parse_mismatch(query: EvalQuery, parsed: ParsedQuery) -> ParseMismatch | None:
    """What the query states against what parse_query read, when they differ."""
    expected = _normalised(query.expect.model_dump(mode="json", exclude_defaults=True))
    found = _normalised(parsed.constraints.model_dump(mode="json", exclude_defaults=True))
    if parsed.quantity is not None:
        found["quantity"] = parsed.quantity
    if expected == found:
        return None
    return ParseMismatch(
        id=query.id,
        text=query.text,
        expected=expected,
        parsed=found,
        semantic_text=parsed.semantic_text,
    )


def score_query(
    query: EvalQuery,
    mode: str,
    ranked_ids: Sequence[str],
    grades: Mapping[str, int],
    catalog: Mapping[str, Listing],
) -> QueryRow:
    """One query's metrics in one mode, and which of its top hits break a stated constraint."""
    wanted = relevant(grades)
    states_constraints = bool(query.expect.active())
    top = list(ranked_ids[:VIOLATION_K])
    broken: dict[str, list[str]] = {}
    if states_constraints:
        for product_id in top:
            product, supplier = catalog[product_id]
            if names := violations(query.expect, product, supplier):
                broken[product_id] = names
    first = next((rank for rank, pid in enumerate(ranked_ids, 1) if pid in wanted), None)
    return QueryRow(
        id=query.id,
        text=query.text,
        type=str(query.type),
        mode=mode,
        relevant=len(wanted),
        returned=len(ranked_ids),
        ndcg_at_10=ndcg_at_k(ranked_ids, grades, NDCG_K),
        recall_at_50=recall_at_k(ranked_ids, wanted, RECALL_K),
        mrr_at_10=mrr_at_k(ranked_ids, wanted, MRR_K),
        first_relevant_rank=first,
        violating_hits=len(broken),
        checked_hits=len(top) if states_constraints else 0,
        violations=broken,
        top=[
            f"{pid} g{grades.get(pid, 0)} {catalog[pid][0].title}"
            for pid in ranked_ids[:SHOWN_HITS]
        ],
    )


def summarise(rows: Sequence[QueryRow]) -> MetricSet:
    """Mean metrics over `rows`; the violation rate is pooled over their checked hits."""
    violating = sum(row.violating_hits for row in rows)
    checked = sum(row.checked_hits for row in rows)
    return MetricSet(
        queries=len(rows),
        ndcg_at_10=mean(row.ndcg_at_10 for row in rows),
        recall_at_50=mean(row.recall_at_50 for row in rows),
        mrr_at_10=mean(row.mrr_at_10 for row in rows),
        violation_rate=rate(violating, checked),
        violating_hits=violating,
        checked_hits=checked,
    )


def mode_report(rows: Sequence[QueryRow]) -> ModeReport:
    groups = group_by(rows, lambda row: row.type)
    order = [str(kind) for kind in QueryType if str(kind) in groups]
    return ModeReport(
        overall=summarise(rows), by_type={name: summarise(groups[name]) for name in order}
    )


def judge_queries(
    queries: Iterable[EvalQuery], listings: Sequence[Listing]
) -> dict[str, dict[str, int]]:
    """Each query's graded relevant products, from its rules over the catalog."""
    return {query.id: judge(query, listings) for query in queries}


def _ranked(env: DemoEnvironment, query: EvalQuery, mode: str) -> list[str]:
    request = SearchRequest(
        query=query.text, limit=RECALL_K, mode=SearchMode(mode), diversify=False
    )
    return [hit.product_id for hit in env.search.search(request).hits]


def run_retrieval_suite(
    env: DemoEnvironment, queries: Sequence[EvalQuery], modes: Sequence[str] = MODES
) -> RetrievalReport:
    """Every query through ProductSearch in every mode, scored against rule-based labels."""
    started = time.perf_counter()
    listings = env.listings()
    catalog = {product.id: (product, supplier) for product, supplier in listings}
    grades = judge_queries(queries, listings)
    mismatches = [
        found
        for query in queries
        if (found := parse_mismatch(query, parse_query(query.text, env.search.vocabulary)))
    ]
    rows = [
        score_query(query, mode, _ranked(env, query, mode), grades[query.id], catalog)
        for mode in modes
        for query in queries
    ]
    by_mode = group_by(rows, lambda row: row.mode)
    return RetrievalReport(
        dataset=DATASET,
        catalog={
            "products": env.manifest.products,
            "searchable": len(listings),
            "seed": env.manifest.seed,
            "today": env.manifest.today.isoformat(),
        },
        embedder=env.embedder.name,
        machine=describe_machine(),
        seconds=round(time.perf_counter() - started, 2),
        modes={mode: mode_report(by_mode[mode]) for mode in modes},
        parse_mismatches=mismatches,
        rows=rows,
    )


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sourcing.eval.retrieval_suite", description=__doc__
    )
    parser.add_argument(
        "--beir",
        type=Path,
        action="append",
        default=[],
        help="also evaluate a real catalog in BEIR layout with a catalog.csv (repeatable)",
    )
    parser.add_argument(
        "--ablation-doc",
        type=Path,
        help="rewrite the ablation section of this Markdown file with the --beir tables",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data/eval"), help="report folder (data/eval)"
    )
    parser.add_argument(
        "--update-baseline", action="store_true", help="write this run as the committed baseline"
    )
    return parser.parse_args(list(argv))


def _print_summary(report: RetrievalReport) -> None:
    for mode, result in report.modes.items():
        overall = result.overall
        print(
            f"{mode:<7} nDCG@10 {overall.ndcg_at_10:.3f}  Recall@50 {overall.recall_at_50:.3f}"
            f"  MRR@10 {overall.mrr_at_10:.3f}  violations@10 {overall.violation_rate:.3f}"
        )
    if report.parse_mismatches:
        print(f"parse_query disagrees with {len(report.parse_mismatches)} queries")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite, write reports, compare with the baseline; 1 on a regression."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    queries = load_queries()
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as tmp:
        env = build_demo_environment(Path(tmp) / "demo")
        try:
            report = run_retrieval_suite(env, queries)
            real_sets = [
                evaluate_set(folder, Path(tmp) / f"real-{number}", env.embedder)
                for number, folder in enumerate(args.beir)
            ]
            report = report.model_copy(update={"real_sets": real_sets})
        finally:
            env.close()
    json_path, md_path = write_reports(report, args.out)
    _print_summary(report)
    print(f"reports: {json_path} {md_path}")
    if args.update_baseline:
        print(f"baseline written to {write_baseline(report)}")
    if args.ablation_doc is not None:
        write_ablation(args.ablation_doc, report)
        print(f"ablation tables written into {args.ablation_doc}")
    regressions = compare_to_baseline(report, load_baseline())
    regressions += [line for real in report.real_sets for line in below_baselines(real)]
    for line in regressions:
        print(f"REGRESSION: {line}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
