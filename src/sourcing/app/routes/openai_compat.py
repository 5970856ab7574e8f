"""OpenAI-compatible chat completions and models: any OpenAI SDK or chat UI can use the assistant.

Answers carry the assistant's typed events in the `sourcing` extension field (docs/openai-api.md).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from sourcing.agents.events import ChatEvent, Clarify, Done, ErrorEvent, TextDelta, ToolResult
from sourcing.agents.history import PastMessage
from sourcing.agents.skills.cards import Card
from sourcing.app.deps import CHAT_LIMITED, AssistantDep, MetricsDep, PrincipalDep, ShutdownDep
from sourcing.app.routes.chat import collect, start_turn
from sourcing.domain.errors import BadInputError, NotFoundError, SourcingError
from sourcing.domain.kinds import MessageRole
from sourcing.prompts.loader import Language

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
MODEL_ID = "sourcing-assistant"


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_call_id … are accepted and unused

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class SourcingOptions(BaseModel):
    """The extension field of a request: continue a stored conversation, force a language."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = Field(default=None, max_length=64)
    language: Language | None = None


class CompletionRequest(BaseModel):
    # Sampling parameters (temperature, top_p …) are accepted and ignored: the service decides.
    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID
    messages: list[CompletionMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    sourcing: SourcingOptions = SourcingOptions()


def _turn_inputs(request: CompletionRequest) -> tuple[str, tuple[PastMessage, ...] | None]:
    """The buyer's new message and, unless a stored conversation continues, the history."""
    if request.model != MODEL_ID:
        raise NotFoundError(f"no model {request.model!r}; GET /v1/models lists {MODEL_ID!r}")
    last = request.messages[-1]
    message = last.text.strip()
    if last.role != "user" or not message:
        raise BadInputError("the last message must be the user's, with text")
    if request.sourcing.conversation_id:
        return message, None
    # The client's own system prompt is not used: the service's prompt and rules govern.
    roles = {"user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}
    history = tuple(
        PastMessage(roles[m.role], m.text) for m in request.messages[:-1] if m.role in roles
    )
    return message, history


def _usage(done: Done | None) -> dict[str, int]:
    usage = done.usage if done else {}
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class SourcingExtension(BaseModel):
    """The `sourcing` field of a completion: the turn's cards and its typed events."""

    conversation_id: str | None
    mode: Literal["model", "offline"] | None
    cards: list[Card]
    clarify: Clarify | None
    cited_product_ids: list[str]
    ungrounded_product_ids: list[str]
    events: list[ChatEvent]  # all but the text deltas, which make up the message


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int]
    sourcing: SourcingExtension


def _extension(events: list[ChatEvent]) -> SourcingExtension:
    done = next((e for e in events if isinstance(e, Done)), None)
    return SourcingExtension(
        conversation_id=done.conversation_id if done else None,
        mode=done.mode if done else None,
        cards=[card for e in events if isinstance(e, ToolResult) for card in e.cards],
        clarify=next((e for e in events if isinstance(e, Clarify)), None),
        cited_product_ids=done.cited_product_ids if done else [],
        ungrounded_product_ids=done.ungrounded_product_ids if done else [],
        events=[e for e in events if not isinstance(e, TextDelta)],
    )


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _chunk(
    completion_id: str,
    created: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    **extra: Any,
) -> str:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }
    return f"data: {_json(body)}\n\n"


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


async def _stream(events: AsyncGenerator[ChatEvent]) -> AsyncIterator[str]:
    completion_id, created = _completion_id(), int(time.time())
    yield _chunk(completion_id, created, {"role": "assistant", "content": ""})
    async with aclosing(events) as turn:
        try:
            async for event in turn:
                if isinstance(event, TextDelta):
                    yield _chunk(completion_id, created, {"content": event.delta})
                elif isinstance(event, ErrorEvent):
                    yield f"data: {_json({'error': event.model_dump(exclude={'type'})})}\n\n"
                    break
                elif isinstance(event, Done):
                    yield _chunk(
                        completion_id,
                        created,
                        {},
                        "stop",
                        usage=_usage(event),
                        sourcing={"event": event.model_dump(mode="json")},
                    )
                else:
                    event_body = {"event": event.model_dump(mode="json")}
                    yield _chunk(completion_id, created, {}, sourcing=event_body)
        except SourcingError as exc:
            yield f"data: {_json({'error': {'code': exc.code, 'message': exc.message}})}\n\n"
    # Also after an error chunk: OpenAI clients wait for [DONE] to end the stream.
    yield "data: [DONE]\n\n"


@router.post(
    "/chat/completions",
    response_model=None,
    dependencies=CHAT_LIMITED,
    responses={200: {"model": ChatCompletion, "content": {"text/event-stream": {}}}},
)
async def chat_completions(
    request: CompletionRequest,
    principal: PrincipalDep,
    assistant: AssistantDep,
    metrics: MetricsDep,
    shutdown: ShutdownDep,
) -> StreamingResponse | ChatCompletion:
    """The last user message is the turn; earlier ones are its history (or a stored one)."""
    message, history = _turn_inputs(request)
    events = await start_turn(
        principal,
        assistant,
        message,
        request.sourcing.conversation_id,
        request.sourcing.language,
        history,
        metrics=metrics,
        shutdown=shutdown,
    )
    if request.stream:
        return StreamingResponse(_stream(events), media_type="text/event-stream")
    collected = await collect(events)
    done = next((e for e in collected if isinstance(e, Done)), None)
    return ChatCompletion(
        id=_completion_id(),
        created=int(time.time()),
        model=MODEL_ID,
        choices=[
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(e.delta for e in collected if isinstance(e, TextDelta)),
                },
                "finish_reason": "stop",
            }
        ],
        usage=_usage(done),
        sourcing=_extension(collected),
    )


@router.get("/models")
def list_models(_principal: PrincipalDep) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "sourcing"}],
    }
