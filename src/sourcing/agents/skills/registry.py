"""The skills as one typed service layer: a name, an input model and `run(deps, input)` each;
the model's tools and the CLI's skill commands are derived from this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from sourcing.agents.skills.build_bundle import BuildBundleInput, build_bundle
from sourcing.agents.skills.complete_basket import CompleteBasketInput, complete_basket
from sourcing.agents.skills.deps import SkillDeps
from sourcing.agents.skills.discover_opportunities import (
    DiscoverOpportunitiesInput,
    MerchantViewInput,
    discover_opportunities,
    merchant_view,
)
from sourcing.agents.skills.guide import GuideInput, guide
from sourcing.agents.skills.plan_replenishment import PlanReplenishmentInput, plan_replenishment
from sourcing.agents.skills.select_products import SelectProductsInput, select_products
from sourcing.agents.skills.similar_assortment import (
    ShelfFillersInput,
    SimilarProductsInput,
    SimilarSuppliersInput,
    shelf_fillers,
    similar_products,
    similar_suppliers,
)
from sourcing.agents.skills.supplier_profile import SupplierProfileInput, supplier_profile
from sourcing.agents.skills.watch_sources import WatchSourcesInput, watch_sources

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class Skill(Generic[In, Out]):
    name: str
    input: type[In]
    run: Callable[[SkillDeps, In], Out]

    def call(self, deps: SkillDeps, arguments: dict[str, Any]) -> Out:
        """The skill on arguments validated by its input model (a ValidationError if bad)."""
        return self.run(deps, self.input.model_validate(arguments))


SKILLS: dict[str, Skill[Any, Any]] = {
    skill.name: skill
    for skill in (
        Skill("select_products", SelectProductsInput, lambda d, i: select_products(d.search, i)),
        Skill(
            "supplier_profile",
            SupplierProfileInput,
            lambda d, i: supplier_profile(d.engine, d.prompts, i),
        ),
        Skill("guide", GuideInput, lambda d, i: guide(d.knowledge, d.prompts, i)),
        Skill(
            "build_bundle",
            BuildBundleInput,
            lambda d, i: build_bundle(
                d.engine, d.search, i, scenes=d.scenes, complements=d.copurchase
            ),
        ),
        Skill(
            "similar_products",
            SimilarProductsInput,
            lambda d, i: similar_products(d.engine, d.search, i),
        ),
        Skill(
            "similar_suppliers", SimilarSuppliersInput, lambda d, i: similar_suppliers(d.engine, i)
        ),
        Skill(
            "shelf_fillers", ShelfFillersInput, lambda d, i: shelf_fillers(d.engine, d.search, i)
        ),
        Skill(
            "complete_basket",
            CompleteBasketInput,
            lambda d, i: complete_basket(d.engine, d.search, d.copurchase, i),
        ),
        Skill(
            "discover_opportunities",
            DiscoverOpportunitiesInput,
            lambda d, i: discover_opportunities(d.engine, d.search, i),
        ),
        Skill("merchant_view", MerchantViewInput, lambda d, i: merchant_view(d.engine, i)),
        Skill(
            "plan_replenishment",
            PlanReplenishmentInput,
            lambda d, i: plan_replenishment(d.engine, i),
        ),
        Skill(
            "watch_sources", WatchSourcesInput, lambda d, i: watch_sources(d.engine, i, d.search)
        ),
    )
}
