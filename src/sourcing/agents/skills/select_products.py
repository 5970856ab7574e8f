"""AI选货 (select_products): picks for a buyer's request under hard constraints, with reasons."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sourcing.agents.skills.fields import SERVICE
from sourcing.domain.numbers import MAX_COUNT
from sourcing.retrieval.constraints import Constraints
from sourcing.retrieval.search import ProductSearch, Relaxation, SearchHit, SearchRequest


class SelectProductsInput(BaseModel):
    """What a buyer (or the assistant on their behalf) asks for."""

    model_config = ConfigDict(frozen=True)

    query: str = Field(min_length=1, max_length=500, description="what to source, any language")
    constraints: Constraints = Field(
        default=Constraints(), description="hard requirements; they override the query's"
    )
    quantity: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="units the buyer will order"
    )
    limit: int = Field(default=5, ge=1, le=20)
    language: Annotated[Literal["zh", "en"], SERVICE] = "zh"


class SelectProductsResult(BaseModel):
    """Picks best first; when nothing meets the constraints, which one to relax and the gain."""

    picks: list[SearchHit]
    constraints: Constraints  # what was applied: parsed from the query, then explicit ones
    quantity: int | None
    relaxations: list[Relaxation] = []

    @property
    def nothing_matched(self) -> bool:
        return not self.picks


def select_products(search: ProductSearch, request: SelectProductsInput) -> SelectProductsResult:
    result = search.search(
        SearchRequest(
            query=request.query,
            constraints=request.constraints,
            quantity=request.quantity,
            limit=request.limit,
            language=request.language,
        )
    )
    return SelectProductsResult(
        picks=result.hits,
        constraints=result.constraints,
        quantity=result.quantity,
        relaxations=result.relaxations,
    )
