"""Baseline comparison and report files, on small hand-made reports."""

from __future__ import annotations

from pathlib import Path

from sourcing.eval.report import (
    Baseline,
    MetricSet,
    ModeReport,
    RetrievalReport,
    baseline_of,
    compare_to_baseline,
    load_baseline,
    write_baseline,
    write_reports,
)


def _metrics(ndcg: float = 0.8, violating: int = 0) -> MetricSet:
    return MetricSet(
        queries=10,
        ndcg_at_10=ndcg,
        recall_at_50=0.7,
        mrr_at_10=0.9,
        violation_rate=violating / 20,
        violating_hits=violating,
        checked_hits=20,
    )


def _report(ndcg: float = 0.8, typo_ndcg: float = 0.6, violating: int = 0) -> RetrievalReport:
    hybrid = ModeReport(
        overall=_metrics(ndcg, violating),
        by_type={"zh": _metrics(ndcg), "typo": _metrics(typo_ndcg)},
    )
    return RetrievalReport(
        dataset="retrieval_queries.jsonl",
        catalog={"products": 2000, "seed": 7},
        embedder="test",
        machine="test machine",
        seconds=1.0,
        modes={"hybrid": hybrid, "dense": hybrid},
        parse_mismatches=[],
        rows=[],
    )


BASELINE = baseline_of(_report())


def test_no_regression_within_tolerance() -> None:
    assert compare_to_baseline(_report(ndcg=0.79, typo_ndcg=0.585), BASELINE) == []


def test_a_drop_beyond_tolerance_overall_or_per_type_regresses() -> None:
    found = compare_to_baseline(_report(ndcg=0.77, typo_ndcg=0.5), BASELINE)
    assert found == [
        "overall nDCG@10 fell to 0.770 from a baseline of 0.800 (tolerance 0.020)",
        "type zh nDCG@10 fell to 0.770 from a baseline of 0.800 (tolerance 0.020)",
        "type typo nDCG@10 fell to 0.500 from a baseline of 0.600 (tolerance 0.020)",
    ]
    assert compare_to_baseline(_report(ndcg=0.77), BASELINE, tolerance=0.05) == []


def test_any_constraint_violation_regresses() -> None:
    assert compare_to_baseline(_report(violating=1), BASELINE) == [
        "1 of 20 top-10 hybrid hits break a constraint their query states"
    ]


def test_a_missing_type_or_mode_regresses() -> None:
    report = _report()
    without_typo = report.model_copy(
        update={
            "modes": {
                "hybrid": ModeReport(
                    overall=_metrics(), by_type={"zh": report.modes["hybrid"].by_type["zh"]}
                )
            }
        }
    )
    assert compare_to_baseline(without_typo, BASELINE) == [
        "query type typo is in the baseline but not in the report"
    ]
    dense_only = report.model_copy(update={"modes": {"dense": report.modes["dense"]}})
    assert compare_to_baseline(dense_only, BASELINE) == [
        "the report has no hybrid results to compare with the baseline"
    ]


def test_baseline_round_trip(tmp_path: Path) -> None:
    path = write_baseline(_report(), tmp_path / "baselines" / "retrieval.json")
    assert load_baseline(path) == BASELINE


def test_committed_baseline_loads() -> None:
    baseline = load_baseline()
    assert isinstance(baseline, Baseline)
    assert baseline.mode == "hybrid"
    assert set(baseline.by_type) == {"zh", "en", "cross_lingual", "synonym", "typo", "constraint"}


def test_write_reports(tmp_path: Path) -> None:
    json_path, md_path = write_reports(_report(), tmp_path / "out")
    assert RetrievalReport.model_validate_json(json_path.read_text(encoding="utf-8")) == _report()
    markdown = md_path.read_text(encoding="utf-8")
    assert "| mode | queries | nDCG@10 | Recall@50 | MRR@10 | violations@10 |" in markdown
    assert "| hybrid | 10 | 0.800 | 0.700 | 0.900 | 0.000 |" in markdown
    assert "| typo | 10 |" in markdown
    assert "parse_query agrees with every query's stated constraints." in markdown
