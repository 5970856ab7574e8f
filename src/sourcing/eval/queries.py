"""The labelled retrieval queries: typed records of eval/datasets/retrieval_queries.jsonl."""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sourcing.retrieval.constraints import Constraints

DATASET = "retrieval_queries.jsonl"


class QueryType(StrEnum):
    ZH = "zh"
    EN = "en"
    CROSS_LINGUAL = "cross_lingual"
    SYNONYM = "synonym"
    TYPO = "typo"
    CONSTRAINT = "constraint"


class RelevanceRule(BaseModel):
    """Graded relevance as rules over the catalog, so labels survive generator changes.

    A product in one of `leaf` (last category segment, or a full path) is grade 1, and grade 2
    when its title holds one of `grade2_any_title` or its attributes satisfy every key of
    `grade2_attrs` (a value matches when it contains one of the listed words). Any other
    product is grade 1 when it is in `related_leaf` or its title holds one of
    `related_any_title` (the same product under another category), else 0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    leaf: tuple[str, ...] = Field(min_length=1)
    related_leaf: tuple[str, ...] = ()
    related_any_title: tuple[str, ...] = ()
    grade2_any_title: tuple[str, ...] = ()
    grade2_attrs: dict[str, tuple[str, ...]] = {}


class Expectation(Constraints):
    """The hard constraints (and order quantity) the query text states, as the parser should
    read them; the violation check holds results to exactly these."""

    quantity: int | None = Field(default=None, ge=1)


class EvalQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    type: QueryType
    relevance: RelevanceRule
    expect: Expectation = Expectation()
    # Synonyms: words the text shares no character with (the tests check the claim).
    disjoint_from: tuple[str, ...] = ()
    intended: str = ""  # typos: the text as the buyer meant it
    note: str = ""

    @model_validator(mode="after")
    def _constraint_queries_state_constraints(self) -> EvalQuery:
        if (self.type is QueryType.CONSTRAINT) != bool(self.expect.active()):
            raise ValueError(f"{self.id}: constraint queries, and only they, state constraints")
        if (self.type is QueryType.TYPO) != bool(self.intended):
            raise ValueError(f"{self.id}: typo queries, and only they, name the intended text")
        return self


def default_dataset_path() -> Path:
    return Path(str(resources.files("sourcing.eval").joinpath("datasets", DATASET)))


def parse_queries(lines: list[str]) -> list[EvalQuery]:
    """Queries from JSON lines; blank lines are skipped and ids must be unique."""
    queries = [EvalQuery.model_validate_json(line) for line in lines if line.strip()]
    seen: set[str] = set()
    for query in queries:
        if query.id in seen:
            raise ValueError(f"duplicate query id {query.id}")
        seen.add(query.id)
    return queries


def load_queries(path: Path | None = None) -> list[EvalQuery]:
    """The labelled queries at `path`, by default the packaged dataset."""
    source = path if path is not None else default_dataset_path()
    return parse_queries(source.read_text(encoding="utf-8").splitlines())
