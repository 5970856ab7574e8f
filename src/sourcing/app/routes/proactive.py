"""The proactive feed's views: what to stock now (AI商机), a merchant's standing, reorders."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sourcing.agents.skills.discover_opportunities import (
    DiscoverOpportunitiesInput,
    DiscoverOpportunitiesResult,
    MerchantView,
    MerchantViewInput,
    discover_opportunities,
    merchant_view,
)
from sourcing.agents.skills.plan_replenishment import (
    PlanReplenishmentInput,
    ReplenishmentPlan,
    plan_replenishment,
)
from sourcing.app.deps import PrincipalDep, SkillsDep
from sourcing.domain.errors import ForbiddenError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.numbers import MAX_BUDGET_YUAN, Count
from sourcing.prompts.loader import Language

router = APIRouter(prefix="/v1", tags=["proactive"])


@router.get("/opportunities")
def opportunities(
    principal: PrincipalDep,
    skills: SkillsDep,
    category: Annotated[list[str], Query(max_length=14)] = [],  # noqa: B006
    horizon_days: Annotated[int, Query(ge=1, le=365)] = 60,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    with_supply: bool = True,
    language: Language = "zh",
) -> DiscoverOpportunitiesResult:
    """What to stock now, with evidence and supply; a buyer key gets its own categories."""
    buyer = principal.subject if principal.role == ApiRole.BUYER else None
    request = DiscoverOpportunitiesInput(
        buyer_id=buyer,
        categories=category or None,
        horizon_days=horizon_days,
        limit=limit,
        with_supply=with_supply,
        language=language,
    )
    return discover_opportunities(skills.engine, skills.search, request)


@router.get("/merchant/overview")
def merchant_overview(
    principal: PrincipalDep, skills: SkillsDep, language: Language = "zh"
) -> MerchantView:
    """For a merchant key: what rises in its categories, its prices and trust beside them."""
    if principal.role != ApiRole.MERCHANT or not principal.subject:
        raise ForbiddenError("the merchant overview needs a merchant key", role=principal.role)
    request = MerchantViewInput(supplier_id=principal.subject, language=language)
    return merchant_view(skills.engine, request)


class ReplenishmentRequest(BaseModel):
    product_ids: list[str] | None = Field(default=None, max_length=200)
    service_level: float = Field(default=0.95, ge=0.5, le=0.999)
    budget: Decimal | None = Field(default=None, ge=0, le=MAX_BUDGET_YUAN, description="yuan")
    on_hand: dict[str, Count] | None = Field(
        default=None, max_length=1000, description="per product or SKU id"
    )
    review_days: int = Field(default=7, ge=0, le=90)
    language: Language = "zh"


@router.post("/replenishment/plan")
def replenishment_plan(
    request: ReplenishmentRequest, principal: PrincipalDep, skills: SkillsDep
) -> ReplenishmentPlan:
    """For a buyer key, from its own orders: what to reorder now, how much, within budget."""
    if principal.role != ApiRole.BUYER or not principal.subject:
        raise ForbiddenError("a replenishment plan needs a buyer key", role=principal.role)
    plan = PlanReplenishmentInput(buyer_id=principal.subject, **request.model_dump())
    return plan_replenishment(skills.engine, plan)
