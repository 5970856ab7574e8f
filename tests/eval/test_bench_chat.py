"""The chat benchmark end to end, small: both rows, through the mocked model and offline."""

from __future__ import annotations

import math

import pytest

from sourcing.app.eval_cli import chat_bench_app_factory
from sourcing.eval.bench_chat import main
from sourcing.retrieval.embedders import Embedder


def test_both_rows_are_measured_and_the_model_row_went_through_the_mock(
    use_embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--products=300", "--turns=5", "--warmup=1"]
    result = main(argv, build_app=chat_bench_app_factory(use_embedder))

    model, offline = result.rows
    assert (model.label, offline.label) == ("model (mocked)", "offline planner")
    assert model.model_calls == 2 * (5 + 1)  # a tool call, then the answer, per turn
    assert offline.model_calls == 0
    for row, mode in ((model, "model"), (offline, "offline")):
        assert len(row.turns) == 5
        for turn in row.turns:
            assert turn.event_types[-1] == "done"
            assert turn.mode == mode
            timings = (turn.first_event_ms, turn.total_ms, turn.overhead_ms)
            assert all(math.isfinite(t) and t > 0 for t in timings)
            assert turn.first_event_ms <= turn.total_ms
    assert all(turn.model_ms > 0 for turn in model.turns)
    assert all("tool_call" in turn.event_types for turn in model.turns)
    assert any(turn.cited for turn in model.turns)  # the answer named a product the tool found
    printed = capsys.readouterr().out
    assert "machine: " in printed
    assert "model (mocked)" in printed
    assert "offline planner" in printed
