"""Retrieval eval reports: the typed results, JSON and Markdown files, the baseline check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict

from sourcing.domain.errors import BadInputError

METRICS = ("ndcg_at_10", "recall_at_50", "mrr_at_10")
LABELS = MappingProxyType(
    {
        "ndcg_at_10": "nDCG@10",
        "recall_at_50": "Recall@50",
        "mrr_at_10": "MRR@10",
        "violation_rate": "violations@10",
    }
)
BASELINE_MODE = "hybrid"


class MetricSet(BaseModel):
    """Means over a group of queries; violations are over the top-10 hits of the queries
    that state constraints (`checked_hits` of them, `violating_hits` breaking one)."""

    model_config = ConfigDict(frozen=True)

    queries: int
    ndcg_at_10: float
    recall_at_50: float
    mrr_at_10: float
    violation_rate: float = 0.0
    violating_hits: int = 0
    checked_hits: int = 0


class QueryRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    type: str
    mode: str
    relevant: int
    returned: int
    ndcg_at_10: float
    recall_at_50: float
    mrr_at_10: float
    first_relevant_rank: int | None
    violating_hits: int
    checked_hits: int
    violations: dict[str, list[str]] = {}  # product id -> broken constraint names
    top: list[str] = []  # the first few hits as "id grade title"


class ParseMismatch(BaseModel):
    """A query whose parsed constraints differ from the ones its text states: a parser bug."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    expected: dict[str, Any]
    parsed: dict[str, Any]
    semantic_text: str


class ModeReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    overall: MetricSet
    by_type: dict[str, MetricSet]


class Figures(BaseModel):
    """One method on one slice of a real set's queries."""

    model_config = ConfigDict(frozen=True)

    queries: int
    ndcg_at_10: float
    recall_at_50: float


class RealSetReport(BaseModel):
    """A real catalog in BEIR layout: figures per method (baselines and the product's
    stages), per slice of its queries (all, the dev and test halves, languages)."""

    name: str
    slices: dict[str, list[str]]  # slice name -> query ids
    methods: dict[str, dict[str, Figures]] = {}


class RetrievalReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset: str
    catalog: dict[str, Any]
    embedder: str
    machine: str
    seconds: float
    modes: dict[str, ModeReport]
    parse_mismatches: list[ParseMismatch]
    rows: list[QueryRow]
    real_sets: list[RealSetReport] = []


class Baseline(BaseModel):
    """The committed reference: hybrid metrics overall and per query type."""

    model_config = ConfigDict(frozen=True)

    mode: str = BASELINE_MODE
    embedder: str
    catalog: dict[str, Any]
    overall: MetricSet
    by_type: dict[str, MetricSet]


def default_baseline_path() -> Path:
    return Path(str(resources.files("sourcing.eval").joinpath("baselines", "retrieval.json")))


def load_baseline(path: Path | None = None) -> Baseline:
    source = path if path is not None else default_baseline_path()
    return Baseline.model_validate_json(source.read_text(encoding="utf-8"))


def _rounded(metrics: MetricSet, digits: int = 4) -> MetricSet:
    # Four decimals keep the committed file readable and far inside any tolerance.
    return metrics.model_copy(
        update={
            name: round(getattr(metrics, name), digits) for name in [*METRICS, "violation_rate"]
        }
    )


def baseline_of(report: RetrievalReport) -> Baseline:
    mode = report.modes[BASELINE_MODE]
    return Baseline(
        embedder=report.embedder,
        catalog=report.catalog,
        overall=_rounded(mode.overall),
        by_type={name: _rounded(metrics) for name, metrics in mode.by_type.items()},
    )


def write_baseline(report: RetrievalReport, path: Path | None = None) -> Path:
    target = path if path is not None else default_baseline_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(baseline_of(report).model_dump_json(indent=2) + "\n", encoding="utf-8")
    return target


def _regressions(scope: str, found: MetricSet, reference: MetricSet, tolerance: float) -> list[str]:
    lines = []
    for metric in METRICS:
        now, then = getattr(found, metric), getattr(reference, metric)
        if now < then - tolerance:
            lines.append(
                f"{scope} {LABELS[metric]} fell to {now:.3f} from a baseline of {then:.3f}"
                f" (tolerance {tolerance:.3f})"
            )
    return lines


def compare_to_baseline(
    report: RetrievalReport, baseline: Baseline, tolerance: float = 0.02
) -> list[str]:
    """Regressions of the baseline's mode: any metric more than `tolerance` below the
    baseline, overall or for a query type, and any constraint violation at all."""
    mode = report.modes.get(baseline.mode)
    if mode is None:
        return [f"the report has no {baseline.mode} results to compare with the baseline"]
    lines = _regressions("overall", mode.overall, baseline.overall, tolerance)
    for name, reference in baseline.by_type.items():
        found = mode.by_type.get(name)
        if found is None:
            lines.append(f"query type {name} is in the baseline but not in the report")
        else:
            lines.extend(_regressions(f"type {name}", found, reference, tolerance))
    if mode.overall.violating_hits:
        lines.append(
            f"{mode.overall.violating_hits} of {mode.overall.checked_hits} top-10 {baseline.mode}"
            " hits break a constraint their query states"
        )
    return lines


def _cell(metrics: MetricSet, name: str) -> str:
    return f"{getattr(metrics, name):.3f}"


def _mode_table(report: RetrievalReport) -> list[str]:
    names = [*METRICS, "violation_rate"]
    lines = [
        "| mode | queries | " + " | ".join(LABELS[n] for n in names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for mode, result in report.modes.items():
        cells = " | ".join(_cell(result.overall, n) for n in names)
        lines.append(f"| {mode} | {result.overall.queries} | {cells} |")
    return lines


def _type_table(report: RetrievalReport) -> list[str]:
    modes = list(report.modes)
    header = ["type", "queries"] + [f"{LABELS[m]} {mode}" for m in METRICS for mode in modes]
    header.append(f"violations@10 {BASELINE_MODE}")
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    types = list(next(iter(report.modes.values())).by_type) if modes else []
    for name in types:
        count = report.modes[modes[0]].by_type[name].queries
        cells = [_cell(report.modes[mode].by_type[name], m) for m in METRICS for mode in modes]
        hybrid = report.modes.get(BASELINE_MODE)
        cells.append(_cell(hybrid.by_type[name], "violation_rate") if hybrid else "–")
        lines.append(f"| {name} | {count} | " + " | ".join(cells) + " |")
    return lines


def _worst_rows(report: RetrievalReport, limit: int = 15) -> list[str]:
    rows = sorted(
        (row for row in report.rows if row.mode == BASELINE_MODE),
        key=lambda row: (row.ndcg_at_10, row.id),
    )[:limit]
    lines = [
        "| id | type | query | relevant | nDCG@10 | Recall@50 | first relevant |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        rank = row.first_relevant_rank if row.first_relevant_rank is not None else "–"
        lines.append(
            f"| {row.id} | {row.type} | {row.text} | {row.relevant} | {row.ndcg_at_10:.3f} "
            f"| {row.recall_at_50:.3f} | {rank} |"
        )
    return lines


def _mismatch_lines(report: RetrievalReport) -> list[str]:
    if not report.parse_mismatches:
        return ["parse_query agrees with every query's stated constraints."]
    lines = ["| id | query | expected | parsed |", "|---|---|---|---|"]
    for item in report.parse_mismatches:
        expected = json.dumps(item.expected, ensure_ascii=False)
        parsed = json.dumps(item.parsed, ensure_ascii=False)
        lines.append(f"| {item.id} | {item.text} | `{expected}` | `{parsed}` |")
    return lines


def _violation_lines(report: RetrievalReport) -> list[str]:
    rows = [row for row in report.rows if row.violations]
    if not rows:
        return ["No top-10 hit breaks a constraint its query states, in any mode."]
    lines = ["| mode | id | query | product: broken |", "|---|---|---|---|"]
    for row in rows:
        broken = "; ".join(f"{pid}: {', '.join(names)}" for pid, names in row.violations.items())
        lines.append(f"| {row.mode} | {row.id} | {row.text} | {broken} |")
    return lines


def real_set_lines(reports: Sequence[RealSetReport]) -> list[str]:
    """One table per set: nDCG@10 / Recall@50 per method and slice (the dev half, tuned on,
    left out)."""
    lines: list[str] = []
    for report in reports:
        shown = [name for name in report.slices if name != "dev"]
        lines += [f"### {report.name}", ""]
        header = " | ".join(f"{name} ({len(report.slices[name])})" for name in shown)
        lines += [f"| method | {header} |", "|---|" + "---|" * len(shown)]
        for method, figures in report.methods.items():
            cells = " | ".join(
                f"{figures[name].ndcg_at_10:.3f} / {figures[name].recall_at_50:.3f}"
                for name in shown
            )
            lines.append(f"| {method} | {cells} |")
        lines.append("")
    return lines


ABLATION_START, ABLATION_END = "<!-- ablation:start -->", "<!-- ablation:end -->"


def write_ablation(path: Path, report: RetrievalReport) -> None:
    """Replace what lies between the ablation markers of a Markdown file with the real-set
    tables, so that docs/retrieval.md is regenerated by `sourcing eval retrieval`."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(ABLATION_START), text.find(ABLATION_END)
    if start < 0 or end < start:
        raise BadInputError(f"{path} has no {ABLATION_START} … {ABLATION_END} section")
    tables = [
        f"Generated by `sourcing eval retrieval --beir …` ({report.embedder}; {report.machine}).",
        "",
        *real_set_lines(report.real_sets),
    ]
    body = "\n".join([ABLATION_START, "", *tables, ABLATION_END])
    path.write_text(text[:start] + body + text[end + len(ABLATION_END) :], encoding="utf-8")


def _real_set_section(report: RetrievalReport) -> list[str]:
    if not report.real_sets:
        return []
    return ["", "## Real catalogs (nDCG@10 / Recall@50)", "", *real_set_lines(report.real_sets)]


def markdown(report: RetrievalReport) -> str:
    catalog = ", ".join(f"{key} {value}" for key, value in report.catalog.items())
    lines = [
        "# Retrieval eval",
        "",
        f"Dataset `{report.dataset}` over the demo catalog ({catalog}); embedder "
        f"`{report.embedder}`; {report.machine}; {report.seconds:.1f} s.",
        "",
        "## Overall",
        "",
        *_mode_table(report),
        "",
        "## Per query type",
        "",
        *_type_table(report),
        "",
        f"## Weakest {BASELINE_MODE} queries",
        "",
        *_worst_rows(report),
        "",
        "## Constraint violations",
        "",
        *_violation_lines(report),
        "",
        "## Parser disagreements",
        "",
        *_mismatch_lines(report),
        *_real_set_section(report),
    ]
    return "\n".join(lines) + "\n"


def write_reports(report: RetrievalReport, folder: Path) -> tuple[Path, Path]:
    """retrieval.json (everything) and retrieval.md (the tables) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "retrieval.json", folder / "retrieval.md"
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path
