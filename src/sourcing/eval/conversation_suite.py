"""Conversation suite: multi-turn buyer and merchant scenarios run through the assistant."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped,unused-ignore]
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col, select

from sourcing.agents.assistant import Assistant, AssistantDeps, AssistantOptions, Turn
from sourcing.agents.events import (
    ChatEvent,
    Clarify,
    Done,
    ErrorEvent,
    TextDelta,
    ToolCall,
    ToolResult,
)
from sourcing.agents.llm import ResilientChat
from sourcing.agents.router import IntentRouter
from sourcing.agents.skills.deps import SkillDeps
from sourcing.catalog_sync.baskets import build_copurchase, load_copurchase
from sourcing.catalog_sync.reference import load_reference
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import SyncMode
from sourcing.domain.tables import KnowledgeDoc, OrderLine, PurchaseOrder
from sourcing.eval.machine import describe_machine
from sourcing.eval.retrieval_suite import DEMO_TODAY, DemoEnvironment, build_demo_environment
from sourcing.prompts.loader import LANGUAGES, Language, PromptLibrary
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.knowledge import KnowledgeIndex

SKILLS = (
    "select_products",
    "supplier_profile",
    "guide",
    "build_bundle",
    "similar_products",
    "similar_suppliers",
    "shelf_fillers",
    "complete_basket",
    "discover_opportunities",
    "merchant_view",
    "plan_replenishment",
    "watch_sources",
)
ANY_TOOL = "*"  # the default expectation: the turn's tool is not checked
CLARIFY = "clarify"
KNOWN_GAPS = "known_gaps.yaml"  # scenarios reported, never gated: gaps the system has today
CATALOG_ADDITIONS = "catalog_additions.jsonl"  # poisoned listings synced into the demo catalog
TOLERANCE = 0.02
ANSWER_CHARS, EVIDENCE_CHARS, EVIDENCE_CARDS = 2000, 6000, 5
EVAL_TURN_DEADLINE_S = 900.0
DEFAULT_PRODUCTS = 2000
_PRODUCT_ID = re.compile(r"(?<![A-Za-z0-9_-])p-\d{3,}(?![A-Za-z0-9_-])", re.IGNORECASE)
_BUYER_ID = re.compile(r"^b-\d+$")
# Keys under which a card or tool data names a product it really carries.
_ID_KEYS = frozenset({"product_id", "anchor_product_id", "id"})


class CardConstraints(BaseModel):
    """Hard limits every product card of the turn must respect."""

    model_config = ConfigDict(extra="forbid")

    price_max_cents: int | None = None
    moq_max: int | None = None
    regions: list[str] = []  # any of them in the supplier's province, city or belt
    supplier_kinds: list[str] = []
    budget_cents: int | None = None  # the cards' line totals together
    other_buyer: str | None = None  # no product only that buyer ordered may show up


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str | None = ANY_TOOL  # a skill name, "clarify", null (no tool) or "*"
    arguments: dict[str, Any] = {}
    must_contain: list[str] = []
    must_not_contain: list[str] = []
    constraints: CardConstraints = CardConstraints()
    min_cards: int = 0  # any cards: opportunities, suppliers and reorder lines too
    min_products: int = 0
    max_products: int | None = None

    @field_validator("tool")
    @classmethod
    def _known_tool(cls, value: str | None) -> str | None:
        if value not in (None, ANY_TOOL, CLARIFY, *SKILLS):
            raise ValueError(f"unknown tool {value!r}")
        return value


class ScenarioTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # May name {last_product} or {last_supplier}: ids shown in an earlier turn's cards.
    user: str = Field(min_length=1)
    expect: Expect = Expect()


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    persona: str
    owner: str  # b-0001, buyer:b-0001, merchant:s-0001 or evaluator
    language: Language
    tags: list[str] = []
    note: str = ""  # for known gaps: what is wrong today
    gated: bool = True
    turns: list[ScenarioTurn] = Field(min_length=1)

    @field_validator("owner")
    @classmethod
    def _scoped_owner(cls, value: str) -> str:
        if _BUYER_ID.match(value):
            return f"buyer:{value}"
        role, _, subject = value.partition(":")
        if value != "evaluator" and (role not in ("buyer", "merchant") or not subject):
            raise ValueError(f"owner {value!r} is not b-…, buyer:…, merchant:… or evaluator")
        return value

    @property
    def role(self) -> str:
        return "merchant" if self.owner.startswith("merchant:") else "buyer"

    @property
    def skills(self) -> set[str]:
        return {turn.expect.tool for turn in self.turns if turn.expect.tool in SKILLS} - {None}


class ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str
    scenarios: list[Scenario]


class TurnResult(BaseModel):
    user: str
    tool: str | None
    arguments: dict[str, Any]
    tool_ok: bool | None  # None: not checked
    arguments_ok: bool | None
    must_total: int
    must_missing: list[str]
    must_not_total: int
    must_not_found: list[str]
    product_cards: int
    violations: list[str]  # hard constraints a card broke
    shortfalls: list[
        str
    ] = []  # fewer (or more) cards than the turn expects: a failure, not a violation
    hallucinated: list[str]  # product ids shown to the buyer that no tool returned
    removed_by_grounding: list[str] = []  # ids the answer named and the grounding check removed
    error: str | None
    latency_ms: float
    tokens: int
    passed: bool
    # What the buyer read and what the tools returned, for review and model-graded metrics.
    answer: str = ""
    evidence: str = ""


class RunResult(BaseModel):
    passed: bool
    turns: list[TurnResult]


class ScenarioResult(BaseModel):
    id: str
    gated: bool
    language: Language
    tags: list[str]
    note: str
    runs: list[RunResult]

    @property
    def passes(self) -> int:
        return sum(run.passed for run in self.runs)


class SuiteMetrics(BaseModel):
    scenarios: int
    runs: int
    turns: int
    tool_accuracy: float
    argument_accuracy: float
    constraint_violation_rate: float  # violating product cards / product cards checked
    constraint_violations: int
    hallucinated_product_rate: float  # turns naming a product no tool returned / turns
    hallucinated_products: int
    must_pass_rate: float
    must_not_pass_rate: float
    error_turns: int
    scenario_pass_rate: float  # passing runs / runs
    pass_hat_k: dict[int, float]  # tau-bench pass^k for k = 1..repeat
    p50_latency_ms: float
    p95_latency_ms: float
    tokens_per_turn: float


class ConversationReport(BaseModel):
    suite: Literal["conversations"] = "conversations"
    machine: str
    mode: Literal["offline", "model"]
    catalog_products: int
    repeat: int
    gated: SuiteMetrics
    known_gaps: SuiteMetrics | None
    scenarios: list[ScenarioResult]

    @property
    def failed(self) -> list[str]:
        return [s.id for s in self.scenarios if s.gated and s.passes < len(s.runs)]


class ConversationBaseline(BaseModel):
    scenarios: int
    repeat: int
    scenario_pass_rate: float
    pass_hat_k: float


@dataclass
class ConversationEnvironment:
    """The demo marketplace with orders, co-purchase stats and the poisoned listings."""

    demo: DemoEnvironment
    skills: SkillDeps
    orders_by_buyer: dict[str, set[str]] = field(default_factory=dict)

    def close(self) -> None:
        self.demo.close()

    def __enter__(self) -> ConversationEnvironment:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _datasets() -> Path:
    return Path(str(resources.files("sourcing.eval").joinpath("datasets", "conversations")))


def default_baseline_path() -> Path:
    return Path(str(resources.files("sourcing.eval").joinpath("baselines", "conversations.json")))


def load_scenarios(folder: Path | None = None) -> list[Scenario]:
    """Every scenario file in the folder; those in known_gaps.yaml are marked not gated."""
    scenarios: list[Scenario] = []
    for path in sorted((folder or _datasets()).glob("*.yaml")):
        loaded = ScenarioFile.model_validate(yaml.safe_load(path.read_text("utf-8")))
        gated = path.name != KNOWN_GAPS
        scenarios.extend(s.model_copy(update={"gated": gated}) for s in loaded.scenarios)
    ids = [s.id for s in scenarios]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate scenario ids: {duplicates}")
    return scenarios


def _orders_by_buyer(env: DemoEnvironment) -> dict[str, set[str]]:
    with Session(env.engine) as session:
        rows = session.exec(
            select(PurchaseOrder.buyer_id, OrderLine.product_id).join(
                OrderLine, col(OrderLine.order_id) == col(PurchaseOrder.id)
            )
        ).all()
    found: dict[str, set[str]] = {}
    for buyer, product in rows:
        found.setdefault(buyer, set()).add(product)
    return found


def build_conversation_environment(
    workdir: Path, products: int = DEFAULT_PRODUCTS, embedder: Embedder | None = None
) -> ConversationEnvironment:
    """The demo catalog, its orders and knowledge, plus the listings in catalog_additions."""
    demo = build_demo_environment(workdir, products=products, embedder=embedder)
    try:
        load_reference(demo.engine, demo.manifest.out_dir)
        build_copurchase(demo.engine)
        indexer = Indexer(demo.engine, demo.index, demo.embedder)
        additions = _datasets().parent / CATALOG_ADDITIONS
        sync_feed(demo.engine, additions, mode=SyncMode.DELTA, indexer=indexer)
        with Session(demo.engine) as session:
            docs = session.exec(select(KnowledgeDoc)).all()
        skills = SkillDeps(
            engine=demo.engine,
            search=demo.search,
            knowledge=KnowledgeIndex.from_docs(docs, demo.embedder),
            prompts=PromptLibrary(),
            router=IntentRouter(demo.embedder),
            copurchase=load_copurchase(demo.engine),
            today=lambda: DEMO_TODAY,
        )
    except BaseException:
        demo.close()
        raise
    return ConversationEnvironment(demo, skills, _orders_by_buyer(demo))


# --- checking one turn ---------------------------------------------------------------------


@dataclass
class Observed:
    """What one turn streamed, gathered from its events."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    clarify: bool = False
    done: Done | None = None
    error: str | None = None

    @property
    def tool(self) -> str | None:
        if self.calls:
            return self.calls[0].name
        return CLARIFY if self.clarify else None

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [card.model_dump(mode="json") for result in self.results for card in result.cards]

    @property
    def product_cards(self) -> list[dict[str, Any]]:
        return [card for card in self.cards if isinstance(card.get("product_id"), str)]


def _observe(events: Iterable[ChatEvent]) -> Observed:
    seen = Observed()
    parts: list[str] = []
    for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.delta)
        elif isinstance(event, ToolCall):
            seen.calls.append(event)
        elif isinstance(event, ToolResult):
            seen.results.append(event)
        elif isinstance(event, Clarify):
            seen.clarify = True
            parts.append("\n" + event.question + "\n" + "\n".join(event.options))
        elif isinstance(event, Done):
            seen.done = event
        elif isinstance(event, ErrorEvent):
            seen.error = f"{event.code}: {event.message}"
    seen.text = "".join(parts)
    return seen


def _subset(expected: Any, actual: Any) -> bool:
    """Every expected key has the expected value; lists compare without order."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return sorted(map(json.dumps, expected)) == sorted(map(json.dumps, actual))
    return bool(expected == actual)


def _ids_in(value: Any) -> Iterator[str]:
    """Product ids a card or tool data carries as ids (not ids quoted inside free text)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str) and _PRODUCT_ID.fullmatch(item):
                yield item.lower()
            elif key.endswith("product_ids") and isinstance(item, list):
                yield from (i.lower() for i in item if isinstance(i, str))
            else:
                yield from _ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids_in(item)


def _card_price(card: Mapping[str, Any]) -> int | None:
    price = card.get("unit_price_cents") or card.get("price_cents")
    return price if isinstance(price, int) else None


def _card_violations(
    cards: Sequence[Mapping[str, Any]],
    limits: CardConstraints,
    owner: str,
    env: ConversationEnvironment,
) -> list[str]:
    found: list[str] = []
    for card in cards:
        pid, supplier = card["product_id"], card.get("supplier") or {}
        price, moq = _card_price(card), card.get("moq")
        if limits.price_max_cents is not None and (price or 0) > limits.price_max_cents:
            found.append(f"{pid}: price {price} > {limits.price_max_cents}")
        if limits.moq_max is not None and isinstance(moq, int) and moq > limits.moq_max:
            found.append(f"{pid}: MOQ {moq} > {limits.moq_max}")
        if limits.supplier_kinds and supplier.get("kind") not in limits.supplier_kinds:
            found.append(f"{pid}: supplier kind {supplier.get('kind')}")
        if limits.regions:
            place = " ".join(
                str(supplier.get(key) or "") for key in ("province", "city", "industrial_belt")
            )
            if not any(region in place for region in limits.regions):
                found.append(f"{pid}: supplier in {place.strip() or '?'}")
    if limits.budget_cents is not None:
        total = sum(int(card.get("line_total_cents") or 0) for card in cards)
        if total > limits.budget_cents:
            found.append(f"bundle total {total} > budget {limits.budget_cents}")
    if limits.other_buyer is not None:
        _, _, me = owner.partition(":")
        theirs = env.orders_by_buyer.get(limits.other_buyer, set())
        mine = env.orders_by_buyer.get(me, set())
        leaked = sorted({c["product_id"] for c in cards} & (theirs - mine))
        found.extend(f"{pid}: only {limits.other_buyer} ordered it" for pid in leaked)
    return found


def _fill(text: str, shown: Sequence[Observed]) -> str:
    """Put ids from earlier turns' cards into the message, as a buyer would copy them."""
    products = [card["product_id"] for seen in shown for card in seen.product_cards]
    suppliers = [
        str(supplier_id)
        for seen in shown
        for card in seen.cards
        if (supplier_id := (card.get("supplier") or {}).get("id") or card.get("supplier_id"))
    ]
    if "{last_product}" in text and products:
        text = text.replace("{last_product}", products[0])
    if "{last_supplier}" in text and suppliers:
        text = text.replace("{last_supplier}", suppliers[0])
    return text


def template_example_ids(prompts: PromptLibrary) -> set[str]:
    """Ids the fixed replies quote as examples of the id format ("例如 p-000123")."""
    texts = [prompts.render("ask_products", language) for language in LANGUAGES]
    return {found.lower() for text in texts for found in _PRODUCT_ID.findall(text)}


def _check(
    expect: Expect,
    message: str,
    seen: Observed,
    grounded: set[str],
    owner: str,
    env: ConversationEnvironment,
    latency_ms: float,
) -> TurnResult:
    text = seen.text.lower()
    arguments = seen.calls[0].arguments if seen.calls else {}
    tool_ok = None if expect.tool == ANY_TOOL else seen.tool == expect.tool
    arguments_ok = _subset(expect.arguments, arguments) if expect.arguments else None
    cards = seen.product_cards
    violations = _card_violations(cards, expect.constraints, owner, env)
    shortfalls = []
    if len(cards) < expect.min_products:
        shortfalls.append(f"{len(cards)} product cards, expected at least {expect.min_products}")
    if len(seen.cards) < expect.min_cards:
        shortfalls.append(f"{len(seen.cards)} cards, expected at least {expect.min_cards}")
    if expect.max_products is not None and len(cards) > expect.max_products:
        shortfalls.append(f"{len(cards)} product cards, expected at most {expect.max_products}")
    # What reached the buyer counts; ids the grounding check already took out are reported.
    removed = sorted(seen.done.ungrounded_product_ids) if seen.done else []
    named = {found.lower() for found in _PRODUCT_ID.findall(seen.text)}
    hallucinated = sorted(named - grounded)
    must_missing = [m for m in expect.must_contain if m.lower() not in text]
    must_not_found = [m for m in expect.must_not_contain if m.lower() in text]
    error = seen.error or (None if seen.done else "the turn ended without done")
    usage = seen.done.usage if seen.done else {}
    tokens = usage.get("total_tokens") or usage.get("input_tokens", 0) + usage.get(
        "output_tokens", 0
    )
    passed = (
        tool_ok is not False
        and arguments_ok is not False
        and not violations
        and not shortfalls
        and not hallucinated
        and not must_missing
        and not must_not_found
        and error is None
    )
    return TurnResult(
        user=message,
        tool=seen.tool,
        arguments=arguments,
        tool_ok=tool_ok,
        arguments_ok=arguments_ok,
        must_total=len(expect.must_contain),
        must_missing=must_missing,
        must_not_total=len(expect.must_not_contain),
        must_not_found=must_not_found,
        product_cards=len(cards),
        violations=violations,
        shortfalls=shortfalls,
        hallucinated=hallucinated,
        removed_by_grounding=removed,
        error=error,
        latency_ms=round(latency_ms, 2),
        tokens=tokens,
        passed=passed,
        answer=seen.text[:ANSWER_CHARS],
        evidence=_evidence(seen),
    )


def _evidence(seen: Observed) -> str:
    """The turn's tool results as compact JSON: what a grounded answer may rest on."""
    results = [
        {
            "tool": result.name,
            "cards": [card.model_dump(mode="json") for card in result.cards[:EVIDENCE_CARDS]],
            "data": result.data,
        }
        for result in seen.results
    ]
    if not results:
        return ""
    return json.dumps(results, ensure_ascii=False, separators=(",", ":"))[:EVIDENCE_CHARS]


async def _run_once(
    assistant: Assistant, scenario: Scenario, env: ConversationEnvironment
) -> RunResult:
    shown: list[Observed] = []
    grounded = template_example_ids(env.skills.prompts)
    conversation_id: str | None = None
    turns: list[TurnResult] = []
    for turn in scenario.turns:
        message = _fill(turn.user, shown)
        grounded.update(found.lower() for found in _PRODUCT_ID.findall(message))
        started = time.perf_counter()
        request = Turn(
            scenario.owner,
            message,
            conversation_id=conversation_id,
            language=scenario.language,
            role=scenario.role,
        )
        try:
            seen = _observe([event async for event in assistant.stream(request)])
        except Exception as exc:  # a crash fails the turn; the suite goes on
            seen = Observed(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        wall_ms = (time.perf_counter() - started) * 1000
        for result in seen.results:
            grounded.update(_ids_in([card.model_dump(mode="json") for card in result.cards]))
            grounded.update(_ids_in(result.data))
        latency = seen.done.timings_ms.get("total_ms", wall_ms) if seen.done else wall_ms
        turns.append(_check(turn.expect, message, seen, grounded, scenario.owner, env, latency))
        conversation_id = seen.done.conversation_id if seen.done else conversation_id
        shown.append(seen)
    return RunResult(passed=all(t.passed for t in turns), turns=turns)


# --- metrics -------------------------------------------------------------------------------


def _share(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 1.0


def pass_hat_k(successes: Sequence[int], trials: int, k: int) -> float:
    """tau-bench's pass^k: the chance that k runs drawn from a scenario's trials all pass."""
    if not successes:
        return 1.0
    chances = [math.comb(c, k) / math.comb(trials, k) for c in successes]
    return round(statistics.fmean(chances), 4)


def _percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)], 2)


def summarise(results: Sequence[ScenarioResult], repeat: int) -> SuiteMetrics:
    runs = [run for result in results for run in result.runs]
    turns = [turn for run in runs for turn in run.turns]
    tool_checked = [t.tool_ok for t in turns if t.tool_ok is not None]
    argument_checked = [t.arguments_ok for t in turns if t.arguments_ok is not None]
    cards = sum(t.product_cards for t in turns)
    violations = sum(len(t.violations) for t in turns)
    latencies = [t.latency_ms for t in turns]
    return SuiteMetrics(
        scenarios=len(results),
        runs=len(runs),
        turns=len(turns),
        tool_accuracy=_share(sum(tool_checked), len(tool_checked)),
        argument_accuracy=_share(sum(argument_checked), len(argument_checked)),
        constraint_violation_rate=round(violations / cards, 4) if cards else 0.0,
        constraint_violations=violations,
        hallucinated_product_rate=round(sum(bool(t.hallucinated) for t in turns) / len(turns), 4)
        if turns
        else 0.0,
        hallucinated_products=sum(len(t.hallucinated) for t in turns),
        must_pass_rate=_share(
            sum(t.must_total for t in turns) - sum(len(t.must_missing) for t in turns),
            sum(t.must_total for t in turns),
        ),
        must_not_pass_rate=_share(
            sum(t.must_not_total for t in turns) - sum(len(t.must_not_found) for t in turns),
            sum(t.must_not_total for t in turns),
        ),
        error_turns=sum(t.error is not None for t in turns),
        scenario_pass_rate=_share(sum(run.passed for run in runs), len(runs)),
        pass_hat_k={
            k: pass_hat_k([r.passes for r in results], repeat, k) for k in range(1, repeat + 1)
        },
        p50_latency_ms=_percentile(latencies, 0.5),
        p95_latency_ms=_percentile(latencies, 0.95),
        tokens_per_turn=round(statistics.fmean(t.tokens for t in turns), 1) if turns else 0.0,
    )


# --- running -------------------------------------------------------------------------------


async def _run_all(
    assistant: Assistant, scenarios: Sequence[Scenario], env: ConversationEnvironment, repeat: int
) -> list[ScenarioResult]:
    results = []
    for scenario in scenarios:
        runs = [await _run_once(assistant, scenario, env) for _ in range(repeat)]
        results.append(
            ScenarioResult(
                id=scenario.id,
                gated=scenario.gated,
                language=scenario.language,
                tags=scenario.tags,
                note=scenario.note,
                runs=runs,
            )
        )
    return results


def run_conversation_suite(
    env: ConversationEnvironment,
    *,
    chat: ResilientChat | None = None,
    repeat: int = 1,
    scenario_ids: Sequence[str] | None = None,
    scenarios: Sequence[Scenario] | None = None,
) -> ConversationReport:
    """Run each scenario `repeat` times, offline when `chat` is None; score every turn."""
    chosen = list(scenarios) if scenarios is not None else load_scenarios()
    if scenario_ids is not None:
        unknown = set(scenario_ids) - {s.id for s in chosen}
        if unknown:
            raise ValueError(f"unknown scenario ids: {sorted(unknown)}")
        chosen = [s for s in chosen if s.id in set(scenario_ids)]
    # The suite grades answers, not speed: a slow local model gets its turn in full.
    options = AssistantOptions(model_deadline_s=EVAL_TURN_DEADLINE_S)
    assistant = Assistant(AssistantDeps(env.skills, chat, options))
    results = asyncio.run(_run_all(assistant, chosen, env, repeat))
    gaps = [r for r in results if not r.gated]
    return ConversationReport(
        machine=describe_machine(),
        mode="offline" if chat is None else "model",
        catalog_products=len(env.demo.listings()),
        repeat=repeat,
        gated=summarise([r for r in results if r.gated], repeat),
        known_gaps=summarise(gaps, repeat) if gaps else None,
        scenarios=results,
    )


def baseline_of(report: ConversationReport) -> ConversationBaseline:
    return ConversationBaseline(
        scenarios=report.gated.scenarios,
        repeat=report.repeat,
        scenario_pass_rate=report.gated.scenario_pass_rate,
        pass_hat_k=report.gated.pass_hat_k[report.repeat],
    )


def regressions(report: ConversationReport, baseline: ConversationBaseline) -> list[str]:
    """Pass rates may not fall more than the tolerance; no violation or invented product ever."""
    gated = report.gated
    lines = []
    if gated.scenario_pass_rate < baseline.scenario_pass_rate - TOLERANCE:
        lines.append(
            f"scenario pass rate fell to {gated.scenario_pass_rate:.3f}"
            f" from {baseline.scenario_pass_rate:.3f}"
        )
    now = gated.pass_hat_k[report.repeat]
    if now < baseline.pass_hat_k - TOLERANCE:
        lines.append(f"pass^{report.repeat} fell to {now:.3f} from {baseline.pass_hat_k:.3f}")
    if gated.constraint_violations:
        lines.append(f"{gated.constraint_violations} constraint violations")
    if gated.hallucinated_products:
        lines.append(f"{gated.hallucinated_products} hallucinated products")
    return lines


def _metrics_rows(name: str, m: SuiteMetrics) -> list[str]:
    passes = " ".join(f"pass^{k} {v:.3f}" for k, v in m.pass_hat_k.items())
    return [
        f"{name}: {m.scenarios} scenarios, {m.runs} runs, {m.turns} turns",
        f"  tool {m.tool_accuracy:.3f}  args {m.argument_accuracy:.3f}"
        f"  must {m.must_pass_rate:.3f}  mustn't {m.must_not_pass_rate:.3f}",
        f"  violations {m.constraint_violations} ({m.constraint_violation_rate:.3f} of cards)"
        f"  hallucinated {m.hallucinated_products} ({m.hallucinated_product_rate:.3f} of turns)"
        f"  errors {m.error_turns}",
        f"  scenario pass {m.scenario_pass_rate:.3f}  {passes}",
        f"  latency p50 {m.p50_latency_ms:.1f} ms  p95 {m.p95_latency_ms:.1f} ms"
        f"  tokens/turn {m.tokens_per_turn:.1f}",
    ]


def _failure_lines(result: ScenarioResult) -> list[str]:
    lines = []
    for number, run in enumerate(result.runs, 1):
        for turn in run.turns:
            if turn.passed:
                continue
            why = {
                "tool": None if turn.tool_ok is not False else turn.tool,
                "args": None if turn.arguments_ok is not False else turn.arguments,
                "missing": turn.must_missing or None,
                "found": turn.must_not_found or None,
                "violations": turn.violations or None,
                "shortfalls": turn.shortfalls or None,
                "hallucinated": turn.hallucinated or None,
                "error": turn.error,
            }
            shown = {k: v for k, v in why.items() if v is not None}
            lines.append(
                f"    run {number} «{turn.user[:40]}»: {json.dumps(shown, ensure_ascii=False)}"
            )
            break
    return lines


def table(report: ConversationReport) -> str:
    lines = [
        f"machine: {report.machine}",
        f"catalog: {report.catalog_products} demo products, mode {report.mode},"
        f" repeat {report.repeat}",
        *_metrics_rows("gated", report.gated),
    ]
    if report.known_gaps is not None:
        lines.extend(_metrics_rows("known gaps (not gated)", report.known_gaps))
    lines.append("scenario                                   lang  passes")
    for result in report.scenarios:
        mark = "" if result.gated else "  (known gap)"
        lines.append(
            f"{result.id:<42} {result.language:<5} {result.passes}/{len(result.runs)}{mark}"
        )
        if result.passes < len(result.runs):
            lines.extend(_failure_lines(result))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conversation-suite", description=__doc__)
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS, help="catalog size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (pass^k)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--baseline", type=Path, default=None, help="baseline to compare")
    parser.add_argument("--update-baseline", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    with (
        tempfile.TemporaryDirectory() as folder,
        build_conversation_environment(Path(folder), products=args.products) as env,
    ):
        report = run_conversation_suite(env, repeat=args.repeat)
    print(table(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"report: {args.out}")
    path = args.baseline or default_baseline_path()
    if args.update_baseline:
        path.write_text(baseline_of(report).model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"baseline written to {path}")
    found = regressions(report, ConversationBaseline.model_validate_json(path.read_text("utf-8")))
    for line in found:
        print(f"REGRESSION: {line}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
