"""Read-only SQL over feedback: thumbs-down answers with the conversation that led to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from sourcing.domain.tables import Conversation, Feedback, Message


@dataclass(frozen=True)
class RatedAnswer:
    """One rated assistant message, its conversation, and every message up to and including it."""

    feedback: Feedback
    answer: Message
    conversation: Conversation
    history: list[Message]


class FeedbackRepository:
    """Across all owners: this serves evaluators, never a buyer's request."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def thumbs_down(self, limit: int = 1000) -> list[RatedAnswer]:
        """Answers rated not helpful, oldest feedback first."""
        query = (
            select(Feedback, Message, Conversation)
            .join(Message, col(Message.id) == col(Feedback.message_id))
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(col(Feedback.rating) < 0)
            .order_by(col(Feedback.created_at), col(Feedback.id))
            .limit(limit)
        )
        return [
            RatedAnswer(feedback, answer, conversation, self._history(answer))
            for feedback, answer, conversation in self.session.exec(query)
        ]

    def _history(self, answer: Message) -> list[Message]:
        query = (
            select(Message)
            .where(Message.conversation_id == answer.conversation_id)
            .order_by(col(Message.created_at), col(Message.id))
        )
        messages = list(self.session.exec(query))
        # Message ids are random, so the answer's position, not an id bound, ends the history.
        position = next(i for i, message in enumerate(messages) if message.id == answer.id)
        return messages[: position + 1]
