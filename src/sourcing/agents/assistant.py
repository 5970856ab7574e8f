"""The assistant's turn: a bounded tool-calling loop over the model, or the offline planner."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from anyio import to_thread
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.utils.function_calling import convert_to_openai_tool
from sqlmodel import Session

from sourcing.agents.events import (
    ChatEvent,
    Clarify,
    Done,
    ErrorEvent,
    TextDelta,
    ToolCall,
    ToolResult,
)
from sourcing.agents.grounding import GroundingFilter
from sourcing.agents.history import (
    PastMessage,
    card_product_ids,
    count_message_tokens,
    grounded_in,
    to_chat_messages,
)
from sourcing.agents.llm import ModelUnavailableError, ResilientChat
from sourcing.agents.markup import inert_text
from sourcing.agents.offline import OfflinePlanner, detect_language
from sourcing.agents.skills.deps import SkillDeps
from sourcing.agents.toolcalls import ParsedToolCall, ReasoningFilter, ToolCallGate
from sourcing.agents.toolcalls import extract_tool_calls as parse_content_calls
from sourcing.agents.tools import SkillTools, ToolArtifact
from sourcing.domain.errors import BadInputError, ConversationFullError
from sourcing.domain.kinds import MessageRole, MessageStatus
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.domain.tables import Message
from sourcing.prompts.loader import Language

Mode = Literal["model", "offline"]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssistantOptions:
    max_tool_steps: int = 4
    history_tokens: int = 3000
    # The model part of a turn (every step and retry); past it the turn degrades or ends.
    model_deadline_s: float = 120.0
    # Model tokens (prompt and completion, all steps) a turn may spend before tools stop.
    max_turn_tokens: int = 32_000
    max_conversation_turns: int = 50
    max_message_chars: int = 4000
    # The catalog's product id shape; the grounding check looks for these in answers.
    product_id_pattern: str = r"p-\d{3,}"


@dataclass(frozen=True)
class AssistantDeps:
    skills: SkillDeps
    chat: ResilientChat | None = None  # None: no endpoint configured, offline planner only
    options: AssistantOptions = AssistantOptions()


@dataclass(frozen=True)
class Turn:
    owner: str  # the API key's scope, e.g. "buyer:b-0001"
    message: str
    conversation_id: str | None = None
    language: Language | None = None
    role: str = "buyer"
    # History sent by the caller (the OpenAI-compatible API) instead of the stored one.
    history: tuple[PastMessage, ...] | None = None

    def _subject(self, role: str) -> str | None:
        owner_role, _, subject = self.owner.partition(":")
        return subject if owner_role == role and subject else None

    @property
    def buyer_id(self) -> str | None:
        """The buyer whose own data (orders, alerts) tools may read; None for other keys."""
        return self._subject("buyer")

    @property
    def supplier_id(self) -> str | None:
        """The merchant's own supplier id, for its catalog view; None for other keys."""
        return self._subject("merchant")


@dataclass
class TurnRecord:
    """What a turn showed the buyer, to persist and to report in `done`."""

    text: list[str] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    ungrounded: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: Mode = "offline"
    failed: bool = False  # an error event went out, or the turn broke off

    def see(self, event: ChatEvent) -> ChatEvent:
        if isinstance(event, TextDelta):
            self.text.append(event.delta)
        elif isinstance(event, ToolResult):
            self.cards.extend(card.model_dump(mode="json") for card in event.cards)
        elif isinstance(event, ErrorEvent):
            self.failed = True
        return event

    @property
    def shown_text(self) -> bool:
        return any(part.strip() for part in self.text)

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            if usage and isinstance(usage.get(key), int):
                self.usage[key] = self.usage.get(key, 0) + usage[key]

    def add_time(self, name: str, started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + elapsed, 2)


class Assistant:
    """Answers one turn at a time, streaming typed events; persists both sides of the turn."""

    def __init__(self, deps: AssistantDeps) -> None:
        self.deps = deps
        self.planner = OfflinePlanner(deps.skills)
        # Tools and their JSON schemas are per language and stateless: built once, not per turn.
        self._tools = self.planner.tools
        self._schemas = {
            language: [convert_to_openai_tool(tool) for tool in tools.tools.values()]
            for language, tools in self._tools.items()
        }

    @property
    def mode(self) -> Mode:
        chat = self.deps.chat
        return "model" if chat is not None and not chat.breaker_open else "offline"

    async def stream(self, turn: Turn) -> AsyncGenerator[ChatEvent]:
        started = time.perf_counter()
        record = TurnRecord(mode=self.mode)
        conversation_id, past = await to_thread.run_sync(self._begin, turn)
        try:
            # Catalog text and model output reach clients that render Markdown or HTML.
            async with aclosing(inert_text(self._answer(turn, past, record))) as events:
                async for event in events:
                    yield record.see(event)
        except BaseException:
            # A bug, a dropped client or a cancelled task: what was shown is kept, marked failed.
            # Synchronously, because a cancelled turn cannot await anything more.
            record.failed = True
            self._finish_quietly(turn, conversation_id, record)
            raise
        await to_thread.run_sync(self._finish, turn, conversation_id, record)
        record.add_time("total_ms", started)
        yield Done(
            conversation_id=conversation_id,
            cited_product_ids=record.cited,
            ungrounded_product_ids=record.ungrounded,
            mode=record.mode,
            timings_ms=record.timings_ms,
            usage=record.usage,
        )

    async def _answer(
        self, turn: Turn, past: Sequence[PastMessage], record: TurnRecord
    ) -> AsyncGenerator[ChatEvent]:
        language = turn.language or detect_language(turn.message)
        if record.mode == "offline":
            for event in await self._offline(turn, language, "offline_notice", past, record):
                yield event
        elif self.deps.skills.router.rule_intent(turn.message) == "clarify":
            # A broad ask gets a question, not a guess, whatever the model would have done.
            yield self.planner.clarify_broad(language)
        else:
            try:
                async with aclosing(self._model_turn(turn, language, past, record)) as events:
                    async for event in events:
                        yield event
            except ModelUnavailableError as exc:
                if record.shown_text:
                    yield ErrorEvent(code=exc.code, message=exc.message)
                else:
                    record.mode = "offline"
                    fallback = await self._offline(turn, language, "model_fallback", past, record)
                    for event in fallback:
                        yield event

    async def _offline(
        self,
        turn: Turn,
        language: Language,
        notice: str,
        past: Sequence[PastMessage],
        record: TurnRecord,
    ) -> list[ChatEvent]:
        started = time.perf_counter()
        answer = await to_thread.run_sync(
            lambda: self.planner.answer(
                turn.message,
                language,
                notice=notice,
                buyer_id=turn.buyer_id,
                supplier_id=turn.supplier_id,
            )
        )
        # Templates quote catalog text, which may name products no tool returned: the same
        # grounding check as the model's answers applies.
        grounded = grounded_in(past) | {
            product_id
            for event in answer.events
            if isinstance(event, ToolResult)
            for card in [*event.cards, event.data]
            for product_id in card_product_ids(card)
        }
        # Echoing an id the buyer wrote ("p-000045 有平替吗?") names nothing new.
        grounded |= set(re.findall(self.deps.options.product_id_pattern, turn.message))
        flag = self.deps.skills.prompts.render("ungrounded_flag", language)
        grounding = GroundingFilter(self.deps.options.product_id_pattern, grounded, flag)
        events = [
            TextDelta(delta=grounding.feed(event.delta) + grounding.flush())
            if isinstance(event, TextDelta)
            else event
            for event in answer.events
        ]
        record.cited.extend(answer.cited_product_ids)
        record.ungrounded.extend(grounding.ungrounded)
        record.add_time("offline_ms", started)
        return events

    async def _model_turn(
        self, turn: Turn, language: Language, past: Sequence[PastMessage], record: TurnRecord
    ) -> AsyncGenerator[ChatEvent]:
        chat = self.deps.chat
        assert chat is not None  # checked by the caller through `mode`
        options, prompts = self.deps.options, self.deps.skills.prompts
        tools, schemas = self._tools[language], self._schemas[language]
        system = prompts.render("system", language, role=turn.role, today=self.deps.skills.today())
        messages: list[BaseMessage] = [
            SystemMessage(system),
            *to_chat_messages(past, options.history_tokens),
            HumanMessage(turn.message),
        ]
        grounded = grounded_in(past)
        grounding = GroundingFilter(
            options.product_id_pattern, grounded, prompts.render("ungrounded_flag", language)
        )
        relax: Clarify | None = None
        spent = 0
        deadline = time.monotonic() + options.model_deadline_s
        for step in range(options.max_tool_steps + 1):
            # The last step offers no tools, so the loop always ends in an answer; a turn past
            # its token budget gets that last step at once.
            more = step < options.max_tool_steps and spent < options.max_turn_tokens
            offer = {"tools": schemas} if more else {}
            reasoning, gate = ReasoningFilter(), ToolCallGate()
            reply: AIMessageChunk | None = None
            step_text: list[str] = []
            model_started = time.perf_counter()
            stream = chat.astream(messages, deadline=deadline, **offer)
            async with aclosing(stream) as chunks:
                async for chunk in chunks:
                    if not isinstance(chunk, AIMessageChunk):
                        continue
                    reply = chunk if reply is None else reply + chunk
                    if isinstance(chunk.content, str) and chunk.content:
                        visible = grounding.feed(gate.feed(reasoning.feed(chunk.content)))
                        if visible:
                            step_text.append(visible)
                            yield TextDelta(delta=visible)
            record.add_time("model_ms", model_started)
            held = gate.feed(reasoning.flush()) + gate.finish()
            embedded: list[ParsedToolCall] = []
            if offer and held.strip():
                embedded, visible_rest = parse_content_calls(held, set(tools.tools))
                if not embedded and not "".join(step_text).strip():
                    embedded, visible_rest = _invented_call(held)
                held = visible_rest if embedded else held
            tail = grounding.feed(held) + grounding.flush()
            if tail:
                step_text.append(tail)
                yield TextDelta(delta=tail)
            record.add_usage(dict(reply.usage_metadata) if reply and reply.usage_metadata else None)
            spent += _step_tokens(reply, messages)
            calls = _calls_of(reply, embedded)
            if not calls or not offer:
                break
            if step_text and not "".join(step_text).endswith("\n"):
                yield TextDelta(delta="\n\n")
            messages.append(
                AIMessage(
                    content="".join(step_text),
                    tool_calls=[
                        {"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"}
                        for c in calls
                    ],
                )
            )
            for call in calls:
                yield ToolCall(id=call.id, name=call.name, arguments=call.arguments)
                tool_started = time.perf_counter()
                result, artifact = await to_thread.run_sync(_run_tool, tools, call, turn)
                record.add_time("tools_ms", tool_started)
                messages.append(result)
                grounded.update(artifact.product_ids)
                if artifact.clarify_options:
                    relax = Clarify(
                        question=prompts.render("relaxation_question", language),
                        options=artifact.clarify_options,
                    )
                yield ToolResult(
                    id=call.id, name=call.name, cards=artifact.cards, data=artifact.data
                )
        record.cited.extend(grounding.cited)
        record.ungrounded.extend(grounding.ungrounded)
        if relax is not None:
            yield relax

    def admit(self, turn: Turn) -> None:
        """Refuses, before anything streams, a message over the length cap or a turn on a
        conversation that is not the owner's or is full (the turn checks that again)."""
        cap = self.deps.options.max_message_chars
        if len(turn.message) > cap:
            raise BadInputError(
                f"the message is longer than {cap} characters ({len(turn.message)})",
                max_chars=cap,
            )
        if turn.conversation_id:
            with Session(self.deps.skills.engine) as session:
                self._stored(ConversationRepository(session), turn.owner, turn.conversation_id)

    def _stored(
        self, repo: ConversationRepository, owner: str, conversation_id: str
    ) -> list[Message]:
        stored = repo.messages(owner, conversation_id)
        cap = self.deps.options.max_conversation_turns
        if sum(m.role == MessageRole.USER for m in stored) >= cap:
            raise ConversationFullError(
                f"this conversation has reached its limit of {cap} turns: start a new "
                "conversation (send no conversation_id) to go on",
                conversation_id=conversation_id,
                max_turns=cap,
            )
        return stored

    def _begin(self, turn: Turn) -> tuple[str, list[PastMessage]]:
        with Session(self.deps.skills.engine, expire_on_commit=False) as session:
            repo = ConversationRepository(session)
            if turn.conversation_id:
                conversation = repo.get(turn.owner, turn.conversation_id)
                stored = self._stored(repo, turn.owner, conversation.id)
                past = [PastMessage(m.role, m.content, list(m.cards)) for m in stored]
            else:
                conversation = repo.create(turn.owner, title=turn.message[:40])
                past = []
            repo.add_message(turn.owner, conversation.id, MessageRole.USER, turn.message)
            session.commit()
        return conversation.id, list(turn.history) if turn.history is not None else past

    def _finish(self, turn: Turn, conversation_id: str, record: TurnRecord) -> None:
        with Session(self.deps.skills.engine) as session:
            ConversationRepository(session).add_message(
                turn.owner,
                conversation_id,
                MessageRole.ASSISTANT,
                "".join(record.text),
                cards=record.cards,
                status=MessageStatus.FAILED if record.failed else MessageStatus.COMPLETE,
            )
            session.commit()

    def _finish_quietly(self, turn: Turn, conversation_id: str, record: TurnRecord) -> None:
        """Store a broken-off turn; a database that is the cause fails here too, and the turn's
        own error is the one to report."""
        try:
            self._finish(turn, conversation_id, record)
        except Exception:
            _log.warning("could not store the failed turn of %s", conversation_id, exc_info=True)


def _calls_of(reply: AIMessageChunk | None, embedded: list[ParsedToolCall]) -> list[ParsedToolCall]:
    """Native tool calls first, then the ones written into the content."""
    if reply is None:
        return embedded
    native = [
        ParsedToolCall(name=call["name"], arguments=call["args"], id=call["id"] or _new_call_id())
        for call in reply.tool_calls
    ]
    # Arguments that were not JSON: the call still gets an answer, the schema's complaint.
    broken = [
        ParsedToolCall(name=call["name"] or "", arguments={}, id=call["id"] or _new_call_id())
        for call in reply.invalid_tool_calls
    ]
    return native + broken + embedded


_CALL_NAME = re.compile(r'"name"\s*:\s*"([^"]{1,64})"')


def _invented_call(held: str) -> tuple[list[ParsedToolCall], str]:
    """A message that is nothing but a call to a tool that does not exist (small models invent
    names): it is run, so the model hears "unknown tool" and the buyer never sees the JSON.
    With any prose around it, the block was an example and stays text."""
    names = set(_CALL_NAME.findall(held))
    if not names:
        return [], held
    calls, rest = parse_content_calls(held, names)
    return (calls, rest) if calls and not rest.strip() else ([], held)


def _step_tokens(reply: AIMessageChunk | None, sent: list[BaseMessage]) -> int:
    """The tokens one model call spent, as reported, else estimated (some servers report none)."""
    if reply is not None and reply.usage_metadata:
        return reply.usage_metadata["total_tokens"]
    return count_message_tokens([*sent, *([reply] if reply else [])])


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


def _run_tool(
    tools: SkillTools, call: ParsedToolCall, turn: Turn
) -> tuple[ToolMessage, ToolArtifact]:
    result = tools.run(
        call.id, call.name, call.arguments, buyer_id=turn.buyer_id, supplier_id=turn.supplier_id
    )
    artifact = result.artifact if isinstance(result.artifact, ToolArtifact) else ToolArtifact()
    return result, artifact
