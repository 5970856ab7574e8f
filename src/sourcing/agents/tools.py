"""LangChain tools over the skills: argument schemas derived from each skill's input model,
JSON data for the model, cards for the buyer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolArg, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from sourcing.agents.skills.build_bundle import BuildBundleResult, bundle_view
from sourcing.agents.skills.cards import (
    BasketCard,
    Card,
    OpportunityCard,
    ReorderCard,
    SimilarSupplierCard,
    SourceChangeCard,
    alternative_card,
    bundle_cards,
    card_of,
    product_card,
    supplier_card,
)
from sourcing.agents.skills.complete_basket import CompleteBasketResult
from sourcing.agents.skills.deps import SkillDeps
from sourcing.agents.skills.discover_opportunities import DiscoverOpportunitiesResult, MerchantView
from sourcing.agents.skills.fields import service_fields
from sourcing.agents.skills.guide import GuideResult
from sourcing.agents.skills.plan_replenishment import ReplenishmentPlan
from sourcing.agents.skills.registry import SKILLS, Skill
from sourcing.agents.skills.select_products import SelectProductsResult
from sourcing.agents.skills.similar_assortment import (
    ShelfFillersResult,
    SimilarProductsResult,
    SimilarSuppliersResult,
)
from sourcing.agents.skills.supplier_profile import SupplierProfile
from sourcing.agents.skills.watch_sources import WatchReport
from sourcing.domain.errors import SourcingError
from sourcing.domain.money import format_cents
from sourcing.prompts.loader import Language
from sourcing.retrieval.search import SearchHit

# The service-set input fields a call fills in: the turn's language and as-of day, and the
# buyer or merchant of the API key. A model never sets them; what it sends for them is dropped.
CALL_CONTEXT = ("language", "today", "buyer_id", "supplier_id")
NEEDS_KEY = {
    "buyer_id": "this needs a buyer key: it works from the buyer's own orders and sources",
    "supplier_id": "this needs a merchant key: it compares the merchant's own catalog",
}
REORDER_LINES_SHOWN = 15  # the most urgent; the model needs no more to answer
CHANGES_SHOWN = 20


def tool_arguments(skill: Skill[Any, Any]) -> type[BaseModel]:
    """The model's argument schema: the skill's input without its service-set fields (those
    the call fills in stay, hidden from the model as injected arguments)."""
    hidden = service_fields(skill.input)
    fields: dict[str, Any] = {}
    for name, info in skill.input.model_fields.items():
        if name not in hidden:
            fields[name] = (info.annotation, info)
        elif name in CALL_CONTEXT:
            fields[name] = (Annotated[Any, InjectedToolArg], None)
    title = "".join(part.title() for part in skill.name.split("_")) + "Arguments"
    return create_model(title, __config__=ConfigDict(extra="forbid"), **fields)


class ToolArtifact(BaseModel):
    """What the buyer sees from a tool: cards (only ever from skill results) and extra data."""

    cards: list[Card] = []
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
    """The model's tools for one turn's language, one per registered skill."""

    def __init__(self, deps: SkillDeps, language: Language) -> None:
        self.deps, self.language = deps, language
        self.tools: dict[str, BaseTool] = {
            name: StructuredTool.from_function(
                func=partial(self._call, skill),
                name=name,
                description=deps.prompts.render(f"tool_{name}", language),
                args_schema=tool_arguments(skill),
                response_format="content_and_artifact",
                handle_validation_error=_describe_invalid_arguments,
                handle_tool_error=True,
            )
            for name, skill in SKILLS.items()
        }

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
        tool, skill = self.tools.get(name), SKILLS.get(name)
        if tool is None or skill is None:
            content = _for_model({"error": "unknown_tool", "message": f"no tool named {name!r}"})
            return ToolMessage(content, tool_call_id=call_id, status="error")
        hidden = service_fields(skill.input)
        args = {key: value for key, value in arguments.items() if key not in hidden}
        context: dict[str, Any] = {"language": self.language, "today": self.deps.today()}
        context |= {"buyer_id": buyer_id, "supplier_id": supplier_id}
        args |= {key: value for key, value in context.items() if key in hidden}
        result = tool.invoke({"type": "tool_call", "name": name, "args": args, "id": call_id})
        assert isinstance(result, ToolMessage)
        return result

    def _call(self, skill: Skill[Any, Any], **arguments: Any) -> tuple[str, ToolArtifact]:
        for field, needs in NEEDS_KEY.items():
            info = skill.input.model_fields.get(field)
            if info is not None and info.is_required() and arguments.get(field) is None:
                raise ToolException(_for_model({"error": "forbidden", "message": needs}))
        with _as_tool_errors():
            result = skill.call(self.deps, arguments)
        body, artifact = VIEWS[skill.name](self.deps, self.language, result)
        return _for_model(body), artifact


View = Callable[[SkillDeps, Language, Any], tuple[dict[str, Any], ToolArtifact]]


def _select_products_view(
    deps: SkillDeps, language: Language, result: SelectProductsResult
) -> tuple[dict[str, Any], ToolArtifact]:
    relaxations = [r.model_dump() for r in result.relaxations]
    body = {
        "products": [_product_for_model(hit) for hit in result.picks],
        "applied_constraints": result.constraints.model_dump(exclude_defaults=True),
        "quantity": result.quantity,
        "nothing_matched": result.nothing_matched,
        "relaxations": relaxations,
    }
    options = []
    if result.nothing_matched and result.relaxations:
        rendered = deps.prompts.render(
            "relaxation_options", language, relaxations=result.relaxations
        )
        options = rendered.splitlines()
    return body, ToolArtifact(
        cards=[product_card(hit) for hit in result.picks],
        data={"relaxations": relaxations, "relaxation_options": options},
        product_ids=[hit.product_id for hit in result.picks],
        clarify_options=options,
    )


def _supplier_profile_view(
    deps: SkillDeps, language: Language, profile: SupplierProfile
) -> tuple[dict[str, Any], ToolArtifact]:
    card = supplier_card(profile)
    return card.model_dump(mode="json", exclude={"card"}), ToolArtifact(cards=[card])


def _bundle_view(
    deps: SkillDeps, language: Language, result: BuildBundleResult
) -> tuple[dict[str, Any], ToolArtifact]:
    cards = bundle_cards(result)
    return bundle_view(result), ToolArtifact(
        cards=list(cards), product_ids=[card.product_id for card in cards]
    )


def _similar_products_view(
    deps: SkillDeps, language: Language, result: SimilarProductsResult
) -> tuple[dict[str, Any], ToolArtifact]:
    original = result.original
    body = {
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
    return body, ToolArtifact(
        cards=[alternative_card(alt) for alt in result.alternatives],
        data={"original": original.model_dump(mode="json") if original else None},
        product_ids=[alt.product.product_id for alt in result.alternatives]
        + ([original.product_id] if original else []),
    )


def _similar_suppliers_view(
    deps: SkillDeps, language: Language, result: SimilarSuppliersResult
) -> tuple[dict[str, Any], ToolArtifact]:
    similar = [item.model_dump(mode="json") for item in result.similar]
    body = {"supplier": result.supplier.model_dump(mode="json"), "similar": similar}
    cards: list[Card] = [card_of(SimilarSupplierCard, item) for item in result.similar]
    return body | {"note": result.note}, ToolArtifact(cards=cards)


def _shelf_fillers_view(
    deps: SkillDeps, language: Language, result: ShelfFillersResult
) -> tuple[dict[str, Any], ToolArtifact]:
    body = {
        "stocked": result.stocked[:20],
        "fillers": [
            _product_for_model(filler.product) | {"why": filler.why} for filler in result.fillers
        ],
        "note": result.note,
    }
    return body, ToolArtifact(
        cards=[product_card(filler.product) for filler in result.fillers],
        product_ids=[f.product.product_id for f in result.fillers],
    )


def _complete_basket_view(
    deps: SkillDeps, language: Language, result: CompleteBasketResult
) -> tuple[dict[str, Any], ToolArtifact]:
    suggestions = [item.model_dump(mode="json") for item in result.suggestions]
    return {"suggestions": suggestions, "thin_data": result.thin}, ToolArtifact(
        cards=[card_of(BasketCard, item) for item in result.suggestions],
        product_ids=[item.product_id for item in result.suggestions],
    )


def _opportunities_view(
    deps: SkillDeps, language: Language, result: DiscoverOpportunitiesResult
) -> tuple[dict[str, Any], ToolArtifact]:
    found = [item.model_dump(mode="json") for item in result.opportunities]
    supply = [pick for item in result.opportunities for pick in item.supply]
    return {"today": str(result.today), "opportunities": found}, ToolArtifact(
        cards=[card_of(OpportunityCard, item) for item in result.opportunities],
        product_ids=[pick.product_id for pick in supply],
    )


def _replenishment_view(
    deps: SkillDeps, language: Language, plan: ReplenishmentPlan
) -> tuple[dict[str, Any], ToolArtifact]:
    due = [line for line in plan.lines if line.reorder_now][:REORDER_LINES_SHOWN]
    body = plan.model_dump(mode="json", exclude={"lines"}) | {
        "reorder_now": [line.model_dump(mode="json") for line in due],
        "lines_checked": len(plan.lines),
    }
    return body, ToolArtifact(
        cards=[card_of(ReorderCard, line) for line in due],
        product_ids=[line.product_id for line in due],
    )


def _watch_sources_view(
    deps: SkillDeps, language: Language, report: WatchReport
) -> tuple[dict[str, Any], ToolArtifact]:
    changes = [change.model_dump(mode="json") for change in report.changes[:CHANGES_SHOWN]]
    alternatives = [
        card.id
        for change in report.changes
        for card in change.alternatives
        if card.kind == "product"
    ]
    body = {"summary": report.text, "changes": changes, "total_changes": len(report.changes)}
    return body, ToolArtifact(
        cards=[card_of(SourceChangeCard, c) for c in report.changes[:CHANGES_SHOWN]],
        product_ids=[c.product_id for c in report.changes if c.product_id] + alternatives,
    )


def _merchant_view(
    deps: SkillDeps, language: Language, view: MerchantView
) -> tuple[dict[str, Any], ToolArtifact]:
    body = view.model_dump(mode="json")
    return body, ToolArtifact(data=body)


def _guide_view(
    deps: SkillDeps, language: Language, result: GuideResult
) -> tuple[dict[str, Any], ToolArtifact]:
    citations = [citation.model_dump() for citation in result.citations]
    return {"passages": citations}, ToolArtifact(data={"citations": citations})


VIEWS: dict[str, View] = {
    "select_products": _select_products_view,
    "supplier_profile": _supplier_profile_view,
    "guide": _guide_view,
    "build_bundle": _bundle_view,
    "similar_products": _similar_products_view,
    "similar_suppliers": _similar_suppliers_view,
    "shelf_fillers": _shelf_fillers_view,
    "complete_basket": _complete_basket_view,
    "discover_opportunities": _opportunities_view,
    "merchant_view": _merchant_view,
    "plan_replenishment": _replenishment_view,
    "watch_sources": _watch_sources_view,
}


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


def _skill_failure(exc: SourcingError) -> ToolException:
    """A typed skill failure (unknown supplier …) is an answer for the model, not a crash."""
    return ToolException(_for_model({"error": exc.code, "message": exc.message}))
