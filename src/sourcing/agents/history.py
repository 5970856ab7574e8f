"""Conversation history for the model: stored messages as chat messages, trimmed to a budget."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, trim_messages
from pydantic import BaseModel

from sourcing.domain.kinds import MessageRole
from sourcing.retrieval.lexical import cjk_count


@dataclass(frozen=True)
class PastMessage:
    role: MessageRole
    content: str
    cards: list[dict[str, Any]] = field(default_factory=list)


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: about one token per Chinese character, four ASCII chars."""
    cjk = cjk_count(text)
    return cjk + math.ceil((len(text) - cjk) / 4)


def count_message_tokens(messages: Iterable[BaseMessage]) -> int:
    # Four tokens of framing per message, as OpenAI's chat format spends.
    return sum(4 + approx_tokens(str(message.content)) for message in messages)


def to_chat_messages(past: Sequence[PastMessage], budget_tokens: int) -> list[BaseMessage]:
    """The most recent turns that fit the budget, starting on a buyer message."""
    messages: list[BaseMessage] = [
        HumanMessage(m.content) if m.role == MessageRole.USER else AIMessage(m.content)
        for m in past
        if m.role in (MessageRole.USER, MessageRole.ASSISTANT) and m.content.strip()
    ]
    if not messages:
        return []
    return trim_messages(
        messages,
        max_tokens=budget_tokens,
        token_counter=count_message_tokens,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )


def card_product_ids(card: object) -> list[str]:
    """Product ids a card carries in its id fields (never ids written inside its text), from
    a typed card or one stored as JSON."""
    if isinstance(card, BaseModel):
        card = card.model_dump(mode="json")
    if not isinstance(card, dict):
        return []
    found = [card["product_id"]] if isinstance(card.get("product_id"), str) else []
    found += [i for i in card.get("product_ids") or [] if isinstance(i, str)]
    if card.get("kind") == "product" and isinstance(card.get("id"), str):
        found.append(card["id"])  # an alternative offered for a failing source
    for key in ("alternatives", "original", "supply"):
        nested = card.get(key)
        for item in nested if isinstance(nested, list) else [nested]:
            found += card_product_ids(item)
    return found


def grounded_in(past: Sequence[PastMessage]) -> set[str]:
    """Products shown as cards earlier in the conversation may be named again."""
    return {
        product_id
        for message in past
        for card in message.cards
        for product_id in card_product_ids(card)
    }
