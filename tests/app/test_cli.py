"""The `sourcing` command line end to end on a real SQLite file: demo build, sync, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from sourcing.app.cli import main
from sourcing.app.settings import Settings
from sourcing.domain.db import make_engine
from sourcing.domain.tables import Buyer, KnowledgeDoc, Product, SyncRun
from tests.catalog_sync.feedfiles import write_csv


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SOURCING_DATABASE_URL", raising=False)
    return tmp_path / "data"


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


def test_demo_build_loads_every_row_through_catalog_sync(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "build", "--products", "300", "--today", "2026-03-15"]
    assert _run(argv) == 0
    assert _run(argv) == 0  # a second build changes nothing

    engine = make_engine(Settings().resolved_database_url)
    with Session(engine) as session:
        runs = session.exec(select(SyncRun).order_by(SyncRun.id)).all()  # type: ignore[arg-type]
        assert [run.status for run in runs] == ["completed"] * 4
        assert all(run.counts["rejected_rows"] == 0 for run in runs)
        assert runs[3].counts["unchanged"] == runs[1].counts["added"] == 300
        assert len(session.exec(select(Product)).all()) == 300
        assert len(session.exec(select(Buyer)).all()) >= 30
        rules = [doc.body for doc in session.exec(select(KnowledgeDoc)).all()]
        assert any("仅退款" in body for body in rules)
    out = capsys.readouterr().out
    assert "rows/s" in out
    assert "new buyer key 3 for b-0001; its secret, shown only now:\nsk-" in out
    assert "new admin key 4; its secret, shown only now:\nsk-" in out
    assert "co-purchase: " in out
    # The demo page signs in with short-lived tokens: no key is written for it to serve.
    assert not list((data_dir / "demo").glob("*key*"))
    assert "alerts: " in out
    assert _run(["alerts", "run", "--today", "2026-03-15"]) == 0
    assert "alerts: 0 new (none)" in capsys.readouterr().out  # the build raised them already

    assert _run(["index", "catch-up"]) == 0
    assert "re-embedded 0, removed 0" in capsys.readouterr().out
    assert _run(["search", "收纳盒 源头工厂", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["constraints"]["supplier_kinds"] == ["factory", "brand_oem"]
    assert found["hits"]
    assert _run(["search", "蓝牙耳机 1元以内"]) == 0
    assert "no match; dropping price_max_cents gives" in capsys.readouterr().out
    argv = ["bundle", "camping", "--budget-cents", "100", "--quantity", "5", "--language", "en"]
    assert _run(argv) == 0
    too_small = json.loads(capsys.readouterr().out)
    assert not too_small["within_budget"]
    assert "budget_too_small" in too_small["notes"]
    assert too_small["shortfall_cents"] == too_small["total_cents"] - 100
    assert _run(["bundle", "开学季"]) == 0
    assert json.loads(capsys.readouterr().out)["scene_id"] == "back_to_school"

    # Every skill command is derived from the skill's input model: its bounds are the skill's.
    assert _run(["replenish", "b-0001", "--service-level", "0.2"]) == 2
    assert "service_level: Input should be greater than or equal to 0.5" in capsys.readouterr().err
    assert _run(["bundle", "camping", "--constraints", "{not json"]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert _run(["replenish", "b-0001", "--budget", "2000", "--today", "2026-03-15"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["lines"]
    assert plan["buyer_id"] == "b-0001"
    assert _run(["similar", plan["lines"][0]["product_id"], "--mode", "cheaper"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "cheaper"


def test_sync_prints_rejections_with_file_and_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = write_csv(
        tmp_path / "feed.csv", ["id", "title", "price"], [["p1", "杯子", "3"], ["p2", "", "4"]]
    )
    assert _run(["sync", str(feed), "--report", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "rejected feed.csv:3 id=p2 title: is required" in out
    assert '"rejected_rows": 1' in (tmp_path / "report.json").read_text()


def test_a_missing_feed_is_a_clear_error_with_exit_status_2(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["sync", str(tmp_path / "nope.csv")]) == 2
    assert "does not exist or is not a file" in capsys.readouterr().err


def test_keys_are_created_listed_and_revoked(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["keys", "create", "--role", "admin"]) == 0
    secret = capsys.readouterr().out.splitlines()[-1]
    assert secret.startswith("sk-")
    assert _run(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert secret[:12] in listing
    assert secret not in listing

    assert _run(["keys", "create", "--role", "buyer", "--subject", "b-9999"]) == 2
    assert "no buyer 'b-9999'" in capsys.readouterr().err
    assert _run(["keys", "revoke", "1"]) == 0
    assert "revoked key 1" in capsys.readouterr().out
    assert _run(["keys", "revoke", "2"]) == 2
    assert "no API key 2" in capsys.readouterr().err
