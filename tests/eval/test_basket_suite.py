"""The basket suite: both methods side by side, co-purchase ahead, report written, gate works."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sourcing.eval.basket_suite import (
    BasketBaseline,
    BasketReport,
    MethodResult,
    load_default_baseline,
    main,
    regressions,
)


def test_small_run_prints_both_rows_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "baskets.json"
    assert main(["--products", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "machine:" in printed
    rows = {line.split()[0]: line.split() for line in printed.splitlines() if line}
    assert {"co_purchase", "most_popular"} <= set(rows)
    report = json.loads(out.read_text(encoding="utf-8"))
    methods = report["methods"]
    assert methods["co_purchase"]["queries"] >= 50
    assert methods["co_purchase"]["hit_rate_at_10"] > methods["most_popular"]["hit_rate_at_10"]
    assert methods["co_purchase"]["mrr_at_10"] > methods["most_popular"]["mrr_at_10"]


def _report(hit_rate: float) -> BasketReport:
    result = MethodResult(queries=10, hit_rate_at_10=hit_rate, mrr_at_10=0.1)
    return BasketReport(
        catalog={"products": 2000},
        machine="m",
        seconds=0.0,
        train_baskets=1,
        test_baskets=1,
        cutoff=date(2026, 1, 1),
        methods={"co_purchase": result},
    )


def test_a_drop_beyond_tolerance_is_a_regression() -> None:
    baseline = BasketBaseline(catalog={"products": 2000}, methods=_report(0.5).methods)
    assert regressions(_report(0.49), baseline) == []
    assert regressions(_report(0.47), baseline)
    other = BasketBaseline(catalog={"products": 300}, methods=baseline.methods)
    assert regressions(_report(0.1), other) == []  # another catalog is not comparable


def test_committed_baseline_is_for_the_full_demo() -> None:
    baseline = load_default_baseline()
    assert baseline.catalog["products"] == 2000
    assert (
        baseline.methods["co_purchase"].hit_rate_at_10
        > baseline.methods["most_popular"].hit_rate_at_10
    )
