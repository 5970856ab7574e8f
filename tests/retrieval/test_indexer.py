"""Index drift: missing, stale and orphaned points, each made on purpose, found and repaired."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import SyncMode
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import EdgeProductIndex, IndexDoc, IndexMeta
from sourcing.retrieval.lexical import DEFAULT_AVERAGE_TOKENS, document_vector
from tests.catalog_sync.feedfiles import write_jsonl
from tests.retrieval.demo_search import Demo


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("drift"), use_embedder, products=80)
    yield demo
    demo.close()


def test_a_fresh_index_has_no_drift(demo: Demo) -> None:
    drift = demo.indexer.drift()
    assert (drift.missing, drift.stale, drift.orphaned) == ([], [], [])


def test_each_kind_of_drift_is_reported_then_repaired(demo: Demo) -> None:
    demo.indexer.index.delete(["p-000003", "p-000004"])  # missing
    product, _ = demo.product("p-000005")
    renamed = {
        "id": product.id,
        "title": "量子波动速读神器",
        "supplier_id": product.supplier_id,
        "category": product.category_path,
        "price": "19.90",
    }
    delisted = {"id": "p-000006", "title": "x", "status": "delisted"}
    feed = write_jsonl(demo.feeds / "delta.jsonl", [renamed, delisted])
    sync_feed(demo.engine, feed, mode=SyncMode.DELTA)  # no indexer: stale and delisted
    ghost = IndexDoc(
        "p-999999", np.ones(demo.indexer.embedder.dim, np.float32), document_vector("杯"), {}
    )
    demo.indexer.index.upsert([ghost])  # a point whose product never existed

    drift = demo.indexer.drift()
    assert drift.missing == ["p-000003", "p-000004"]
    assert drift.stale == ["p-000005"]
    assert drift.orphaned == ["p-000006", "p-999999"]
    assert drift.total == 5

    report = demo.indexer.repair(drift)
    assert (report.embedded, report.removed) == (3, 2)
    assert demo.indexer.drift().total == 0
    assert demo.run("量子波动速读神器").hits[0].product_id == "p-000005"
    assert demo.indexer.catch_up().embedded == 0


def test_the_first_fill_measures_the_catalogs_average_length_and_the_index_keeps_it(
    demo: Demo, use_embedder: Embedder
) -> None:
    measured = demo.indexer.index.meta.average_tokens
    assert measured is not None
    assert measured != DEFAULT_AVERAGE_TOKENS
    path = demo.environment.workdir / "index"
    demo.indexer.index.close()
    stored = EdgeProductIndex.stored_meta(path)
    assert stored is not None
    assert stored.average_tokens == measured
    # a service asking for the same vectors opens it although it names no statistic
    reopened = EdgeProductIndex.open(
        path, IndexMeta(embedder=use_embedder.name, dim=use_embedder.dim)
    )
    demo.environment.index = reopened
    demo.indexer.index = reopened
    assert reopened.meta.average_tokens == measured
    assert demo.indexer.average_tokens() == measured
