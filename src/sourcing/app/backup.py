"""Backup and restore of the database and the search index: JSONL files beside a manifest."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from sourcing.domain.dump import (
    BadBackupError,
    TargetNotEmptyError,
    current_revision,
    load_tables,
    schema_tables,
    snapshot,
    table_rows,
)
from sourcing.domain.errors import ConfigurationError, ConflictError
from sourcing.retrieval.index import IndexDoc, IndexMeta, ProductIndex
from sourcing.retrieval.lexical import SparseVector

FORMAT: Literal["sourcing-backup/1"] = "sourcing-backup/1"
MANIFEST = "manifest.json"
INDEX_FILE = "index/points.jsonl"
_UPSERT_BATCH = 1000


class BackupFile(BaseModel):
    name: str
    path: str  # relative to the backup folder
    rows: int
    bytes: int
    sha256: str


class IndexBackup(BackupFile):
    meta: IndexMeta


class BackupManifest(BaseModel):
    format: Literal["sourcing-backup/1"] = FORMAT
    created_at: datetime
    revision: str | None  # the Alembic revision of the schema the rows fit
    database: str  # the engine it came from; any engine can take it back
    tables: list[BackupFile]  # in load order: parents before children
    index: IndexBackup | None = None


class RestoreReport(BaseModel):
    rows: dict[str, int]
    points: int = 0
    seconds: float = 0.0


class _HashingWriter:
    """Writes lines and keeps the count, size and sha256 the manifest records."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self.rows = 0
        self.bytes = 0

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        self._handle.write(line)
        self._digest.update(line)
        self.rows += 1
        self.bytes += len(line)

    def entry(self, name: str, path: str) -> BackupFile:
        return BackupFile(
            name=name, path=path, rows=self.rows, bytes=self.bytes, sha256=self._digest.hexdigest()
        )


def _point_record(doc: IndexDoc) -> dict[str, Any]:
    dense = base64.b64encode(doc.dense.astype("<f4").tobytes()).decode("ascii")
    sparse = {"indices": list(doc.sparse.indices), "values": list(doc.sparse.values)}
    return {"id": doc.product_id, "dense_f32le": dense, "sparse": sparse, "payload": doc.payload}


def _point_doc(record: dict[str, Any]) -> IndexDoc:
    dense = np.frombuffer(base64.b64decode(record["dense_f32le"]), dtype="<f4")
    sparse = SparseVector(list(record["sparse"]["indices"]), list(record["sparse"]["values"]))
    return IndexDoc(str(record["id"]), dense.astype(np.float32), sparse, dict(record["payload"]))


def write_backup(engine: Engine, index: ProductIndex | None, out: Path) -> BackupManifest:
    """Dump every table from one consistent snapshot, then the index; the manifest comes last,
    so a backup cut short has none and is refused."""
    if out.exists() and any(out.iterdir()):
        raise ConflictError(f"{out} is not empty; back up into a new folder", path=str(out))
    (out / "db").mkdir(parents=True, exist_ok=True)
    tables: list[BackupFile] = []
    with snapshot(engine) as connection:
        revision = current_revision(connection)
        for table in schema_tables():
            relative = f"db/{table.name}.jsonl"
            with (out / relative).open("wb") as handle:
                writer = _HashingWriter(handle)
                for row in table_rows(connection, table):
                    writer.write(row)
            tables.append(writer.entry(table.name, relative))
    index_entry = None
    if index is not None:
        (out / "index").mkdir(exist_ok=True)
        with (out / INDEX_FILE).open("wb") as handle:
            writer = _HashingWriter(handle)
            for doc in index.export():
                writer.write(_point_record(doc))
        entry = writer.entry("points", INDEX_FILE)
        index_entry = IndexBackup(**entry.model_dump(), meta=index.meta)
    manifest = BackupManifest(
        created_at=datetime.now(UTC),
        revision=revision,
        database=engine.dialect.name,
        tables=tables,
        index=index_entry,
    )
    partial = out / f"{MANIFEST}.partial"
    partial.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    partial.replace(out / MANIFEST)
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> BackupManifest:
    """The manifest, after checking that every file it lists is there, whole and unchanged."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BadBackupError(
            f"no {MANIFEST} in {folder}: not a backup, or one that did not finish",
            path=str(folder),
        )
    try:
        manifest = BackupManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BadBackupError(f"{path} is not a {FORMAT} manifest: {exc}") from exc
    files: list[BackupFile] = [*manifest.tables, *([manifest.index] if manifest.index else [])]
    for entry in files:
        file = folder / entry.path
        if not file.is_file():
            raise BadBackupError(f"{file} is missing from the backup", file=entry.path)
        size = file.stat().st_size
        if size != entry.bytes:
            raise BadBackupError(
                f"{file} is truncated or altered: {size} bytes, the manifest says {entry.bytes}",
                file=entry.path,
            )
        if _sha256(file) != entry.sha256:
            raise BadBackupError(
                f"{file} is corrupted: its sha256 differs from the manifest's", file=entry.path
            )
    return manifest


def _records(folder: Path, entry: BackupFile) -> Iterator[tuple[str, dict[str, Any]]]:
    count = 0
    with (folder / entry.path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{entry.path}:{number}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise BadBackupError(f"{where}: not a JSON line: {exc}") from exc
            if not isinstance(record, dict):
                raise BadBackupError(f"{where}: not a JSON object")
            count += 1
            yield where, record
    if count != entry.rows:
        raise BadBackupError(f"{entry.path} has {count} rows, the manifest says {entry.rows}")


def check_index_target(manifest: BackupManifest, index: ProductIndex, *, force: bool) -> None:
    """Refuse, before anything is written, an index of another embedder or one in use."""
    if manifest.index is not None and manifest.index.meta.identity() != index.meta.identity():
        found, wanted = manifest.index.meta, index.meta
        raise ConfigurationError(
            f"the backup's index was made with {found.embedder} ({found.dim}-dim, documents "
            f"{found.documents}) but this service uses {wanted.embedder} ({wanted.dim}-dim, "
            f"documents {wanted.documents}); set SOURCING_EMBEDDER to match, or restore with "
            "--no-index and run `sourcing index rebuild`",
            backup=found.model_dump(),
            configured=wanted.model_dump(),
        )
    if not force and index.count():
        raise TargetNotEmptyError(
            "the target index is not empty; pass --force to replace it", points=index.count()
        )


def restore_backup(
    engine: Engine,
    folder: Path,
    index: ProductIndex | None,
    *,
    force: bool = False,
    manifest: BackupManifest | None = None,
) -> RestoreReport:
    """Load a checked backup into an empty database (one transaction) and then the index.

    The database is the source of truth: an index that fails half-way is repaired by
    `sourcing index catch-up` (the server runs it on start). `manifest`: one `read_manifest`
    already checked (every file's sha256), so the files are not read twice.
    """
    started = time.perf_counter()
    manifest = manifest or read_manifest(folder)
    if index is not None:
        check_index_target(manifest, index, force=force)
    sources = ((entry.name, _records(folder, entry)) for entry in manifest.tables)
    rows = load_tables(engine, sources, revision=manifest.revision, replace=force)
    report = RestoreReport(rows=rows)
    if index is not None and manifest.index is not None:
        if force:
            index.delete(sorted(index.versions()))
        batch: list[IndexDoc] = []
        for where, record in _records(folder, manifest.index):
            try:
                batch.append(_point_doc(record))
            except (KeyError, TypeError, ValueError) as exc:
                raise BadBackupError(f"{where}: not an index point: {exc}") from exc
            if len(batch) == _UPSERT_BATCH:
                index.upsert(batch)
                report.points += len(batch)
                batch = []
        index.upsert(batch)
        report.points += len(batch)
        if manifest.index.meta.average_tokens is not None:
            index.record_average_tokens(manifest.index.meta.average_tokens)
    report.seconds = time.perf_counter() - started
    return report
