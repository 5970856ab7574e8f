"""The replenishment suite: all methods side by side, rates in range, report written, gate works."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sourcing.eval.replenishment_suite import (
    PolicyScores,
    ReplenishmentBaseline,
    ReplenishmentReport,
    Scores,
    default_baseline_path,
    main,
    regressions,
)


def test_small_run_prints_every_method_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "replenishment.json"
    assert main(["--products", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "machine:" in printed
    rows = {line.split()[0] for line in printed.splitlines() if line}
    assert {"chosen", "naive", "seasonal_naive", "moving_average"} <= rows
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["series"] >= 50
    methods = report["methods"]
    assert methods["chosen"]["wape"] <= methods["naive"]["wape"]
    assert methods["chosen"]["horizon_wape"] <= methods["naive"]["horizon_wape"]
    assert "intermittent" in report["by_class"]
    for policy in report["policy"].values():
        for rate in ("stockout_rate", "overstock_rate", "fill_rate"):
            assert 0.0 <= policy[rate] <= 1.0


def _report(wape: float, stockout: float) -> ReplenishmentReport:
    return ReplenishmentReport(
        catalog={"products": 2000},
        machine="m",
        seconds=0.0,
        cutoff=date(2026, 1, 1),
        test_weeks=8,
        series=1,
        classes={},
        chosen_methods={},
        methods={"chosen": Scores(series=1, wape=wape, mase=1.0, horizon_wape=0.5)},
        by_class={},
        policy={
            "chosen": PolicyScores(
                series_weeks=8, stockout_rate=stockout, overstock_rate=0.1, fill_rate=0.9
            )
        },
    )


def test_worse_wape_or_more_stockouts_beyond_tolerance_is_a_regression() -> None:
    baseline = ReplenishmentBaseline(catalog={"products": 2000}, wape=1.0, stockout_rate=0.1)
    assert regressions(_report(1.01, 0.11), baseline) == []
    assert len(regressions(_report(1.03, 0.11), baseline)) == 1
    assert len(regressions(_report(1.0, 0.13), baseline)) == 1
    other = baseline.model_copy(update={"catalog": {"products": 300}})
    assert regressions(_report(2.0, 0.9), other) == []


def test_the_committed_baseline_is_for_the_full_demo() -> None:
    text = default_baseline_path().read_text(encoding="utf-8")
    baseline = ReplenishmentBaseline.model_validate_json(text)
    assert baseline.catalog["products"] == 2000
