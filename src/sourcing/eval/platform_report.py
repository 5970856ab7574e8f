"""An evaluation run's files: report.json, report.md, report.html and its chart PNGs."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never a display, also on a desktop

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sourcing.eval.platform import EvalRun, Metric, SuiteResult

HEADLINES_PNG, LATENCY_PNG, TREND_PNG = "headlines.png", "latency.png", "trend.png"
DPI = 110


def _number(value: float | None, count: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if count else f"{value:.3f}"


def _delta(metric: Metric) -> str:
    delta = metric.delta
    if delta is None:
        return "–"
    return f"{delta:+.0f}" if metric.count else f"{delta:+.3f}"


def _status(suite: SuiteResult) -> str:
    if suite.status == "skipped":
        return "skipped"
    if suite.status == "fail":
        return "FAIL"
    return "pass" if suite.comparable else "pass (checks only)"


def headline_rows(run: EvalRun) -> list[list[str]]:
    """suite, metric, value, baseline, Δ, status: one row per headline metric."""
    rows = []
    for suite in run.suites:
        if not suite.metrics:
            rows.append([suite.name, "–", "–", "–", "–", _status(suite)])
        for index, metric in enumerate(suite.metrics):
            rows.append(
                [
                    suite.name if index == 0 else "",
                    metric.name + ("" if metric.higher_is_better else " ↓"),
                    _number(metric.value, metric.count),
                    _number(metric.baseline, metric.count),
                    _delta(metric),
                    _status(suite) if index == 0 else "",
                ]
            )
    return rows


HEADER = ["suite", "metric", "value", "baseline", "Δ", "status"]


def markdown(run: EvalRun, charts: Sequence[str] = ()) -> str:
    verdict = "FAIL" if run.regressions else "pass"
    lines = [
        f"# Evaluation run {run.started_at}: {verdict}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---|---|---:|---:|---:|---|",
        *("| " + " | ".join(row) + " |" for row in headline_rows(run)),
        "",
        f"{run.products} demo products; model {run.model}; repeat {run.repeat}; {run.machine}; "
        f"{run.seconds:.1f} s. ↓ marks a metric where lower is better.",
        "",
    ]
    if run.regressions:
        lines += ["## Regressions", "", *(f"- {line}" for line in run.regressions), ""]
    lines += [f"![{name}]({name})" for name in charts]
    for suite in run.suites:
        lines += ["", f"## {suite.name}", "", f"{suite.description}; {suite.seconds:.1f} s."]
        if suite.note:
            lines += ["", f"_{suite.note}_"]
        if suite.details.startswith("|"):
            lines += ["", suite.details.rstrip()]  # already a Markdown table
        elif suite.details:
            lines += ["", "```", suite.details.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _table_html(run: EvalRun) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in HEADER)
    body = []
    for row in headline_rows(run):
        css = ' class="fail"' if row[5] == "FAIL" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em}"
    "td:nth-child(n+3){text-align:right}tr.fail{background:#fdd}img{max-width:100%}"
    "pre{background:#f6f6f6;padding:.6em;overflow-x:auto}"
)


def render_html(run: EvalRun, charts: dict[str, bytes]) -> str:
    verdict = "FAIL" if run.regressions else "pass"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Evaluation run {html.escape(run.started_at)}</title><style>{STYLE}</style>",
        f"</head><body><h1>Evaluation run {html.escape(run.started_at)}: {verdict}</h1>",
        _table_html(run),
        f"<p>{run.products} demo products; model {html.escape(run.model)}; repeat {run.repeat}; "
        f"{html.escape(run.machine)}; {run.seconds:.1f} s.</p>",
    ]
    if run.regressions:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in run.regressions)
        parts.append(f"<h2>Regressions</h2><ul>{items}</ul>")
    for name, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>{html.escape(name)}</h2><img alt='{name}' src='data:image/png;base64,{data}'>"
        )
    for suite in run.suites:
        parts.append(f"<h2>{html.escape(suite.name)}</h2><p>{html.escape(suite.description)}</p>")
        if suite.note:
            parts.append(f"<p><em>{html.escape(suite.note)}</em></p>")
        if suite.details:
            parts.append(f"<pre>{html.escape(suite.details)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _png(figure: Figure) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _suite_panel(ax: Axes, suite: SuiteResult) -> None:
    # Counts (violations, passed festivals) would squash the rates: they go in the title.
    rates = [m for m in suite.metrics if not m.count]
    counts = ", ".join(f"{m.name} {_number(m.value, True)}" for m in suite.metrics if m.count)
    positions = list(range(len(rates)))
    ax.barh([p - 0.2 for p in positions], [m.value for m in rates], 0.4, label="run")
    ax.barh(
        [p + 0.2 for p in positions],
        [m.baseline if m.baseline is not None else 0.0 for m in rates],
        0.4,
        label="baseline",
        color="#bbb",
    )
    for p, metric in zip(positions, rates, strict=True):
        ax.text(metric.value, p - 0.2, f" {_number(metric.value)}", va="center", fontsize=7)
    ax.set_yticks(positions, [m.name for m in rates], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max([1.0, *(m.value for m in rates)]) * 1.15)
    title = f"{suite.name}: {_status(suite)}" + (f"\n{counts}" if counts else "")
    ax.set_title(title, fontsize=9, color="#c00" if suite.status == "fail" else "#000")
    ax.tick_params(axis="x", labelsize=7)


def headline_chart(run: EvalRun) -> bytes | None:
    """Per suite, each headline rate beside its baseline (grey); counts in the panel title."""
    suites = [suite for suite in run.suites if suite.metrics]
    if not suites:
        return None
    columns = 2 if len(suites) > 1 else 1
    rows = (len(suites) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 2.5 * rows), squeeze=False)
    for ax, suite in zip(axes.flat, suites, strict=False):
        _suite_panel(ax, suite)
    for ax in list(axes.flat)[len(suites) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="lower right")
    figure.suptitle(f"Headline metrics, {run.products} products ({run.started_at})", fontsize=10)
    figure.tight_layout()
    return _png(figure)


def latency_chart(run: EvalRun) -> bytes | None:
    """Per-call latency distributions of the suites that time their calls."""
    timed = [suite for suite in run.suites if suite.latencies_ms]
    if not timed:
        return None
    figure, ax = plt.subplots(figsize=(7, 0.7 * len(timed) + 1.5))
    ax.boxplot(
        [suite.latencies_ms for suite in timed],
        orientation="horizontal",
        tick_labels=[f"{s.name} (n={len(s.latencies_ms)})" for s in timed],
        showfliers=True,
    )
    ax.set_xscale("log")
    ax.set_xlabel("ms per call (log scale)")
    ax.set_title("Latency distribution", fontsize=10)
    figure.tight_layout()
    return _png(figure)


def trend_chart(history: Sequence[EvalRun]) -> bytes | None:
    """Every headline metric across the saved runs, one panel per suite."""
    if len(history) < 2:
        return None
    names = [suite.name for suite in history[-1].suites if suite.metrics]
    if not names:
        return None
    labels = [run.directory.name if run.directory else run.started_at for run in history]
    figure, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=True):
        series: dict[str, list[float | None]] = {}
        for index, run in enumerate(history):
            suite = next((s for s in run.suites if s.name == name), None)
            for metric in suite.metrics if suite else []:
                series.setdefault(metric.name, [None] * len(history))[index] = metric.value
        for metric_name, values in series.items():
            points = [(i, v) for i, v in enumerate(values) if v is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=metric_name)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=30, ha="right")
        ax.legend(fontsize=6, loc="best")
    figure.suptitle("Headline metrics across saved runs", fontsize=10)
    figure.tight_layout()
    return _png(figure)


def write_run(run: EvalRun, folder: Path, history: Sequence[EvalRun]) -> dict[str, Path]:
    """report.json, the chart PNGs, report.md and report.html in `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "report.json"}
    paths["json"].write_text(run.model_dump_json(indent=1) + "\n", encoding="utf-8")
    trend_runs = [*(past for past in history if past.directory != folder), run]
    made = {
        HEADLINES_PNG: headline_chart(run),
        LATENCY_PNG: latency_chart(run),
        TREND_PNG: trend_chart(trend_runs),
    }
    charts = {name: png for name, png in made.items() if png is not None}
    for name, png in charts.items():
        paths[name] = folder / name
        paths[name].write_bytes(png)
    paths["md"] = folder / "report.md"
    paths["md"].write_text(markdown(run, list(charts)), encoding="utf-8")
    paths["html"] = folder / "report.html"
    paths["html"].write_text(render_html(run, charts), encoding="utf-8")
    return paths
