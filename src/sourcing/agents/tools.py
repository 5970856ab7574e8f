"""LangChain tools over the skills: pydantic argument schemas, JSON data for the model, cards."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolArg, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from sourcing.agents.router import IntentRouter
from sourcing.agents.skills.build_bundle import (
    BuildBundleInput,
    SceneCatalog,
    build_bundle,
    bundle_cards,
    bundle_view,
)
from sourcing.agents.skills.complete_basket import CompleteBasketInput, complete_basket
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
    SimilarMode,
    SimilarProductsInput,
    SimilarSuppliersInput,
    shelf_fillers,
    similar_products,
    similar_suppliers,
)
from sourcing.agents.skills.supplier_profile import SupplierProfileInput, supplier_profile
from sourcing.agents.skills.watch_sources import WatchSourcesInput, watch_sources
from sourcing.domain.errors import SourcingError
from sourcing.domain.money import format_cents
from sourcing.domain.numbers import MAX_BUDGET_CENTS, MAX_BUDGET_YUAN, MAX_COUNT
from sourcing.domain.types import utcnow
from sourcing.prompts.loader import Language, PromptLibrary
from sourcing.retrieval.constraints import Constraints
from sourcing.retrieval.copurchase import CoPurchase
from sourcing.retrieval.knowledge import KnowledgeIndex
from sourcing.retrieval.search import ProductSearch, SearchHit

# Arguments only the service sets, from the API key: whose orders, whose catalog.
INJECTED = frozenset({"buyer_id", "supplier_id_of_key"})
BUYER_SCOPED = frozenset(
    {"shelf_fillers", "discover_opportunities", "plan_replenishment", "watch_sources"}
)
MERCHANT_SCOPED = frozenset({"merchant_view"})
REORDER_LINES_SHOWN = 15  # the most urgent; the model needs no more to answer


@dataclass(eq=False)
class SkillDeps:
    """What the skills need; shared by the model's tools and the offline planner. Not frozen:
    the bus swaps in rebuilt co-purchase statistics and knowledge (one attribute each)."""

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


class SelectProductsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=500, description="what to source, any language")
    constraints: Constraints = Field(
        default=Constraints(), description="hard requirements; amounts in cents (分)"
    )
    quantity: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="units the buyer will order"
    )
    limit: int = Field(default=5, ge=1, le=10)


class SupplierProfileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supplier_id: str = Field(min_length=1, max_length=64, description="e.g. s-0001")


class BuildBundleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scene: str | None = Field(default=None, max_length=100, description="e.g. 露营, 开学季")
    anchor_product_ids: list[str] = Field(
        default=[], max_length=10, description="product ids to build a matching set around"
    )
    budget_cents: int | None = Field(
        default=None, ge=1, le=MAX_BUDGET_CENTS, description="for the whole bundle"
    )
    quantity: int | None = Field(default=None, ge=1, le=MAX_COUNT, description="units of each item")
    constraints: Constraints = Field(default=Constraints(), description="hard requirements")


class SimilarProductsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str | None = Field(default=None, max_length=64, description="e.g. p-000123")
    query_text: str | None = Field(
        default=None, max_length=500, description="describes the product when there is no id"
    )
    mode: SimilarMode = Field(
        default="substitutes", description="substitutes, cheaper (平替) or factory_direct"
    )
    quantity: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="units, to compare prices"
    )
    limit: int = Field(default=5, ge=1, le=10)


class SimilarSuppliersArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supplier_id: str = Field(min_length=1, max_length=64)
    limit: int = Field(default=5, ge=1, le=10)


class ShelfFillersArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: list[str] | None = Field(
        default=None, max_length=200, description="the assortment; omit to use the buyer's orders"
    )
    limit: int = Field(default=10, ge=1, le=20)
    # Set by the service from the API key, never by the model: a buyer's own orders only.
    buyer_id: Annotated[str | None, InjectedToolArg] = None


class CompleteBasketArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: list[str] = Field(min_length=1, max_length=20, description="the basket so far")
    limit: int = Field(default=8, ge=1, le=20)


class OpportunitiesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = Field(
        default=None, max_length=14, description="first-level categories; default the buyer's"
    )
    horizon_days: int = Field(default=60, ge=7, le=180, description="how far ahead to look")
    limit: int = Field(default=6, ge=1, le=10)
    buyer_id: Annotated[str | None, InjectedToolArg] = None


class ReplenishmentArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: list[str] | None = Field(
        default=None, max_length=50, description="default: everything the buyer reorders"
    )
    service_level: float = Field(default=0.95, ge=0.5, le=0.999)
    budget_yuan: Decimal | None = Field(
        default=None, ge=0, le=MAX_BUDGET_YUAN, description="for this reorder"
    )
    on_hand: dict[str, int] | None = Field(
        default=None, description="stock the buyer has, per product or SKU id"
    )
    buyer_id: Annotated[str | None, InjectedToolArg] = None


class WatchSourcesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since_days: int = Field(default=7, ge=1, le=90, description="look this many days back")
    buyer_id: Annotated[str | None, InjectedToolArg] = None


class MerchantViewArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supplier_id_of_key: Annotated[str | None, InjectedToolArg] = None


class GuideArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=500)


class ToolArtifact(BaseModel):
    """What the buyer sees from a tool: cards (only ever from skill results) and extra data."""

    cards: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    product_ids: list[str] = []
    clarify_options: list[str] = []  # relaxations offered when nothing met the constraints


def _for_model(payload: dict[str, Any]) -> str:
    # Catalog text travels as JSON string values: data for the model, never a line of prompt.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _product_for_model(hit: SearchHit) -> dict[str, Any]:
    supplier = hit.supplier
    return {
        "id": hit.product_id,
        "title": hit.title,
        "category": hit.category_path,
        "unit_price": format_cents(hit.unit_price_cents) if hit.unit_price_cents else None,
        "price_tiers": [
            {"from_quantity": tier.min_quantity, "price": format_cents(tier.unit_price_cents)}
            for tier in hit.price_tiers
        ],
        "moq": hit.moq,
        "unit": hit.unit,
        "stock": hit.stock,
        "lead_time_days": hit.lead_time_days,
        "customisable": hit.customisable,
        "supplier": supplier.model_dump(mode="json") if supplier else None,
        "why": hit.why,
    }


class SkillTools:
    """The model's tools for one turn; the turn's language is bound, not asked of the model."""

    def __init__(self, deps: SkillDeps, language: Language) -> None:
        self.deps, self.language = deps, language
        prompts = deps.prompts
        specs: list[tuple[str, type[BaseModel], Any]] = [
            ("select_products", SelectProductsArgs, self._select_products),
            ("supplier_profile", SupplierProfileArgs, self._supplier_profile),
            ("guide", GuideArgs, self._guide),
            ("build_bundle", BuildBundleArgs, self._build_bundle),
            ("similar_products", SimilarProductsArgs, self._similar_products),
            ("similar_suppliers", SimilarSuppliersArgs, self._similar_suppliers),
            ("shelf_fillers", ShelfFillersArgs, self._shelf_fillers),
            ("complete_basket", CompleteBasketArgs, self._complete_basket),
            ("discover_opportunities", OpportunitiesArgs, self._opportunities),
            ("merchant_view", MerchantViewArgs, self._merchant_view),
            ("plan_replenishment", ReplenishmentArgs, self._replenishment),
            ("watch_sources", WatchSourcesArgs, self._watch_sources),
        ]
        self.tools: dict[str, BaseTool] = {
            name: StructuredTool.from_function(
                func=func,
                name=name,
                description=prompts.render(f"tool_{name}", language),
                args_schema=schema,
                response_format="content_and_artifact",
                handle_validation_error=_describe_invalid_arguments,
                handle_tool_error=True,
            )
            for name, schema, func in specs
        }

    def _select_products(
        self,
        query: str,
        constraints: Constraints | None = None,
        quantity: int | None = None,
        limit: int = 5,
    ) -> tuple[str, ToolArtifact]:
        try:
            result = select_products(
                self.deps.search,
                SelectProductsInput(
                    query=query,
                    constraints=constraints or Constraints(),
                    quantity=quantity,
                    limit=limit,
                    language=self.language,
                ),
            )
        except SourcingError as exc:
            raise _skill_failure(exc) from exc
        relaxations = [r.model_dump() for r in result.relaxations]
        content = _for_model(
            {
                "products": [_product_for_model(hit) for hit in result.picks],
                "applied_constraints": result.constraints.model_dump(exclude_defaults=True),
                "quantity": result.quantity,
                "nothing_matched": result.nothing_matched,
                "relaxations": relaxations,
            }
        )
        options = []
        if result.nothing_matched and result.relaxations:
            rendered = self.deps.prompts.render(
                "relaxation_options", self.language, relaxations=result.relaxations
            )
            options = rendered.splitlines()
        return content, ToolArtifact(
            cards=[hit.model_dump(mode="json") for hit in result.picks],
            data={"relaxations": relaxations, "relaxation_options": options},
            product_ids=[hit.product_id for hit in result.picks],
            clarify_options=options,
        )

    def _supplier_profile(self, supplier_id: str) -> tuple[str, ToolArtifact]:
        try:
            profile = supplier_profile(
                self.deps.engine,
                self.deps.prompts,
                SupplierProfileInput(
                    supplier_id=supplier_id.strip().lower(), language=self.language
                ),
            )
        except SourcingError as exc:
            raise _skill_failure(exc) from exc
        card = profile.model_dump(mode="json", exclude={"text"})
        content = _for_model(
            {
                "supplier": card["supplier"],
                "quality": profile.quality,
                "summary": card["summary"],
                "warnings": profile.warnings,
                "signals": card["signals"],
            }
        )
        return content, ToolArtifact(cards=[card])

    def _build_bundle(
        self,
        scene: str | None = None,
        anchor_product_ids: list[str] | None = None,
        budget_cents: int | None = None,
        quantity: int | None = None,
        constraints: Constraints | None = None,
    ) -> tuple[str, ToolArtifact]:
        try:
            result = build_bundle(
                self.deps.engine,
                self.deps.search,
                BuildBundleInput(
                    scene=scene,
                    anchor_product_ids=tuple(anchor_product_ids or ()),
                    budget_cents=budget_cents,
                    quantity=quantity,
                    constraints=constraints or Constraints(),
                    language=self.language,
                ),
                scenes=self.deps.scenes,
                complements=self.deps.copurchase,
            )
        except SourcingError as exc:
            raise _skill_failure(exc) from exc
        except ValidationError as exc:
            raise ToolException(_describe_invalid_arguments(exc)) from exc
        cards = bundle_cards(result)
        return _for_model(bundle_view(result)), ToolArtifact(
            cards=cards, product_ids=[card["product_id"] for card in cards]
        )

    def run(
        self,
        call_id: str,
        name: str,
        arguments: dict[str, Any],
        *,
        buyer_id: str | None,
        supplier_id: str | None = None,
    ) -> ToolMessage:
        """One call, with the values only the service may set put in (and any sent dropped)."""
        tool = self.tools.get(name)
        if tool is None:
            content = _for_model({"error": "unknown_tool", "message": f"no tool named {name!r}"})
            return ToolMessage(content, tool_call_id=call_id, status="error")
        args = {key: value for key, value in arguments.items() if key not in INJECTED}
        if name in BUYER_SCOPED:
            args["buyer_id"] = buyer_id
        if name in MERCHANT_SCOPED:
            args["supplier_id_of_key"] = supplier_id
        result = tool.invoke({"type": "tool_call", "name": name, "args": args, "id": call_id})
        assert isinstance(result, ToolMessage)
        return result

    def _similar_products(
        self,
        product_id: str | None = None,
        query_text: str | None = None,
        mode: SimilarMode = "substitutes",
        quantity: int | None = None,
        limit: int = 5,
    ) -> tuple[str, ToolArtifact]:
        with _as_tool_errors():
            result = similar_products(
                self.deps.engine,
                self.deps.search,
                SimilarProductsInput(
                    product_id=product_id,
                    query_text=query_text,
                    mode=mode,
                    quantity=quantity,
                    limit=limit,
                    language=self.language,
                ),
            )
        original = result.original
        content = _for_model(
            {
                "original": _product_for_model(original) if original else None,
                "mode": result.mode,
                "alternatives": [
                    _product_for_model(alt.product)
                    | {
                        "compared_at_quantity": alt.quantity,
                        "unit_price_at_quantity": _money(alt.unit_price_cents),
                        "price_difference": _money(alt.price_difference_cents),
                        "same": alt.same,
                        "differs": alt.differs,
                    }
                    for alt in result.alternatives
                ],
                "note": result.note,
            }
        )
        cards = [
            alt.product.model_dump(mode="json")
            | {"price_difference_cents": alt.price_difference_cents, "same": alt.same}
            | {"differs": alt.differs, "compared_at_quantity": alt.quantity}
            for alt in result.alternatives
        ]
        return content, ToolArtifact(
            cards=cards,
            data={"original": original.model_dump(mode="json") if original else None},
            product_ids=[alt.product.product_id for alt in result.alternatives]
            + ([original.product_id] if original else []),
        )

    def _similar_suppliers(self, supplier_id: str, limit: int = 5) -> tuple[str, ToolArtifact]:
        with _as_tool_errors():
            result = similar_suppliers(
                self.deps.engine,
                SimilarSuppliersInput(
                    supplier_id=supplier_id.strip().lower(), limit=limit, language=self.language
                ),
            )
        similar = [item.model_dump(mode="json") for item in result.similar]
        content = _for_model(
            {"supplier": result.supplier.model_dump(mode="json"), "similar": similar}
            | {"note": result.note}
        )
        return content, ToolArtifact(cards=similar)

    def _shelf_fillers(
        self,
        product_ids: list[str] | None = None,
        limit: int = 10,
        buyer_id: str | None = None,
    ) -> tuple[str, ToolArtifact]:
        if product_ids is None and buyer_id is None:
            raise ToolException(
                _for_model({"error": "invalid_arguments", "message": "give product_ids"})
            )
        with _as_tool_errors():
            result = shelf_fillers(
                self.deps.engine,
                self.deps.search,
                ShelfFillersInput(
                    product_ids=product_ids,
                    buyer_id=None if product_ids else buyer_id,
                    limit=limit,
                    language=self.language,
                ),
            )
        content = _for_model(
            {
                "stocked": result.stocked[:20],
                "fillers": [
                    _product_for_model(filler.product) | {"why": filler.why}
                    for filler in result.fillers
                ],
                "note": result.note,
            }
        )
        cards = [filler.product.model_dump(mode="json") for filler in result.fillers]
        return content, ToolArtifact(
            cards=cards, product_ids=[f.product.product_id for f in result.fillers]
        )

    def _complete_basket(self, product_ids: list[str], limit: int = 8) -> tuple[str, ToolArtifact]:
        with _as_tool_errors():
            result = complete_basket(
                self.deps.engine,
                self.deps.search,
                self.deps.copurchase,
                CompleteBasketInput(product_ids=product_ids, limit=limit, language=self.language),
            )
        suggestions = [item.model_dump(mode="json") for item in result.suggestions]
        content = _for_model({"suggestions": suggestions, "thin_data": result.thin})
        return content, ToolArtifact(
            cards=suggestions, product_ids=[item.product_id for item in result.suggestions]
        )

    def _opportunities(
        self,
        categories: list[str] | None = None,
        horizon_days: int = 60,
        limit: int = 6,
        buyer_id: str | None = None,
    ) -> tuple[str, ToolArtifact]:
        with _as_tool_errors():
            result = discover_opportunities(
                self.deps.engine,
                self.deps.search,
                DiscoverOpportunitiesInput(
                    buyer_id=buyer_id,
                    categories=categories,
                    horizon_days=horizon_days,
                    limit=limit,
                    language=self.language,
                    today=self.deps.today(),
                ),
            )
        found = [item.model_dump(mode="json") for item in result.opportunities]
        supply = [pick for item in result.opportunities for pick in item.supply]
        return _for_model({"today": str(result.today), "opportunities": found}), ToolArtifact(
            cards=found, product_ids=[pick.product_id for pick in supply]
        )

    def _replenishment(
        self,
        product_ids: list[str] | None = None,
        service_level: float = 0.95,
        budget_yuan: Decimal | None = None,
        on_hand: dict[str, int] | None = None,
        buyer_id: str | None = None,
    ) -> tuple[str, ToolArtifact]:
        buyer_id = _key_subject(
            buyer_id, "this needs a buyer key: it plans from the buyer's own orders"
        )
        with _as_tool_errors():
            plan = plan_replenishment(
                self.deps.engine,
                PlanReplenishmentInput(
                    buyer_id=buyer_id,
                    product_ids=product_ids,
                    service_level=service_level,
                    budget=budget_yuan,
                    on_hand=on_hand,
                    language=self.language,
                    today=self.deps.today(),
                ),
            )
        due = [line for line in plan.lines if line.reorder_now][:REORDER_LINES_SHOWN]
        body = plan.model_dump(mode="json", exclude={"lines"}) | {
            "reorder_now": [line.model_dump(mode="json") for line in due],
            "lines_checked": len(plan.lines),
        }
        return _for_model(body), ToolArtifact(
            cards=[line.model_dump(mode="json") for line in due],
            product_ids=[line.product_id for line in due],
        )

    def _watch_sources(
        self, since_days: int = 7, buyer_id: str | None = None
    ) -> tuple[str, ToolArtifact]:
        buyer_id = _key_subject(
            buyer_id, "this needs a buyer key: it watches the buyer's own sources"
        )
        since = utcnow() - timedelta(days=since_days)
        with _as_tool_errors():
            report = watch_sources(
                self.deps.engine,
                WatchSourcesInput(buyer_id=buyer_id, since=since, language=self.language),
                self.deps.search,
            )
        changes = [change.model_dump(mode="json") for change in report.changes[:20]]
        alternatives = [
            card.id
            for change in report.changes
            for card in change.alternatives
            if card.kind == "product"
        ]
        body = {"summary": report.text, "changes": changes, "total_changes": len(report.changes)}
        return _for_model(body), ToolArtifact(
            cards=changes,
            product_ids=[c.product_id for c in report.changes if c.product_id] + alternatives,
        )

    def _merchant_view(self, supplier_id_of_key: str | None = None) -> tuple[str, ToolArtifact]:
        supplier_id_of_key = _key_subject(
            supplier_id_of_key, "this needs a merchant key: it compares the merchant's own catalog"
        )
        with _as_tool_errors():
            view = merchant_view(
                self.deps.engine,
                MerchantViewInput(
                    supplier_id=supplier_id_of_key, language=self.language, today=self.deps.today()
                ),
            )
        body = view.model_dump(mode="json")
        return _for_model(body), ToolArtifact(data=body)

    def _guide(self, question: str) -> tuple[str, ToolArtifact]:
        result = guide(
            self.deps.knowledge,
            self.deps.prompts,
            GuideInput(question=question, language=self.language),
        )
        citations = [citation.model_dump() for citation in result.citations]
        return _for_model({"passages": citations}), ToolArtifact(data={"citations": citations})


def _describe_invalid_arguments(exc: Exception) -> str:
    """Bad arguments go back to the model as a short reason, so it can fix them."""
    return _for_model({"error": "invalid_arguments", "message": str(exc)[:500]})


def _money(cents: int | None) -> str | None:
    return format_cents(cents) if cents is not None else None


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Typed skill failures and bad inputs become answers for the model, not crashes."""
    try:
        yield
    except SourcingError as exc:
        raise _skill_failure(exc) from exc
    except ValidationError as exc:
        raise ToolException(_describe_invalid_arguments(exc)) from exc


def _key_subject(subject: str | None, needs: str) -> str:
    """The buyer or merchant the API key stands for, or a refusal the model can relay."""
    if subject is None:
        raise ToolException(_for_model({"error": "forbidden", "message": needs}))
    return subject


def _skill_failure(exc: SourcingError) -> ToolException:
    """A typed skill failure (unknown supplier …) is an answer for the model, not a crash."""
    return ToolException(_for_model({"error": exc.code, "message": exc.message}))
