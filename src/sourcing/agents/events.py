"""The typed events a chat turn streams: text deltas, tool calls and results, clarify, done."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from sourcing.agents.skills.cards import Card


class TextDelta(BaseModel):
    type: Literal["text"] = "text"
    delta: str


class ToolCall(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any]


class ToolResult(BaseModel):
    """Cards come only from skill results: what the buyer sees is what a skill returned."""

    type: Literal["tool_result"] = "tool_result"
    id: str
    name: str
    cards: list[Card] = []
    data: dict[str, Any] = {}


class Clarify(BaseModel):
    type: Literal["clarify"] = "clarify"
    question: str
    options: list[str]


class Done(BaseModel):
    type: Literal["done"] = "done"
    conversation_id: str
    cited_product_ids: list[str] = []
    # Product ids the answer named that no tool returned; removed from the text shown.
    ungrounded_product_ids: list[str] = []
    mode: Literal["model", "offline"]
    timings_ms: dict[str, float] = {}
    usage: dict[str, int] = {}


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool = False  # true: sending the same message again may well succeed


ChatEvent = Annotated[
    TextDelta | ToolCall | ToolResult | Clarify | Done | ErrorEvent, Field(discriminator="type")
]
