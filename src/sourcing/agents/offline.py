"""The offline planner: with no model endpoint, route to a skill and answer from templates."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sourcing.agents.events import ChatEvent, Clarify, TextDelta, ToolCall, ToolResult
from sourcing.agents.skills.cards import cited_product_id, supplier_card
from sourcing.agents.skills.deps import SkillDeps
from sourcing.agents.skills.guide import GuideInput, guide
from sourcing.agents.skills.supplier_profile import SupplierProfileInput, supplier_profile
from sourcing.agents.tools import SkillTools
from sourcing.domain.errors import NotFoundError
from sourcing.prompts.loader import LANGUAGES, Language
from sourcing.retrieval.lexical import has_cjk
from sourcing.retrieval.query_parser import parse_query

# Ids sit between Chinese characters too ("和s-0002的"), where \b sees no boundary.
_SUPPLIER_ID = re.compile(r"(?<![A-Za-z0-9_-])s-\d{3,6}(?![A-Za-z0-9_-])", re.IGNORECASE)
_PRODUCT_ID = re.compile(r"(?<![A-Za-z0-9_-])p-\d{3,}(?![A-Za-z0-9_-])", re.IGNORECASE)
# A budget for a whole bundle: 预算5000, 预算 1.2万, 总价3000元, budget 3000, budget of ¥3,000.
_BUDGET = re.compile(
    r"(?:预算|总价|总共|一共|budget(?:\s+of)?)\s*[:：]?\s*(?:¥|rmb|cny)?\s*"
    r"(\d[\d,]*(?:\.\d+)?)\s*(万|千|k)?",
    re.IGNORECASE,
)
_BUDGET_SCALE = {"万": 10_000, "千": 1000, "k": 1000}
_PRICE_FIELDS = {"price_min_cents", "price_max_cents"}
MAX_QUERY_CHARS = 500  # the search's limit; a longer message is still a product ask
_MY_ASSORTMENT = re.compile(r"我(的店|店|的货|在卖)|货盘|my (shop|store|assortment)", re.IGNORECASE)
# Which kind of alternative the buyer wants; the first that matches wins.
_SIMILAR_MODES = (
    ("cheaper", re.compile(r"平替|便宜|低价|省钱|cheaper|dupe|budget", re.IGNORECASE)),
    ("factory_direct", re.compile(r"源头|工厂|厂家|factory", re.IGNORECASE)),
)


def parse_budget_cents(text: str) -> int | None:
    """A whole-bundle budget named as such in the message, in cents."""
    found = _BUDGET.search(text)
    if found is None:
        return None
    amount = float(found.group(1).replace(",", ""))
    scale = _BUDGET_SCALE.get((found.group(2) or "").lower(), 1)
    return round(amount * scale * 100) or None


def detect_language(text: str) -> Language:
    """The reply follows the buyer: any Chinese character means Chinese."""
    return "zh" if has_cjk(text) else "en"


Handler = Callable[[str, Language], tuple[list[ChatEvent], list[str]]]


@dataclass(frozen=True)
class OfflineAnswer:
    events: list[ChatEvent]
    cited_product_ids: list[str]


class OfflinePlanner:
    def __init__(self, deps: SkillDeps) -> None:
        self.deps = deps
        # Tools are per language and stateless: built once; the model's loop uses them too.
        self.tools = {language: SkillTools(deps, language) for language in LANGUAGES}

    def answer(
        self,
        message: str,
        language: Language | None = None,
        *,
        notice: str = "offline_notice",
        buyer_id: str | None = None,
        supplier_id: str | None = None,
    ) -> OfflineAnswer:
        """`notice` names the template that opens the reply: why this answer is offline;
        `buyer_id` is the caller's own buyer, whose orders a skill may read."""
        language = language or detect_language(message)
        opening = TextDelta(delta=self.deps.prompts.render(notice, language) + "\n")
        intent = self.deps.router.route(message).intent
        if intent == "clarify":
            return OfflineAnswer([opening, self.clarify_broad(language)], [])
        if intent == "guide":
            return OfflineAnswer([opening, *self._guide(message, language)], [])
        if intent == "supplier_profile":
            return OfflineAnswer([opening, *self._supplier(message, language)], [])
        handlers: dict[str, Handler] = {
            "build_bundle": self._bundle,
            "similar": lambda text, lang: self._similar(text, lang, buyer_id),
            "complete_basket": self._complete_basket,
            "replenishment": lambda text, lang: self._answer_with(
                "plan_replenishment", {}, lang, "replenishment_answer", buyer_id, "needs_buyer_key"
            ),
            "watch": lambda text, lang: self._answer_with(
                "watch_sources", {}, lang, "watch_answer", buyer_id, "needs_buyer_key"
            ),
            "opportunities": lambda text, lang: self._answer_with(
                "discover_opportunities", {}, lang, "opportunities_answer", buyer_id
            ),
            "merchant_view": lambda text, lang: self._answer_with(
                "merchant_view",
                {},
                lang,
                "merchant_answer",
                fallback="needs_merchant_key",
                supplier_id=supplier_id,
            ),
            "off_topic": lambda text, lang: (
                [TextDelta(delta=self.deps.prompts.render("off_topic", lang))],
                [],
            ),
        }
        if intent in handlers:
            events, cited = handlers[intent](message, language)
            return OfflineAnswer([opening, *events], cited)
        events, cited = self._products(message, language)
        return OfflineAnswer([opening, *events], cited)

    def clarify_broad(self, language: Language) -> Clarify:
        prompts = self.deps.prompts
        options = prompts.render("clarify_broad_options", language).splitlines()
        return Clarify(question=prompts.render("clarify_broad", language), options=options)

    def _bundle(self, message: str, language: Language) -> tuple[list[ChatEvent], list[str]]:
        scene = self.deps.scenes.find(message)
        anchors = [found.lower() for found in _PRODUCT_ID.findall(message)]
        if scene is None and not anchors:
            names = [s.names[language] for s in self.deps.scenes.scenes.values()]
            question = self.deps.prompts.render("ask_scene", language)
            return [TextDelta(delta=question), Clarify(question=question, options=names)], []
        parsed = parse_query(message, self.deps.search.vocabulary)
        # "预算5000元以内" is the bundle's total, not a unit price: prices come from the budget.
        constraints = {
            name: value
            for name, value in parsed.constraints.model_dump(exclude_defaults=True).items()
            if name not in _PRICE_FIELDS
        }
        # "under 3000 yuan" in a bundle ask is the bundle's total, like "预算3000".
        budget = parse_budget_cents(message) or parsed.constraints.price_max_cents
        arguments = {
            "scene": scene.id if scene else None,
            "anchor_product_ids": anchors,
            "budget_cents": budget,
            "quantity": parsed.quantity,
            "constraints": constraints,
        }
        call, result, content = self._run_tool("build_bundle", arguments, language)
        if result is None:
            return [call, TextDelta(delta=self.deps.prompts.render("ask_scene", language))], []
        text = self.deps.prompts.render("bundle_answer", language, **content)
        cited = [item["product_id"] for item in content["items"]]
        return [call, result, TextDelta(delta=text)], cited

    def _similar(
        self, message: str, language: Language, buyer_id: str | None
    ) -> tuple[list[ChatEvent], list[str]]:
        products = [found.lower() for found in _PRODUCT_ID.findall(message)]
        suppliers = [found.lower() for found in _SUPPLIER_ID.findall(message)]
        if suppliers and not products:
            arguments: dict[str, Any] = {"supplier_id": suppliers[0]}
            return self._answer_with(
                "similar_suppliers", arguments, language, "similar_suppliers_answer"
            )
        if not products and _MY_ASSORTMENT.search(message) and buyer_id:
            return self._answer_with("shelf_fillers", {}, language, "shelf_answer", buyer_id)
        mode = next((m for m, cue in _SIMILAR_MODES if cue.search(message)), "substitutes")
        anchor = {"product_id": products[0]} if products else {"query_text": message[:500]}
        return self._answer_with(
            "similar_products", anchor | {"mode": mode}, language, "similar_answer"
        )

    def _complete_basket(
        self, message: str, language: Language
    ) -> tuple[list[ChatEvent], list[str]]:
        products = list(dict.fromkeys(found.lower() for found in _PRODUCT_ID.findall(message)))
        if not products:
            return [TextDelta(delta=self.deps.prompts.render("ask_products", language))], []
        arguments = {"product_ids": products[:20]}
        return self._answer_with("complete_basket", arguments, language, "basket_answer")

    def _answer_with(
        self,
        tool: str,
        arguments: dict[str, Any],
        language: Language,
        template: str,
        buyer_id: str | None = None,
        fallback: str = "ask_products",
        supplier_id: str | None = None,
    ) -> tuple[list[ChatEvent], list[str]]:
        """Run one tool and render its result; a failure asks for what would make it work."""
        call, result, content = self._run_tool(tool, arguments, language, buyer_id, supplier_id)
        if result is None:
            return [call, TextDelta(delta=self.deps.prompts.render(fallback, language))], []
        text = self.deps.prompts.render(template, language, **content)
        cited = [pid for pid in map(cited_product_id, result.cards) if pid is not None]
        return [call, result, TextDelta(delta=text)], cited

    def _run_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        language: Language,
        buyer_id: str | None = None,
        supplier_id: str | None = None,
    ) -> tuple[ToolCall, ToolResult | None, dict[str, Any]]:
        """A skill through the model's own tool, so both modes share arguments and cards."""
        call = ToolCall(id=_call_id(), name=name, arguments=arguments)
        message = self.tools[language].run(
            call.id, name, arguments, buyer_id=buyer_id, supplier_id=supplier_id
        )
        if message.status == "error":
            return call, None, {}
        artifact = message.artifact
        result = ToolResult(id=call.id, name=name, cards=artifact.cards, data=artifact.data)
        return call, result, json.loads(str(message.content))

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
        return [
            call,
            ToolResult(id=call.id, name="supplier_profile", cards=[supplier_card(profile)]),
            TextDelta(delta=profile.text),
        ]

    def _products(self, message: str, language: Language) -> tuple[list[ChatEvent], list[str]]:
        call, result, content = self._run_tool(
            "select_products", {"query": message[:MAX_QUERY_CHARS]}, language
        )
        if result is None:
            return [call, TextDelta(delta=self.deps.prompts.render("ask_products", language))], []
        applied = list(content["applied_constraints"]) + (
            ["quantity"] if content["quantity"] else []
        )
        picks = [
            {
                "title": product["title"],
                "price": product["unit_price"] or "面议",
                "moq": product["moq"],
                "unit": product["unit"],
                "supplier": product["supplier"]["name"] if product["supplier"] else "",
            }
            for product in content["products"]
        ]
        text = self.deps.prompts.render(
            "products_answer",
            language,
            picks=picks,
            applied=applied,
            relaxations=content["relaxations"],
        )
        events: list[ChatEvent] = [call, result, TextDelta(delta=text)]
        options = result.data["relaxation_options"]
        if content["nothing_matched"] and options:
            events.append(Clarify(question=text.splitlines()[-1], options=options))
        return events, [product["id"] for product in content["products"]]


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"
