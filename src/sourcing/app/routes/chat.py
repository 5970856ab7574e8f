"""Chat: one turn as Server-Sent Events (or one JSON), conversations and feedback, per owner."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import structlog
from anyio import to_thread
from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from sourcing.agents.assistant import Assistant, Turn
from sourcing.agents.events import ChatEvent, Done, ErrorEvent, TextDelta
from sourcing.agents.history import PastMessage
from sourcing.app.auth import Principal, owner_scope
from sourcing.app.deps import (
    CHAT_LIMITED,
    AssistantDep,
    IdPath,
    MetricsDep,
    PrincipalDep,
    SessionDep,
    ShutdownDep,
)
from sourcing.app.observability import Metrics, note_conversation, observe_turn
from sourcing.app.shutdown import RETRY_AFTER_S, Shutdown, drain_turn
from sourcing.domain.db import UNAVAILABLE_ERRORS, database_unavailable
from sourcing.domain.errors import ShuttingDownError, SourcingError
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.prompts.loader import Language

router = APIRouter(prefix="/v1", tags=["chat"])
_log = structlog.get_logger(__name__)


class ChatRequest(BaseModel):
    # The length cap is SOURCING_MAX_MESSAGE_CHARS, checked by the assistant (a typed 422).
    message: str = Field(min_length=1)
    conversation_id: str | None = Field(default=None, max_length=64)
    stream: bool = True
    language: Language | None = None


class ChatResponse(BaseModel):
    """A turn answered whole (`stream: false`): its text and every event, cards included."""

    conversation_id: str
    text: str
    events: list[ChatEvent]


class FeedbackRequest(BaseModel):
    rating: int = Field(description="1 helpful, -1 not helpful")
    comment: str = Field(default="", max_length=2000)


async def _sse(first: ChatEvent, events: AsyncGenerator[ChatEvent]) -> AsyncIterator[str]:
    # aclosing: when the client goes away the turn (and its upstream model call) ends at once.
    async with aclosing(events) as stream:
        try:
            yield f"event: {first.type}\ndata: {first.model_dump_json()}\n\n"
            async for event in stream:
                yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"
        except SourcingError as exc:
            error = ErrorEvent(code=exc.code, message=exc.message)
            yield f"event: error\ndata: {error.model_dump_json()}\n\n"


async def start_turn(
    principal: Principal,
    assistant: Assistant,
    message: str,
    conversation_id: str | None = None,
    language: Language | None = None,
    history: tuple[PastMessage, ...] | None = None,
    *,
    metrics: Metrics,
    shutdown: Shutdown,
) -> AsyncGenerator[ChatEvent]:
    """The turn's events, measured and logged, and ended cleanly if the server stops."""
    owner = owner_scope(principal)
    turn = Turn(owner, message, conversation_id, language, str(principal.role), history)
    # Checked before streaming starts: a long message, a foreign or full conversation is a
    # plain 422, 404 or 409.
    await to_thread.run_sync(assistant.admit, turn)
    if conversation_id:
        note_conversation(conversation_id)
    tools = {name for skills in assistant.planner.tools.values() for name in skills.tools}
    events = _errors_typed(assistant.stream(turn))
    return drain_turn(observe_turn(events, metrics, tools), shutdown)


async def _errors_typed(events: AsyncGenerator[ChatEvent]) -> AsyncGenerator[ChatEvent]:
    """A locked or unreachable database inside a turn is the same typed 503 a route gives; any
    other failure is a typed internal error, so a stream ends with an error event, never cut."""
    async with aclosing(events) as stream:
        try:
            async for event in stream:
                yield event
        except SourcingError:
            raise
        except UNAVAILABLE_ERRORS as exc:
            raise database_unavailable(exc) from exc
        except Exception as exc:
            _log.exception("chat turn failed")
            raise SourcingError("the turn failed on our side; please try again") from exc


async def collect(events: AsyncGenerator[ChatEvent]) -> list[ChatEvent]:
    async with aclosing(events) as stream:
        collected = [event async for event in stream]
    last = collected[-1] if collected else None
    if isinstance(last, ErrorEvent) and last.code == ShuttingDownError.code:
        raise ShuttingDownError(last.message, retry_after_s=RETRY_AFTER_S)
    return collected


@router.post(
    "/chat",
    response_model=None,
    dependencies=CHAT_LIMITED,
    responses={200: {"model": ChatResponse, "content": {"text/event-stream": {}}}},
)
async def chat(
    request: ChatRequest,
    principal: PrincipalDep,
    assistant: AssistantDep,
    metrics: MetricsDep,
    shutdown: ShutdownDep,
) -> StreamingResponse | ChatResponse:
    """Streams `text`, `tool_call`, `tool_result`, `clarify`, then `done` (or `error`)."""
    events = await start_turn(
        principal,
        assistant,
        request.message,
        request.conversation_id,
        request.language,
        metrics=metrics,
        shutdown=shutdown,
    )
    if request.stream:
        # Whatever fails before the first event (a locked database) is still a plain HTTP error.
        first = await anext(events)
        return StreamingResponse(_sse(first, events), media_type="text/event-stream")
    collected = await collect(events)
    done = next(event for event in collected if isinstance(event, Done))
    return ChatResponse(
        conversation_id=done.conversation_id,
        text="".join(e.delta for e in collected if isinstance(e, TextDelta)),
        events=collected,
    )


@router.get("/conversations")
def list_conversations(principal: PrincipalDep, session: SessionDep) -> list[dict[str, Any]]:
    conversations = ConversationRepository(session).owned(owner_scope(principal))
    return [c.model_dump(mode="json", exclude={"owner"}) for c in conversations]


@router.get("/conversations/{conversation_id}")
def get_conversation(
    conversation_id: IdPath, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    repo = ConversationRepository(session)
    owner = owner_scope(principal)
    conversation = repo.get(owner, conversation_id)
    messages = [m.model_dump(mode="json") for m in repo.messages(owner, conversation_id)]
    return conversation.model_dump(mode="json", exclude={"owner"}) | {"messages": messages}


@router.delete("/conversations/{conversation_id}", status_code=204)
def delete_conversation(
    conversation_id: IdPath, principal: PrincipalDep, session: SessionDep
) -> Response:
    ConversationRepository(session).delete(owner_scope(principal), conversation_id)
    session.commit()
    return Response(status_code=204)


@router.post("/messages/{message_id}/feedback", status_code=201)
def add_feedback(
    message_id: IdPath, feedback: FeedbackRequest, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    saved = ConversationRepository(session).add_feedback(
        owner_scope(principal), message_id, feedback.rating, feedback.comment
    )
    session.commit()
    return saved.model_dump(mode="json")
