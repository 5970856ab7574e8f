"""The assistant's turn: persist the message, answer (offline planner for now), persist, done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.events import ChatEvent, Done, TextDelta, ToolResult
from sourcing.agents.offline import OfflinePlanner, detect_language
from sourcing.domain.kinds import MessageRole
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.prompts.loader import Language


@dataclass(frozen=True)
class Turn:
    owner: str  # the API key's scope, e.g. "buyer:b-0001"
    message: str
    conversation_id: str | None = None
    language: Language | None = None


class Assistant:
    """Answers one turn at a time; without a model endpoint the offline planner answers."""

    def __init__(self, engine: Engine, planner: OfflinePlanner) -> None:
        self.engine, self.planner = engine, planner

    def run(self, turn: Turn) -> Iterator[ChatEvent]:
        started = time.perf_counter()
        with Session(self.engine, expire_on_commit=False) as session:
            repo = ConversationRepository(session)
            conversation = (
                repo.get(turn.owner, turn.conversation_id)
                if turn.conversation_id
                else repo.create(turn.owner, title=turn.message[:40])
            )
            repo.add_message(turn.owner, conversation.id, MessageRole.USER, turn.message)
            session.commit()
        answer = self.planner.answer(turn.message, turn.language or detect_language(turn.message))
        yield from answer.events
        text = "".join(event.delta for event in answer.events if isinstance(event, TextDelta))
        cards = [card for e in answer.events if isinstance(e, ToolResult) for card in e.cards]
        with Session(self.engine) as session:
            ConversationRepository(session).add_message(
                turn.owner, conversation.id, MessageRole.ASSISTANT, text, cards=cards
            )
            session.commit()
        yield Done(
            conversation_id=conversation.id,
            cited_product_ids=answer.cited_product_ids,
            mode="offline",
            timings_ms={"total_ms": round((time.perf_counter() - started) * 1000, 2)},
        )
