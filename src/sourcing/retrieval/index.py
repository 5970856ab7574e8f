"""The product index seam over Qdrant: an embedded Edge shard, or a qdrant-client collection."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import qdrant_edge as edge
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from sourcing.domain.errors import ConfigurationError, ServiceUnavailableError
from sourcing.retrieval.documents import DOCUMENT_FORMAT
from sourcing.retrieval.lexical import SparseVector

DENSE = "dense"
SPARSE = "sparse"
_POINT_NAMESPACE = uuid.UUID("6f0d1c1e-4f5a-4bb4-9a43-2a1c5e0f9b10")
_UPSERT_BATCH = 1000
_PAGE = 1000
# Below this, exact search is a few ms; above it HNSW (optimize(), minutes at 100k) pays off.
HNSW_MIN_PRODUCTS = 20_000


class FieldKind(StrEnum):
    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"


# Only the fields search filters on are indexed. Flags are 0/1 integers: qdrant-edge-py 0.9.0
# matches no point for MatchValue(True) on a bool field.
FILTER_FIELDS: dict[str, FieldKind] = {
    "product_id": FieldKind.KEYWORD,
    "supplier_id": FieldKind.KEYWORD,
    "category": FieldKind.KEYWORD,
    "regions": FieldKind.KEYWORD,
    "supplier_kind": FieldKind.KEYWORD,
    "price_cents": FieldKind.FLOAT,
    "min_price_cents": FieldKind.FLOAT,
    "moq": FieldKind.INTEGER,
    "lead_time_days": FieldKind.INTEGER,
    "customisable": FieldKind.INTEGER,
    "in_stock": FieldKind.INTEGER,
}


class IndexMeta(BaseModel):
    """What the stored vectors were made with; a mismatch means the index must be rebuilt."""

    model_config = ConfigDict(frozen=True)

    embedder: str
    dim: int
    documents: str = DOCUMENT_FORMAT
    # The catalog's mean weighted term count, measured when the index is first filled:
    # BM25's length normalisation. A statistic of the index, not part of its identity.
    average_tokens: float | None = None

    def identity(self) -> dict[str, Any]:
        return self.model_dump(exclude={"average_tokens"})


class IndexMismatchError(ConfigurationError):
    code = "index_mismatch"


class IndexBusyError(ConfigurationError):
    """The embedded index takes a file lock: one process owns it."""

    code = "index_busy"


@dataclass(frozen=True)
class IndexDoc:
    product_id: str
    dense: NDArray[np.float32]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class IndexHit:
    product_id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class InRange:
    key: str
    gte: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class AnyOf:
    key: str
    values: tuple[str, ...]


Condition = InRange | AnyOf


def _doc(payload: dict[str, Any], dense: Sequence[float], sparse: SparseVector) -> IndexDoc:
    product_id = str(payload.pop("product_id"))
    return IndexDoc(product_id, np.asarray(dense, dtype=np.float32), sparse, payload)


def point_id(product_id: str) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, product_id))


class ProductIndex(Protocol):
    """One collection of products: dense + sparse vectors and the payload filters need."""

    @property
    def meta(self) -> IndexMeta: ...

    def upsert(self, docs: Sequence[IndexDoc]) -> None: ...

    def delete(self, product_ids: Sequence[str]) -> None: ...

    def search(
        self,
        vector: NDArray[np.float32] | SparseVector,
        *,
        conditions: Sequence[Condition] = (),
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[IndexHit]:
        """Nearest products by the dense or the sparse vector; fusion is the caller's (pure)."""
        ...

    def count(self, conditions: Sequence[Condition] = ()) -> int: ...

    def record_average_tokens(self, value: float) -> None:
        """Store the catalog's mean document length with the index (see IndexMeta)."""
        ...

    def versions(self) -> dict[str, str]:
        """Every indexed product id with the listing version it was indexed at."""
        ...

    def export(self) -> Iterator[IndexDoc]:
        """Every point with its vectors and payload, paged (for backups; `upsert` takes it back)."""
        ...

    def close(self) -> None: ...


def _check_meta(found: IndexMeta, wanted: IndexMeta, where: str) -> IndexMeta:
    """The stored meta, where it identifies the same vectors as `wanted`."""
    if found.identity() != wanted.identity():
        raise IndexMismatchError(
            f"the index at {where} was built with {found.embedder} ({found.dim}-dim, documents "
            f"{found.documents}) but this service uses {wanted.embedder} ({wanted.dim}-dim, "
            f"documents {wanted.documents}); run `sourcing index rebuild`",
            found=found.model_dump(),
            wanted=wanted.model_dump(),
        )
    return found


class EdgeProductIndex:
    """Qdrant's own engine in-process (qdrant-edge-py), on disk; one process owns the path."""

    _SCHEMA: ClassVar[dict[FieldKind, Any]] = {
        FieldKind.KEYWORD: edge.PayloadSchemaType.Keyword,
        FieldKind.INTEGER: edge.PayloadSchemaType.Integer,
        FieldKind.FLOAT: edge.PayloadSchemaType.Float,
    }

    def __init__(self, shard: Any, meta: IndexMeta, meta_path: Path) -> None:
        self._shard = shard
        self._meta = meta
        self._meta_path = meta_path

    @staticmethod
    def stored_meta(path: Path) -> IndexMeta | None:
        """What the shard at `path` was built with; None where there is none."""
        meta_path = path.with_suffix(".meta.json")
        if not path.exists() or not meta_path.exists():
            return None
        return IndexMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))

    @classmethod
    def open(cls, path: Path, meta: IndexMeta, *, recreate: bool = False) -> EdgeProductIndex:
        """Open the shard at `path`, creating it when missing (or when `recreate`)."""
        meta_path = path.with_suffix(".meta.json")
        if recreate and path.exists():
            shutil.rmtree(path)
        if path.exists():
            found = IndexMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))
            stored = _check_meta(found, meta, str(path))
            try:
                return cls(edge.EdgeShard.load(str(path)), stored, meta_path)
            except Exception as exc:
                if "WouldBlock" not in str(exc):
                    raise
                raise IndexBusyError(
                    f"the index at {path} is open in another process (a running `sourcing "
                    "serve`?); stop it, or point SOURCING_QDRANT_URL at a Qdrant server to share "
                    "one index between processes"
                ) from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        config = edge.EdgeConfig(
            vectors={DENSE: edge.EdgeVectorParams(size=meta.dim, distance=edge.Distance.Cosine)},
            sparse_vectors={SPARSE: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
        )
        shard = edge.EdgeShard.create(str(path), config)
        for key, kind in FILTER_FIELDS.items():
            shard.update(edge.UpdateOperation.create_field_index(key, cls._SCHEMA[kind]))
        meta_path.write_text(meta.model_dump_json(), encoding="utf-8")
        return cls(shard, meta, meta_path)

    @property
    def meta(self) -> IndexMeta:
        return self._meta

    def record_average_tokens(self, value: float) -> None:
        self._meta = self._meta.model_copy(update={"average_tokens": value})
        self._meta_path.write_text(self._meta.model_dump_json(), encoding="utf-8")

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        for start in range(0, len(docs), _UPSERT_BATCH):
            points = [
                edge.Point(
                    point_id(doc.product_id),
                    {DENSE: doc.dense.tolist(), SPARSE: edge.SparseVector(*doc.sparse)},
                    doc.payload | {"product_id": doc.product_id},
                )
                for doc in docs[start : start + _UPSERT_BATCH]
            ]
            self._shard.update(edge.UpdateOperation.upsert_points(points))

    def delete(self, product_ids: Sequence[str]) -> None:
        if product_ids:
            ids: list[int | uuid.UUID | str] = [point_id(product_id) for product_id in product_ids]
            self._shard.update(edge.UpdateOperation.delete_points(ids))

    @staticmethod
    def _filter(conditions: Sequence[Condition]) -> Any:
        if not conditions:
            return None
        must: list[Any] = []
        for condition in conditions:
            if isinstance(condition, InRange):
                bounds = edge.RangeFloat(gte=condition.gte, lte=condition.lte)
                must.append(edge.FieldCondition(condition.key, range=bounds))
            else:
                match = edge.MatchAny(list(condition.values))
                must.append(edge.FieldCondition(condition.key, match=match))
        return edge.Filter(must=must)

    def search(
        self,
        vector: NDArray[np.float32] | SparseVector,
        *,
        conditions: Sequence[Condition] = (),
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[IndexHit]:
        if isinstance(vector, SparseVector):
            query = edge.Query.Nearest(edge.SparseVector(*vector), using=SPARSE)
        else:
            query = edge.Query.Nearest(vector.tolist(), using=DENSE)
        request = edge.QueryRequest(
            limit=limit,
            query=query,
            filter=self._filter(conditions),
            score_threshold=score_threshold,
            with_payload=True,
        )
        return [
            IndexHit(point.payload["product_id"], float(point.score), dict(point.payload))
            for point in self._shard.query(request)
        ]

    def count(self, conditions: Sequence[Condition] = ()) -> int:
        return int(
            self._shard.count(edge.CountRequest(exact=True, filter=self._filter(conditions)))
        )

    def versions(self) -> dict[str, str]:
        found: dict[str, str] = {}
        offset = None
        while True:
            records, offset = self._shard.scroll(
                edge.ScrollRequest(offset=offset, limit=1000, with_payload=True)
            )
            for record in records:
                found[record.payload["product_id"]] = str(record.payload.get("version", ""))
            if offset is None:
                return found

    def export(self) -> Iterator[IndexDoc]:
        offset = None
        while True:
            records, offset = self._shard.scroll(
                edge.ScrollRequest(offset=offset, limit=_PAGE, with_payload=True, with_vector=True)
            )
            for record in records:
                sparse = record.vector[SPARSE]
                yield _doc(
                    dict(record.payload),
                    record.vector[DENSE],
                    SparseVector(list(sparse.indices), list(sparse.values)),
                )
            if offset is None:
                return

    def optimize(self) -> None:
        """Build HNSW; blocks (138 s for 100k 512-dim points on 2 cores) the first time, then
        only indexes what changed; so never on a request path."""
        self._shard.optimize()

    def close(self) -> None:
        self._shard.flush()
        self._shard.close()


class ClientProductIndex:
    """A collection on a Qdrant server or cluster through qdrant-client (`:memory:` in tests)."""

    _SCHEMA: ClassVar[dict[FieldKind, Any]] = {
        FieldKind.KEYWORD: qm.PayloadSchemaType.KEYWORD,
        FieldKind.INTEGER: qm.PayloadSchemaType.INTEGER,
        FieldKind.FLOAT: qm.PayloadSchemaType.FLOAT,
    }

    def __init__(self, client: QdrantClient, collection: str, meta: IndexMeta) -> None:
        self._client = client
        self._collection = collection
        self._meta = meta

    @staticmethod
    def stored_meta(client: QdrantClient, collection: str) -> IndexMeta | None:
        if not client.collection_exists(collection):
            return None
        return IndexMeta.model_validate(client.get_collection(collection).config.metadata or {})

    @classmethod
    def open(
        cls, client: QdrantClient, collection: str, meta: IndexMeta, *, recreate: bool = False
    ) -> ClientProductIndex:
        if recreate and client.collection_exists(collection):
            client.delete_collection(collection)
        if client.collection_exists(collection):
            stored = client.get_collection(collection).config.metadata or {}
            found = _check_meta(IndexMeta.model_validate(stored), meta, f"collection {collection}")
            return cls(client, collection, found)
        client.create_collection(
            collection,
            vectors_config={DENSE: qm.VectorParams(size=meta.dim, distance=qm.Distance.COSINE)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
            metadata=meta.model_dump(),
        )
        for key, kind in FILTER_FIELDS.items():
            client.create_payload_index(collection, key, cls._SCHEMA[kind])
        return cls(client, collection, meta)

    @property
    def meta(self) -> IndexMeta:
        return self._meta

    def record_average_tokens(self, value: float) -> None:
        self._meta = self._meta.model_copy(update={"average_tokens": value})
        self._client.update_collection(self._collection, metadata=self._meta.model_dump())

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        for start in range(0, len(docs), _UPSERT_BATCH):
            points = [
                qm.PointStruct(
                    id=point_id(doc.product_id),
                    vector={
                        DENSE: doc.dense.tolist(),
                        SPARSE: qm.SparseVector(
                            indices=doc.sparse.indices, values=doc.sparse.values
                        ),
                    },
                    payload=doc.payload | {"product_id": doc.product_id},
                )
                for doc in docs[start : start + _UPSERT_BATCH]
            ]
            self._client.upsert(self._collection, points=points)

    def delete(self, product_ids: Sequence[str]) -> None:
        if product_ids:
            selector = qm.PointIdsList(points=[point_id(pid) for pid in product_ids])
            self._client.delete(self._collection, points_selector=selector)

    @staticmethod
    def _filter(conditions: Sequence[Condition]) -> qm.Filter | None:
        if not conditions:
            return None
        must: list[qm.Condition] = []
        for condition in conditions:
            if isinstance(condition, InRange):
                bounds = qm.Range(gte=condition.gte, lte=condition.lte)
                must.append(qm.FieldCondition(key=condition.key, range=bounds))
            else:
                match = qm.MatchAny(any=list(condition.values))
                must.append(qm.FieldCondition(key=condition.key, match=match))
        return qm.Filter(must=must)

    def search(
        self,
        vector: NDArray[np.float32] | SparseVector,
        *,
        conditions: Sequence[Condition] = (),
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[IndexHit]:
        query: Any
        if isinstance(vector, SparseVector):
            query, using = qm.SparseVector(indices=vector.indices, values=vector.values), SPARSE
        else:
            query, using = vector.tolist(), DENSE
        response = self._client.query_points(
            self._collection,
            query=query,
            using=using,
            query_filter=self._filter(conditions),
            limit=limit,
            score_threshold=score_threshold,
            with_payload=True,
        )
        return [
            IndexHit(
                str((point.payload or {})["product_id"]), point.score, dict(point.payload or {})
            )
            for point in response.points
        ]

    def count(self, conditions: Sequence[Condition] = ()) -> int:
        result = self._client.count(
            self._collection, count_filter=self._filter(conditions), exact=True
        )
        return result.count

    def versions(self) -> dict[str, str]:
        found: dict[str, str] = {}
        offset = None
        while True:
            records, offset = self._client.scroll(
                self._collection, limit=1000, offset=offset, with_payload=["product_id", "version"]
            )
            for record in records:
                payload = record.payload or {}
                found[str(payload["product_id"])] = str(payload.get("version", ""))
            if offset is None:
                return found

    def export(self) -> Iterator[IndexDoc]:
        offset = None
        while True:
            records, offset = self._client.scroll(
                self._collection, limit=_PAGE, offset=offset, with_payload=True, with_vectors=True
            )
            for record in records:
                vectors: Any = record.vector
                sparse = vectors[SPARSE]
                yield _doc(
                    dict(record.payload or {}),
                    vectors[DENSE],
                    SparseVector(list(sparse.indices), list(sparse.values)),
                )
            if offset is None:
                return

    def close(self) -> None:
        self._client.close()


def index_size_bytes(path: Path) -> int:
    """Size on disk of an Edge index, write-ahead log included."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


# A Qdrant server that is down, restarting or lost the collection: not the caller's doing.
INDEX_UNAVAILABLE_ERRORS = (ResponseHandlingException, UnexpectedResponse)


def index_unavailable(exc: Exception) -> ServiceUnavailableError:
    """The 503 for one of INDEX_UNAVAILABLE_ERRORS (the server's text goes to the log)."""
    return ServiceUnavailableError(
        "the search index is unavailable; try again shortly",
        retry_after_s=5,
        reason=type(exc).__name__,
    )
