"""The opportunity suite: metrics in range, no passed festival, ahead of raw volume, gate works."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sourcing.catalog_sync.demo.vocabulary import load_vocabulary
from sourcing.eval.opportunity_suite import (
    GATED,
    MethodResult,
    OpportunityBaseline,
    OpportunityReport,
    load_default_baseline,
    main,
    month_starts,
    planted_rising,
    regressions,
)


def test_small_run_prints_the_table_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "opportunities.json"
    assert main(["--products", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "machine:" in printed
    assert "0 already passed" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["passed_festivals"] == 0
    assert report["festivals_proposed"] > 0
    methods = report["methods"]
    for result in methods.values():
        for metric in ("precision_at_10", "recall_at_10", "recall"):
            assert 0.0 <= result[metric] <= 1.0
    assert methods[GATED]["precision_at_10"] > methods["search_volume_7d"]["precision_at_10"]


def test_ground_truth_rule() -> None:
    keywords = load_vocabulary().signals.trend_keywords
    rising = planted_rising(keywords, date(2026, 11, 25))
    assert "暖手宝" in rising  # seasonal, peaks 12-15: 20 days ahead
    assert "保温杯" not in rising  # peaked 11-15
    assert "老爹鞋" not in rising  # falling
    assert {k.keyword for k in keywords if k.shape == "rising"} <= rising
    assert month_starts(date(2026, 11, 25))[0] == date(2025, 12, 1)


def _report(precision: float, passed: int = 0) -> OpportunityReport:
    result = MethodResult(days=1, precision_at_10=precision, recall_at_10=0.5, recall=0.9)
    return OpportunityReport(
        catalog={"products": 2000},
        machine="m",
        seconds=0.0,
        scored_days=[date(2026, 11, 25)],
        festival_days_checked=1,
        festivals_proposed=1,
        passed_festivals=passed,
        methods={GATED: result},
    )


def test_a_drop_or_a_passed_festival_is_a_regression() -> None:
    baseline = OpportunityBaseline(catalog={"products": 2000}, methods=_report(0.9).methods)
    assert regressions(_report(0.89), baseline) == []
    assert regressions(_report(0.85), baseline)
    assert regressions(_report(0.9, passed=1), baseline)


def test_committed_baseline_is_for_the_full_demo() -> None:
    baseline = load_default_baseline()
    assert baseline.catalog["products"] == 2000
    assert (
        baseline.methods[GATED].precision_at_10
        > baseline.methods["search_volume_7d"].precision_at_10
    )
