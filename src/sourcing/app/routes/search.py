"""Product search: hybrid retrieval with hard constraints from the query and from parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError

from sourcing.app.deps import ANY_KEY, SearchDep
from sourcing.domain.errors import BadInputError
from sourcing.domain.kinds import SupplierKind
from sourcing.domain.money import parse_price_cents
from sourcing.domain.numbers import MAX_COUNT
from sourcing.retrieval.constraints import Constraints
from sourcing.retrieval.search import Language, SearchMode, SearchRequest, SearchResult

router = APIRouter(prefix="/v1", tags=["search"], dependencies=ANY_KEY)

Yuan = Annotated[
    str | None, Query(max_length=20, description="yuan, e.g. 12.5 (at most 2 decimals)")
]


def _cents(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_price_cents(value)
    except BadInputError as exc:
        raise BadInputError(f"{name}: {exc.message}", parameter=name) from None


@router.get("/products/search")
def search_products(
    search: SearchDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="what the buyer wants")],
    price_min: Yuan = None,
    price_max: Yuan = None,
    moq_max: Annotated[int | None, Query(ge=1, le=MAX_COUNT)] = None,
    region: Annotated[list[str], Query(max_length=10, description="province, city or belt")] = [],  # noqa: B006
    category: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006
    supplier_kind: Annotated[list[SupplierKind], Query(max_length=3)] = [],  # noqa: B006
    customisable: bool | None = None,
    lead_time_max_days: Annotated[int | None, Query(ge=0, le=365)] = None,
    in_stock: bool | None = None,
    quantity: Annotated[int | None, Query(ge=1, le=MAX_COUNT)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    mode: SearchMode = SearchMode.HYBRID,
    language: Language = "zh",
) -> SearchResult:
    """Explicit parameters override constraints parsed from `q`; none is ever relaxed silently:
    an empty result lists which constraint to drop and how many products that would return."""
    try:
        constraints = Constraints(
            price_min_cents=_cents("price_min", price_min),
            price_max_cents=_cents("price_max", price_max),
            moq_max=moq_max,
            regions=tuple(region),
            categories=tuple(category),
            supplier_kinds=tuple(supplier_kind),
            customisable=customisable,
            lead_time_max_days=lead_time_max_days,
            in_stock=in_stock,
        )
    except ValidationError as exc:
        reasons = "; ".join(
            str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
        )
        raise BadInputError(reasons) from None
    request = SearchRequest(
        query=q, constraints=constraints, quantity=quantity, limit=limit, mode=mode,
        language=language,
    )  # fmt: skip
    return search.search(request)
