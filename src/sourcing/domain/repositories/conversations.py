"""SQL for conversations, their messages and feedback, always scoped to an owner."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from sourcing.domain.errors import BadInputError, NotFoundError
from sourcing.domain.kinds import MessageRole, MessageStatus
from sourcing.domain.tables import Conversation, Feedback, Message
from sourcing.domain.types import utcnow


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class ConversationRepository:
    """Every read and write takes the owner, so one buyer never sees another's conversations;
    a conversation of another owner is reported as not found, not forbidden."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, owner: str, title: str = "") -> Conversation:
        conversation = Conversation(id=_new_id("conv"), owner=owner, title=title[:100])
        self.session.add(conversation)
        self.session.flush()
        return conversation

    def get(self, owner: str, conversation_id: str) -> Conversation:
        conversation = self.session.get(Conversation, conversation_id)
        if conversation is None or conversation.owner != owner:
            raise NotFoundError(
                f"no conversation {conversation_id!r}", conversation_id=conversation_id
            )
        return conversation

    def owned(self, owner: str, limit: int = 50) -> list[Conversation]:
        query = (
            select(Conversation)
            .where(Conversation.owner == owner)
            .order_by(col(Conversation.updated_at).desc())
            .limit(limit)
        )
        return list(self.session.exec(query))

    def messages(self, owner: str, conversation_id: str, limit: int = 200) -> list[Message]:
        self.get(owner, conversation_id)
        query = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(col(Message.created_at), col(Message.id))
            .limit(limit)
        )
        return list(self.session.exec(query))

    def add_message(
        self,
        owner: str,
        conversation_id: str,
        role: MessageRole,
        content: str,
        *,
        cards: list[dict[str, Any]] | None = None,
        token_count: int = 0,
        status: MessageStatus = MessageStatus.COMPLETE,
    ) -> Message:
        conversation = self.get(owner, conversation_id)
        message = Message(
            id=_new_id("msg"),
            conversation_id=conversation_id,
            role=role,
            content=content,
            cards=cards or [],
            token_count=token_count,
            status=status,
        )
        conversation.updated_at = utcnow()
        self.session.add_all([message, conversation])
        self.session.flush()
        return message

    def delete(self, owner: str, conversation_id: str) -> None:
        self.get(owner, conversation_id)
        message_ids = select(Message.id).where(Message.conversation_id == conversation_id)
        self.session.execute(delete(Feedback).where(col(Feedback.message_id).in_(message_ids)))
        self.session.execute(delete(Message).where(col(Message.conversation_id) == conversation_id))
        self.session.execute(delete(Conversation).where(col(Conversation.id) == conversation_id))

    def add_feedback(self, owner: str, message_id: str, rating: int, comment: str = "") -> Feedback:
        if rating not in (-1, 1):
            raise BadInputError("rating must be 1 (helpful) or -1 (not helpful)")
        message = self.session.get(Message, message_id)
        missing = NotFoundError(f"no assistant message {message_id!r}", message_id=message_id)
        if message is None or message.role != MessageRole.ASSISTANT:
            raise missing
        # Another owner's message answers like a missing one: its conversation id stays unsaid.
        conversation = self.session.get(Conversation, message.conversation_id)
        if conversation is None or conversation.owner != owner:
            raise missing
        feedback = Feedback(message_id=message_id, rating=rating, comment=comment[:2000])
        self.session.add(feedback)
        self.session.flush()
        return feedback
