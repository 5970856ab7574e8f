"""The assortment eval suite at a small size: metrics in range, no 平替 violation, reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from sourcing.eval import assortment_suite
from sourcing.eval.assortment_suite import (
    AssortmentBaseline,
    compare_to_baseline,
    precision_at_k,
    run_assortment_suite,
    write_reports,
)
from sourcing.eval.retrieval_suite import build_demo_environment
from sourcing.retrieval.embedders import Embedder


def test_precision_at_k_counts_labelled_hits_over_k() -> None:
    assert precision_at_k(["a", "b", "c"], {"a", "c", "z"}, k=5) == pytest.approx(0.4)
    assert precision_at_k([], {"a"}) == 0.0


def test_a_small_run(tmp_path: Path, use_embedder: Embedder) -> None:
    env = build_demo_environment(tmp_path / "demo", products=300, embedder=use_embedder)
    try:
        report = run_assortment_suite(env, queries=15, min_labels=2)
    finally:
        env.close()

    assert report.queries > 0
    assert report.cross_lingual_queries > 0
    for value in [*report.precision_at_5.values(), report.cross_lingual_precision_at_5]:
        assert 0.0 <= value <= 1.0
    assert set(report.precision_at_5) == {
        "similar_products", "dense_and_trust_only", "same_leaf_random", "same_leaf_cheapest"
    }  # fmt: skip
    assert report.cheaper_checks == 3 * report.queries
    assert report.cheaper_violations == 0
    json_path, md_path = write_reports(report, tmp_path / "out")
    assert json_path.exists()
    assert "precision@5" in md_path.read_text(encoding="utf-8")
    # another catalog size: only violations count against the committed baseline
    baseline = AssortmentBaseline(
        catalog_products=2000, precision_at_5=1.0, cross_lingual_precision_at_5=1.0
    )
    assert compare_to_baseline(report, baseline) == []
    same_size = baseline.model_copy(update={"catalog_products": report.catalog["products"]})
    assert compare_to_baseline(report, same_size)


def test_a_violation_fails_the_run() -> None:
    report = assortment_suite.AssortmentReport(
        catalog={"products": 10, "searchable": 10},
        embedder="e",
        machine="m",
        seconds=0.0,
        queries=1,
        precision_at_5={"similar_products": 1.0},
        cross_lingual_queries=0,
        cross_lingual_precision_at_5=0.0,
        cheaper_checks=3,
        cheaper_found=1,
        cheaper_violations=1,
    )
    baseline = AssortmentBaseline(
        catalog_products=10, precision_at_5=1.0, cross_lingual_precision_at_5=0.0
    )
    assert compare_to_baseline(report, baseline) == [
        "1 平替 are not cheaper or lost key attributes"
    ]
