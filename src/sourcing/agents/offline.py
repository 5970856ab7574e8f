"""The offline planner: with no model endpoint, route to a skill and answer from templates."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sourcing.agents.events import ChatEvent, Clarify, TextDelta, ToolCall, ToolResult
from sourcing.agents.skills.guide import GuideInput, guide
from sourcing.agents.skills.select_products import SelectProductsInput, select_products
from sourcing.agents.skills.supplier_profile import SupplierProfileInput, supplier_profile
from sourcing.agents.tools import SkillDeps
from sourcing.domain.errors import NotFoundError
from sourcing.domain.money import format_cents
from sourcing.prompts.loader import Language
from sourcing.retrieval.lexical import has_cjk

_SUPPLIER_ID = re.compile(r"\bs-\d{3,6}\b", re.IGNORECASE)


def detect_language(text: str) -> Language:
    """The reply follows the buyer: any Chinese character means Chinese."""
    return "zh" if has_cjk(text) else "en"


@dataclass(frozen=True)
class OfflineAnswer:
    events: list[ChatEvent]
    cited_product_ids: list[str]


class OfflinePlanner:
    def __init__(self, deps: SkillDeps) -> None:
        self.deps = deps

    def answer(
        self, message: str, language: Language | None = None, *, notice: str = "offline_notice"
    ) -> OfflineAnswer:
        """`notice` names the template that opens the reply: why this answer is offline."""
        language = language or detect_language(message)
        opening = TextDelta(delta=self.deps.prompts.render(notice, language) + "\n")
        intent = self.deps.router.route(message).intent
        if intent == "clarify":
            return OfflineAnswer([opening, self.clarify_broad(language)], [])
        if intent == "guide":
            return OfflineAnswer([opening, *self._guide(message, language)], [])
        if intent == "supplier_profile":
            return OfflineAnswer([opening, *self._supplier(message, language)], [])
        events, cited = self._products(message, language)
        return OfflineAnswer([opening, *events], cited)

    def clarify_broad(self, language: Language) -> Clarify:
        prompts = self.deps.prompts
        options = prompts.render("clarify_broad_options", language).splitlines()
        return Clarify(question=prompts.render("clarify_broad", language), options=options)

    def _guide(self, message: str, language: Language) -> list[ChatEvent]:
        call = ToolCall(id=_call_id(), name="guide", arguments={"question": message})
        result = guide(
            self.deps.knowledge, self.deps.prompts, GuideInput(question=message, language=language)
        )
        citations = [citation.model_dump() for citation in result.citations]
        return [
            call,
            ToolResult(id=call.id, name="guide", data={"citations": citations}),
            TextDelta(delta=result.answer),
        ]

    def _supplier(self, message: str, language: Language) -> list[ChatEvent]:
        found = _SUPPLIER_ID.search(message)
        if found is None:
            return [TextDelta(delta=self.deps.prompts.render("ask_supplier", language))]
        supplier_id = found.group().lower()
        call = ToolCall(
            id=_call_id(), name="supplier_profile", arguments={"supplier_id": supplier_id}
        )
        try:
            profile = supplier_profile(
                self.deps.engine,
                self.deps.prompts,
                SupplierProfileInput(supplier_id=supplier_id, language=language),
            )
        except NotFoundError:
            return [call, TextDelta(delta=self.deps.prompts.render("ask_supplier", language))]
        card = profile.model_dump(mode="json", exclude={"text"})
        return [
            call,
            ToolResult(id=call.id, name="supplier_profile", cards=[card]),
            TextDelta(delta=profile.text),
        ]

    def _products(self, message: str, language: Language) -> tuple[list[ChatEvent], list[str]]:
        call = ToolCall(id=_call_id(), name="select_products", arguments={"query": message})
        result = select_products(
            self.deps.search, SelectProductsInput(query=message, language=language)
        )
        applied = result.constraints.active() + (["quantity"] if result.quantity else [])
        picks = [
            {
                "title": pick.title,
                "price": format_cents(pick.unit_price_cents) if pick.unit_price_cents else "面议",
                "moq": pick.moq,
                "unit": pick.unit,
                "supplier": pick.supplier.name if pick.supplier else "",
            }
            for pick in result.picks
        ]
        text = self.deps.prompts.render(
            "products_answer",
            language,
            picks=picks,
            applied=applied,
            relaxations=result.relaxations,
        )
        events: list[ChatEvent] = [
            call,
            ToolResult(
                id=call.id,
                name="select_products",
                cards=[pick.model_dump(mode="json") for pick in result.picks],
            ),
            TextDelta(delta=text),
        ]
        if result.nothing_matched and result.relaxations:
            options = self.deps.prompts.render(
                "relaxation_options", language, relaxations=result.relaxations
            )
            events.append(Clarify(question=text.splitlines()[-1], options=options.splitlines()))
        return events, [pick.product_id for pick in result.picks]


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"
