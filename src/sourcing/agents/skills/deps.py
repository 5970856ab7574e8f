"""What every skill is run with: the stores, indexes, statistics and prompts (SkillDeps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine

from sourcing.agents.router import IntentRouter
from sourcing.agents.skills.build_bundle import SceneCatalog
from sourcing.domain.types import utcnow
from sourcing.prompts.loader import PromptLibrary
from sourcing.retrieval.copurchase import CoPurchase
from sourcing.retrieval.knowledge import KnowledgeIndex
from sourcing.retrieval.search import ProductSearch


@dataclass(eq=False)
class SkillDeps:
    """What the skills need; shared by the model's tools, the offline planner, the routes and
    the CLI. Not frozen: the bus swaps in rebuilt co-purchase statistics and knowledge (one
    attribute each)."""

    engine: Engine
    search: ProductSearch
    knowledge: KnowledgeIndex
    prompts: PromptLibrary
    router: IntentRouter
    scenes: SceneCatalog = field(default_factory=SceneCatalog.load)
    # Co-purchase statistics as the last `sourcing copurchase build` stored them (maybe empty).
    copurchase: CoPurchase = field(default_factory=CoPurchase.empty)
    # The as-of day of every answer (system prompt, opportunities, reorder dates); evals pin it.
    today: Callable[[], date] = field(default=lambda: utcnow().date())
