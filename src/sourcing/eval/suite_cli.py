"""The command line every gated eval suite shares: run, print, write, compare with a baseline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from sourcing.eval.retrieval_suite import DEMO_PRODUCTS


def baseline_file(name: str) -> Path:
    """A committed baseline under sourcing/eval/baselines/."""
    return Path(str(resources.files("sourcing.eval").joinpath("baselines", name)))


Report = TypeVar("Report", bound=BaseModel)
Baseline = TypeVar("Baseline", bound=BaseModel)


@dataclass(frozen=True)
class GatedSuite(Generic[Report, Baseline]):
    """How one suite runs and what of its report is kept and gated as the baseline."""

    prog: str
    description: str | None
    run: Callable[[int], Report]  # products -> report
    table: Callable[[Report], str]
    baseline_of: Callable[[Report], Baseline]
    baseline_type: type[Baseline]
    baseline_path: Callable[[], Path]
    regressions: Callable[[Report, Baseline], list[str]]

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run the suite, print the table, compare with the baseline; 1 on a regression."""
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        parser.add_argument("--products", type=int, default=DEMO_PRODUCTS, help="catalog size")
        parser.add_argument("--out", type=Path, help="write the JSON report here")
        parser.add_argument("--baseline", type=Path, default=None, help="baseline to compare")
        parser.add_argument(
            "--update-baseline", action="store_true", help="write this run as the baseline"
        )
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        report = self.run(args.products)
        print(self.table(report))
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
            print(f"report: {args.out}")
        path = args.baseline or self.baseline_path()
        if args.update_baseline:
            baseline = self.baseline_of(report)
            path.write_text(baseline.model_dump_json(indent=2) + "\n", encoding="utf-8")
            print(f"baseline written to {path}")
        reference = self.baseline_type.model_validate_json(path.read_text("utf-8"))
        found = self.regressions(report, reference)
        for line in found:
            print(f"REGRESSION: {line}")
        return 1 if found else 0
