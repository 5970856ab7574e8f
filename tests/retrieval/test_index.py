"""Contract tests: the same cases on the Edge shard and on qdrant-client's `:memory:` mode."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from sourcing.retrieval.index import (
    AnyOf,
    ClientProductIndex,
    EdgeProductIndex,
    IndexBusyError,
    IndexDoc,
    IndexMeta,
    IndexMismatchError,
    InRange,
    ProductIndex,
)
from sourcing.retrieval.lexical import document_vector, query_vector

META = IndexMeta(embedder="test-random", dim=16)
TITLES = {
    "p1": (
        "不锈钢保温杯 大容量",
        {"regions": ["浙江", "义乌", "义乌小商品"], "price_cents": 1500.0},
    ),
    "p2": ("硅胶折叠水杯 户外", {"regions": ["浙江", "义乌", "义乌小商品"], "price_cents": 800.0}),
    "p3": (
        "真皮手提包 女士",
        {"regions": ["广东", "广州", "广州白云皮具"], "price_cents": 12000.0},
    ),
    "p4": ("蓝牙耳机 TWS 降噪", {"regions": ["广东", "深圳", "深圳3C"], "price_cents": 4500.0}),
    "p5": ("儿童保温杯 卡通", {"regions": ["广东", "汕头", "汕头澄海玩具"], "price_cents": 2200.0}),
}


def _vector(seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = np.random.default_rng(seed).normal(size=META.dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _docs() -> list[IndexDoc]:
    return [
        IndexDoc(
            product_id=pid,
            dense=_vector(number),
            sparse=document_vector(title),
            payload=payload | {"in_stock": number % 2, "category": "日用百货", "moq": number},
        )
        for number, (pid, (title, payload)) in enumerate(TITLES.items(), start=1)
    ]


@pytest.fixture(scope="module")
def empty_edge_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty shard made once: creating its payload indexes costs ~0.2 s each."""
    path = tmp_path_factory.mktemp("edge") / "products"
    EdgeProductIndex.open(path, META).close()
    return path


def _copy_index(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    shutil.copy(template.with_suffix(".meta.json"), target.with_suffix(".meta.json"))
    return target


@pytest.fixture(params=["edge", "client"])
def index(
    request: pytest.FixtureRequest, tmp_path: Path, empty_edge_index: Path
) -> Iterator[ProductIndex]:
    opened: ProductIndex
    if request.param == "edge":
        path = _copy_index(empty_edge_index, tmp_path / "products")
        opened = EdgeProductIndex.open(path, META)
    else:
        opened = ClientProductIndex.open(QdrantClient(":memory:"), "products", META)
    opened.upsert(_docs())
    yield opened
    opened.close()


def test_upserting_again_updates_in_place(index: ProductIndex) -> None:
    index.upsert(_docs()[:2])
    assert index.count() == 5
    assert set(index.versions()) == set(TITLES)


def test_delete_removes_products(index: ProductIndex) -> None:
    index.delete(["p1", "p3"])
    assert set(index.versions()) == {"p2", "p4", "p5"}


def test_filters_on_range_keyword_and_flag(index: ProductIndex) -> None:
    assert index.count([InRange("price_cents", lte=2200)]) == 3
    assert index.count([AnyOf("regions", ("义乌",))]) == 2
    assert index.count([AnyOf("regions", ("深圳", "汕头"))]) == 2
    assert index.count([InRange("in_stock", gte=1)]) == 3
    both = [AnyOf("regions", ("广东",)), InRange("price_cents", gte=3000)]
    assert index.count(both) == 2


def test_dense_search_finds_the_nearest_vector(index: ProductIndex) -> None:
    hits = index.search(_vector(3), limit=3)
    assert hits[0].product_id == "p3"
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)


def test_sparse_search_ranks_shared_words(index: ProductIndex) -> None:
    hits = index.search(query_vector("保温杯"), limit=5)
    assert {hit.product_id for hit in hits[:2]} == {"p1", "p5"}


def test_search_never_breaks_the_filter(index: ProductIndex) -> None:
    conditions = [InRange("price_cents", lte=2000)]
    for vector in (_vector(5), query_vector("保温杯")):
        hits = index.search(vector, conditions=conditions, limit=5)
        assert {hit.product_id for hit in hits} <= {"p1", "p2"}


def test_score_threshold_drops_weak_matches(index: ProductIndex) -> None:
    hits = index.search(_vector(3), limit=5, score_threshold=0.99)
    assert [hit.product_id for hit in hits] == ["p3"]


def test_edge_index_persists_and_detects_another_embedder(
    tmp_path: Path, empty_edge_index: Path
) -> None:
    path = _copy_index(empty_edge_index, tmp_path / "products")
    first = EdgeProductIndex.open(path, META)
    first.upsert(_docs())
    first.close()

    reopened = EdgeProductIndex.open(path, META)
    assert reopened.count() == 5
    reopened.close()
    with pytest.raises(IndexMismatchError, match="sourcing index rebuild"):
        EdgeProductIndex.open(path, IndexMeta(embedder="other", dim=16))
    with pytest.raises(IndexMismatchError, match="documents old-format"):
        EdgeProductIndex.open(path, META.model_copy(update={"documents": "old-format"}))
    rebuilt = EdgeProductIndex.open(path, IndexMeta(embedder="other", dim=8), recreate=True)
    assert rebuilt.count() == 0
    rebuilt.close()


def test_a_second_process_gets_a_clear_error(tmp_path: Path, empty_edge_index: Path) -> None:
    path = _copy_index(empty_edge_index, tmp_path / "products")
    owner = EdgeProductIndex.open(path, META)
    with pytest.raises(IndexBusyError, match="open in another process"):
        EdgeProductIndex.open(path, META)
    owner.close()


def test_client_index_detects_another_embedder() -> None:
    client = QdrantClient(":memory:")
    ClientProductIndex.open(client, "products", META)
    with pytest.raises(IndexMismatchError):
        ClientProductIndex.open(client, "products", IndexMeta(embedder="other", dim=16))


def test_export_gives_back_every_point_with_vectors_and_payload(index: ProductIndex) -> None:
    exported = {doc.product_id: doc for doc in index.export()}
    assert set(exported) == set(TITLES)
    for original in _docs():
        doc = exported[original.product_id]
        assert doc.payload == original.payload  # product_id travels as the doc's id, not payload
        assert doc.sparse.indices == original.sparse.indices
        assert doc.sparse.values == pytest.approx(original.sparse.values, rel=1e-6)
        # Cosine collections store normalised vectors; ours are unit length already.
        np.testing.assert_allclose(doc.dense, original.dense, atol=1e-6)


def test_exported_points_rebuild_an_identical_index(index: ProductIndex) -> None:
    copy = ClientProductIndex.open(QdrantClient(":memory:"), "copy", META)
    copy.upsert(list(index.export()))
    assert copy.versions() == index.versions()
    for vector in (_vector(4), query_vector("保温杯")):
        expected = [(hit.product_id, round(hit.score, 4)) for hit in index.search(vector, limit=5)]
        found = [(hit.product_id, round(hit.score, 4)) for hit in copy.search(vector, limit=5)]
        assert found == expected
    copy.close()


def test_stored_meta_reads_what_an_index_was_built_with(
    tmp_path: Path, empty_edge_index: Path
) -> None:
    assert EdgeProductIndex.stored_meta(tmp_path / "absent") is None
    assert EdgeProductIndex.stored_meta(_copy_index(empty_edge_index, tmp_path / "p")) == META
    client = QdrantClient(":memory:")
    assert ClientProductIndex.stored_meta(client, "products") is None
    ClientProductIndex.open(client, "products", META)
    assert ClientProductIndex.stored_meta(client, "products") == META
