"""Chat: one turn as Server-Sent Events (or one JSON), conversations and feedback, per owner."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from sourcing.agents.assistant import Assistant, Turn
from sourcing.agents.events import ChatEvent, Done, ErrorEvent, TextDelta
from sourcing.agents.history import PastMessage
from sourcing.app.auth import Principal, owner_scope
from sourcing.app.deps import AssistantDep, IdPath, PrincipalDep, SessionDep
from sourcing.domain.errors import SourcingError
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.prompts.loader import Language

router = APIRouter(prefix="/v1", tags=["chat"])
MAX_MESSAGE_CHARS = 4000


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    conversation_id: str | None = Field(default=None, max_length=64)
    stream: bool = True
    language: Language | None = None


class FeedbackRequest(BaseModel):
    rating: int = Field(description="1 helpful, -1 not helpful")
    comment: str = Field(default="", max_length=2000)


async def _sse(events: AsyncGenerator[ChatEvent]) -> AsyncIterator[str]:
    # aclosing: when the client goes away the turn (and its upstream model call) ends at once.
    async with aclosing(events) as stream:
        try:
            async for event in stream:
                yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"
        except SourcingError as exc:
            error = ErrorEvent(code=exc.code, message=exc.message)
            yield f"event: error\ndata: {error.model_dump_json()}\n\n"


async def start_turn(
    principal: Principal,
    assistant: Assistant,
    session: Session,
    message: str,
    conversation_id: str | None = None,
    language: Language | None = None,
    history: tuple[PastMessage, ...] | None = None,
) -> AsyncGenerator[ChatEvent]:
    owner = owner_scope(principal)
    if conversation_id:
        # Checked before streaming starts, so a foreign conversation is a plain 404.
        await to_thread.run_sync(ConversationRepository(session).get, owner, conversation_id)
    turn = Turn(owner, message, conversation_id, language, str(principal.role), history)
    return assistant.stream(turn)


async def collect(events: AsyncGenerator[ChatEvent]) -> list[ChatEvent]:
    async with aclosing(events) as stream:
        return [event async for event in stream]


@router.post("/chat", response_model=None)
async def chat(
    request: ChatRequest, principal: PrincipalDep, assistant: AssistantDep, session: SessionDep
) -> StreamingResponse | dict[str, Any]:
    """Streams `text`, `tool_call`, `tool_result`, `clarify`, then `done` (or `error`)."""
    events = await start_turn(
        principal,
        assistant,
        session,
        request.message,
        request.conversation_id,
        request.language,
    )
    if request.stream:
        return StreamingResponse(_sse(events), media_type="text/event-stream")
    collected = await collect(events)
    done = next(event for event in collected if isinstance(event, Done))
    return {
        "conversation_id": done.conversation_id,
        "text": "".join(e.delta for e in collected if isinstance(e, TextDelta)),
        "events": [event.model_dump(mode="json") for event in collected],
    }


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
