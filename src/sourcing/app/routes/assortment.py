"""Assortment routes: bundles for a scene or around products (智能组货)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sourcing.agents.skills.build_bundle import BuildBundleInput, build_bundle, bundle_cards
from sourcing.app.deps import ANY_KEY, SkillsDep

router = APIRouter(prefix="/v1", tags=["assortment"], dependencies=ANY_KEY)


@router.post("/bundles")
def create_bundle(request: BuildBundleInput, skills: SkillsDep) -> dict[str, Any]:
    """A complete assortment within the budget and MOQs; an unmet budget is said, not hidden."""
    result = build_bundle(
        skills.engine,
        skills.search,
        request,
        scenes=skills.scenes,
        complements=skills.complements,
    )
    return result.model_dump(mode="json") | {"cards": bundle_cards(result)}
