"""Backup and restore between SQLite and PostgreSQL, with the index; damaged backups refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.app.backup import MANIFEST, read_manifest, restore_backup, write_backup
from sourcing.app.cli import main
from sourcing.app.container import SearchServices, build_engine, build_search
from sourcing.app.settings import Settings
from sourcing.domain.dump import (
    BadBackupError,
    TargetNotEmptyError,
    row_counts,
    schema_tables,
    snapshot,
    table_rows,
)
from sourcing.domain.errors import ConfigurationError
from sourcing.domain.kinds import ApiRole, MessageRole
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.index import EdgeProductIndex, IndexMeta
from sourcing.retrieval.search import SearchRequest
from tests.app.demo_data import load_demo

QUERIES = ("义乌 收纳盒", "stainless steel thermos", "宠物 牵引绳", "手机壳")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _search(settings: Settings, engine: Engine, embedder: Embedder) -> SearchServices:
    return build_search(settings, engine, embedder=embedder)


def _fill(settings: Settings, embedder: Embedder) -> tuple[Engine, SearchServices]:
    """A demo catalog with reference data, an API key and a conversation, indexed."""
    engine = load_demo(settings, products=150)
    with Session(engine) as session:
        ApiKeyRepository(session).create(ApiRole.BUYER, "b-0001")
        conversations = ConversationRepository(session)
        conversation = conversations.create("buyer:b-0001", "收纳盒")
        conversations.add_message("buyer:b-0001", conversation.id, MessageRole.USER, "收纳盒")
        answer = conversations.add_message(
            "buyer:b-0001", conversation.id, MessageRole.ASSISTANT, "这几款", cards=[{"a": 1}]
        )
        conversations.add_feedback("buyer:b-0001", answer.id, 1)
        session.commit()
    search = _search(settings, engine, embedder)
    search.indexer.catch_up()
    return engine, search


def _all_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with snapshot(engine) as connection:
        return {table.name: list(table_rows(connection, table)) for table in schema_tables()}


def _top_hits(search: SearchServices) -> list[list[str]]:
    return [
        [hit.product_id for hit in search.search.search(SearchRequest(query=query)).hits]
        for query in QUERIES
    ]


@pytest.mark.parametrize(
    ("source_fixture", "target_fixture"),
    [("sqlite_engine", "postgres_engine"), ("postgres_engine", "sqlite_engine")],
)
def test_backup_restores_identical_rows_and_a_searchable_index_on_the_other_engine(
    source_fixture: str,
    target_fixture: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    use_embedder: Embedder,
) -> None:
    source_url = _url(request.getfixturevalue(source_fixture))
    target_url = _url(request.getfixturevalue(target_fixture))
    source_settings = Settings(data_dir=tmp_path / "source", database_url=source_url)
    source, source_search = _fill(source_settings, use_embedder)
    manifest = write_backup(source, source_search.index, tmp_path / "backup")
    expected_rows, expected_hits = _all_rows(source), _top_hits(source_search)
    points = source_search.index.count()
    source_search.close()

    assert manifest.revision is not None
    assert manifest.index is not None
    assert manifest.index.rows == points > 140  # the demo delists a few
    wanted = IndexMeta(embedder=use_embedder.name, dim=use_embedder.dim)
    assert manifest.index.meta.identity() == wanted.identity()
    assert manifest.index.meta.average_tokens is not None  # measured at the first fill
    counts = {entry.name: entry.rows for entry in manifest.tables}
    assert counts["product"] == 150
    assert counts["purchase_order"] > 0
    assert counts["feedback"] == 1
    assert [entry.name for entry in manifest.tables] == [t.name for t in schema_tables()]

    target_settings = Settings(data_dir=tmp_path / "target", database_url=target_url)
    target = build_engine(target_settings)
    target_search = _search(target_settings, target, use_embedder)
    report = restore_backup(target, tmp_path / "backup", target_search.index)

    assert report.rows == counts
    assert report.points == points
    assert target_search.index.meta.average_tokens == manifest.index.meta.average_tokens
    assert _all_rows(target) == expected_rows
    assert target_search.indexer.drift().total == 0
    assert _top_hits(target_search) == expected_hits
    assert all(expected_hits)
    with Session(target) as session:  # sequences moved past the restored ids
        key, _ = ApiKeyRepository(session).create(ApiRole.ADMIN)
        session.commit()
        assert key.id == max(row["id"] for row in expected_rows["api_key"]) + 1
    target_search.close()


@pytest.fixture(scope="module")
def pristine_backup(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Path:
    """One backup of a filled SQLite database, made once for the tests that damage copies."""
    folder = tmp_path_factory.mktemp("pristine")
    engine, search = _fill(Settings(data_dir=folder / "source"), use_embedder)
    write_backup(engine, search.index, folder / "backup")
    search.close()
    engine.dispose()
    return folder / "backup"


@pytest.fixture
def backed_up(pristine_backup: Path, tmp_path: Path) -> tuple[Path, Settings]:
    """A copy of the backup to damage, and settings for an empty SQLite target beside it."""
    folder = shutil.copytree(pristine_backup, tmp_path / "backup")
    return folder, Settings(data_dir=tmp_path / "target")


def _rewrite(folder: Path, name: str, text: str) -> None:
    """Replace a file and make the manifest agree: a well-formed backup with bad content."""
    manifest = json.loads((folder / MANIFEST).read_text())
    entry = next(e for e in manifest["tables"] if e["name"] == name)
    (folder / entry["path"]).write_text(text, encoding="utf-8")
    entry["bytes"] = len(text.encode())
    entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    entry["rows"] = text.count("\n")
    (folder / MANIFEST).write_text(json.dumps(manifest))


def _empty(engine: Engine) -> bool:
    with engine.connect() as connection:
        return not any(row_counts(connection).values())


def test_a_truncated_corrupted_or_unfinished_backup_is_refused(
    backed_up: tuple[Path, Settings],
) -> None:
    folder, settings = backed_up
    product_file = folder / "db" / "product.jsonl"
    original = product_file.read_bytes()

    product_file.write_bytes(original[: len(original) // 2])
    with pytest.raises(BadBackupError, match=r"product\.jsonl is truncated or altered: \d+ bytes"):
        read_manifest(folder)

    product_file.write_bytes(original.replace(b'"title":"', b'"title":"X', 1)[:-1])
    with pytest.raises(BadBackupError, match=r"product\.jsonl is corrupted: its sha256 differs"):
        read_manifest(folder)

    product_file.write_bytes(original)
    (folder / MANIFEST).rename(folder / "manifest.json.partial")
    target = build_engine(settings)
    with pytest.raises(BadBackupError, match="not a backup, or one that did not finish"):
        restore_backup(target, folder, None)
    assert _empty(target)


def test_a_row_that_does_not_load_rolls_the_whole_restore_back(
    backed_up: tuple[Path, Settings],
) -> None:
    folder, settings = backed_up
    line = json.dumps({"id": 1, "order_id": "no-such-order", "product_id": "p-000001"})
    _rewrite(folder, "order_line", line + "\n")
    target = build_engine(settings)
    with pytest.raises(BadBackupError, match=r"rows of order_line up to db/order_line\.jsonl:1"):
        restore_backup(target, folder, None)
    assert _empty(target)  # suppliers, products … loaded before it were rolled back too

    _rewrite(folder, "order_line", "{not json\n")
    with pytest.raises(BadBackupError, match=r"order_line\.jsonl:1: not a JSON line"):
        restore_backup(target, folder, None)
    assert _empty(target)


def test_restore_refuses_a_non_empty_target_unless_forced(
    backed_up: tuple[Path, Settings], use_embedder: Embedder
) -> None:
    folder, settings = backed_up
    target = build_engine(settings)
    search = _search(settings, target, use_embedder)
    points = restore_backup(target, folder, search.index).points
    expected = _all_rows(target)
    with pytest.raises(TargetNotEmptyError, match="pass --force") as refused:
        restore_backup(target, folder, None)
    assert refused.value.details["rows"]["product"] == 150
    with pytest.raises(TargetNotEmptyError, match="target index is not empty"):
        restore_backup(target, folder, search.index)

    with Session(target) as session:
        ApiKeyRepository(session).create(ApiRole.ADMIN)
        session.commit()
    search.index.delete(["p-000001"])
    report = restore_backup(target, folder, search.index, force=True)
    assert report.points == points
    assert _all_rows(target) == expected  # the extra key is gone: a replace, not a merge
    assert search.indexer.drift().total == 0
    search.close()


def test_another_embedder_or_schema_revision_is_refused_before_anything_is_written(
    backed_up: tuple[Path, Settings], use_embedder: Embedder
) -> None:
    folder, settings = backed_up
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["index"]["meta"]["embedder"] = "e5-small"
    manifest["index"]["meta"]["dim"] = 384
    (folder / MANIFEST).write_text(json.dumps(manifest))
    target = build_engine(settings)
    search = _search(settings, target, use_embedder)
    with pytest.raises(ConfigurationError, match=r"made with e5-small \(384-dim.*--no-index"):
        restore_backup(target, folder, search.index)
    assert _empty(target)
    assert search.index.count() == 0
    search.close()

    manifest["revision"] = "0001"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ConfigurationError, match="backup is at schema revision 0001 but"):
        restore_backup(target, folder, None)
    assert _empty(target)


def _cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


def test_the_commands_check_repair_back_up_and_restore(
    tmp_path: Path,
    use_embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SOURCING_DATABASE_URL", raising=False)
    monkeypatch.setenv("SOURCING_DATA_DIR", str(tmp_path / "live"))
    engine, search = _fill(Settings(), use_embedder)
    search.index.delete(["p-000007"])
    search.close()
    engine.dispose()

    assert _cli(["index", "check"]) == 1
    out = capsys.readouterr().out
    assert "missing (in the catalog, not in the index): 1  p-000007" in out
    assert "run `sourcing index check --repair`" in out
    assert _cli(["index", "check", "--repair"]) == 0
    assert "repaired: re-embedded 1, removed 0" in capsys.readouterr().out
    assert _cli(["index", "check"]) == 0

    held = EdgeProductIndex.open(Settings().index_path, search.index.meta)
    assert _cli(["backup", str(tmp_path / "held")]) == 2
    assert "held by another process, most likely a running `sourcing serve`" in (
        capsys.readouterr().err.replace("\n", " ")
    )
    held.close()
    assert _cli(["backup", str(tmp_path / "backup")]) == 0
    assert "index: " in capsys.readouterr().out
    assert _cli(["backup", str(tmp_path / "backup")]) == 2  # never over an earlier backup

    monkeypatch.setenv("SOURCING_DATA_DIR", str(tmp_path / "restored"))
    assert _cli(["restore", str(tmp_path / "backup")]) == 0
    assert "catch-up re-embedded 0, removed 0" in capsys.readouterr().out
    assert _cli(["index", "check"]) == 0
    assert _cli(["restore", str(tmp_path / "backup")]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert _cli(["restore", str(tmp_path / "backup"), "--force"]) == 0

    product_file = tmp_path / "backup" / "db" / "product.jsonl"
    product_file.write_bytes(product_file.read_bytes()[:-10])
    assert _cli(["restore", str(tmp_path / "backup"), "--force"]) == 2
    assert "product.jsonl is truncated or altered" in capsys.readouterr().err
