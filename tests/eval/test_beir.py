"""BEIR-format loading and evaluation through the real index, embedder and retrieve()."""

from __future__ import annotations

from pathlib import Path

import pytest

from sourcing.eval.beir import dense_text, evaluate_beir, load_beir
from sourcing.retrieval.embedders import Embedder
from tests.eval.beirfiles import write_beir


def test_load_beir(tmp_path: Path) -> None:
    dataset = load_beir(write_beir(tmp_path))
    assert [doc.id for doc in dataset.corpus] == ["d1", "d2", "d3", "d4", "d5"]
    assert dataset.queries["q2"] == "wireless earphones"
    assert dataset.qrels == {"q1": {"d1": 2}, "q2": {"d3": 1}, "q3": {"d2": 1, "d5": 0}}


def test_dense_text_is_the_title_and_the_start_of_the_text(tmp_path: Path) -> None:
    doc = load_beir(write_beir(tmp_path)).corpus[0]
    long = doc.__class__(doc.id, doc.title, "x" * 2000)
    assert dense_text(doc).startswith("Stainless steel thermos A vacuum")
    assert len(dense_text(long)) == len(doc.title) + 1 + 500


def test_evaluate_beir_in_every_mode(tmp_path: Path, use_embedder: Embedder) -> None:
    results = evaluate_beir(write_beir(tmp_path / "beir"), use_embedder, tmp_path / "work")
    assert set(results) == {"hybrid", "dense", "sparse"}
    for metrics in results.values():
        assert metrics.queries == 3
        assert metrics.violation_rate == 0.0
    # Each query names its document's words, so the lexical and fused rankings put it first.
    for mode in ("hybrid", "sparse"):
        assert results[mode].ndcg_at_10 == pytest.approx(1.0)
        assert results[mode].mrr_at_10 == pytest.approx(1.0)
        assert results[mode].recall_at_50 == pytest.approx(1.0)
    assert results["dense"].mrr_at_10 > 0.5
