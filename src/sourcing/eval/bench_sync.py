"""Benchmark: catalog sync throughput of a demo feed, against a row-at-a-time ORM baseline."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.feeds import read_feed
from sourcing.catalog_sync.normalise import normalise_product
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import make_engine, migrate
from sourcing.domain.tables import Product, Sku
from sourcing.eval.machine import describe_machine


def _fresh_engine(folder: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{folder / name}")
    migrate(engine)
    return engine


def _row_at_a_time(engine: Engine, feed: Path, limit: int) -> float:
    """The obvious ORM implementation: normalise, session.merge each row, commit each row."""
    started = time.perf_counter()
    with Session(engine) as session:
        for count, raw in enumerate(read_feed(feed)):
            if count == limit:
                break
            record = normalise_product(raw.data)
            values = record.table_values() | {"content_hash": record.content_hash()}
            values.pop("supplier_id")  # the baseline skips supplier checks, to its advantage
            session.merge(Product(**values))
            for sku in record.skus:
                session.merge(Sku(product_id=record.id, **sku.model_dump()))
            session.commit()
    return limit / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-products", type=int, default=3_000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        manifest = generate_demo(
            folder / "feeds", products=args.products, seed=7, today=date(2026, 11, 25)
        )
        generated = time.perf_counter() - started
        first_runs, rerun_runs = [], []
        for repeat in range(args.repeats):
            engine = _fresh_engine(folder, f"run{repeat}.db")
            sync_feed(engine, manifest.suppliers_path, kind="suppliers")
            first = sync_feed(engine, manifest.products_path, batch_size=1000)
            again = sync_feed(engine, manifest.products_path, batch_size=1000)
            assert first.added == args.products
            assert again.unchanged == args.products
            first_runs.append(first.rows_per_second)
            rerun_runs.append(again.rows_per_second)
            engine.dispose()
        baseline = _row_at_a_time(
            _fresh_engine(folder, "baseline.db"), manifest.products_path, args.baseline_products
        )

    ours = statistics.median(first_runs)
    print(f"machine: {describe_machine()}")
    print(f"demo feed of {args.products:,} products generated in {generated:.1f} s")
    print(f"{'workload':<48} {'median rows/s':>14}")
    print(f"{'sync, first load (SQLite, batches of 1000)':<48} {ours:>14,.0f}")
    print(f"{'sync, unchanged re-run (SQLite)':<48} {statistics.median(rerun_runs):>14,.0f}")
    print(f"{'baseline: ORM merge + commit per row':<48} {baseline:>14,.0f}")
    print(f"first load vs baseline: {ours / baseline:.1f}x  (runs: {args.repeats})")


if __name__ == "__main__":
    main()
