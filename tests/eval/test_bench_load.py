"""`sourcing bench load` run tiny: real service and fake model processes, the report's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sourcing.eval.bench_load import LoadConfig, format_report, main, service_environment


def test_a_tiny_load_run_reports_every_figure_and_no_errors(tmp_path: Path) -> None:
    config = LoadConfig(
        products=100,
        streams=5,
        searches=20,
        search_concurrency=4,
        first_token_ms=20,
        tokens_per_s=200,
        answer_tokens=12,
        max_seconds=240,
    )
    argv = [f"--{name.replace('_', '-')}={value}" for name, value in vars(config).items()]
    out = tmp_path / "load.json"
    report = main([*argv, f"--data-dir={tmp_path / 'data'}", f"--out={out}"])

    assert report.errors == 0, format_report(report)
    assert report.chat.completed == 5
    assert report.chat.offline_fallbacks == 0  # every turn went through the fake model
    assert report.search.completed == 20
    for latencies in (report.chat.turn, report.chat.first_event, report.search.latency):
        assert 0 < latencies.p50_ms <= latencies.p99_ms <= latencies.max_ms
    assert report.chat.first_event.p50_ms < report.chat.turn.p50_ms
    assert report.chat.service.cpu_s > 0
    assert report.service_peak_rss_mib >= report.service_start_rss_mib > 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["errors"] == 0
    assert written["chat"]["streams"] == 5
    assert written["search"]["requests_per_s"] > 0
    assert "cores" in written["machine"]
    # The catalog and its key stay for the next run, which skips building them.
    assert (tmp_path / "data" / "bench-key.txt").is_file()


def test_the_service_under_load_inherits_no_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCING_EMBEDDER", "e5")

    env = service_environment(tmp_path, "sqlite:///x.db", "http://127.0.0.1:1/v1")

    assert all(name.startswith("SOURCING_") for name in env)
    assert "SOURCING_EMBEDDER" not in env
    assert env["SOURCING_LLM_BASE_URL"] == "http://127.0.0.1:1/v1"
