"""Conversations are scoped to their owner on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from sourcing.domain.errors import BadInputError, NotFoundError
from sourcing.domain.kinds import MessageRole
from sourcing.domain.repositories.conversations import ConversationRepository
from sourcing.domain.tables import Feedback, Message

ALICE, BOB = "buyer:b-0001", "buyer:b-0002"


def test_a_conversation_keeps_its_messages_in_order(engine: Engine) -> None:
    with Session(engine) as session:
        repo = ConversationRepository(session)
        conversation = repo.create(ALICE, "收纳盒")
        repo.add_message(ALICE, conversation.id, MessageRole.USER, "找收纳盒")
        repo.add_message(
            ALICE, conversation.id, MessageRole.ASSISTANT, "为你找到…", cards=[{"product_id": "p1"}]
        )
        session.commit()
        messages = repo.messages(ALICE, conversation.id)
        assert [(m.role, m.content) for m in messages] == [
            (MessageRole.USER, "找收纳盒"),
            (MessageRole.ASSISTANT, "为你找到…"),
        ]
        assert messages[1].cards == [{"product_id": "p1"}]
        assert [c.id for c in repo.owned(ALICE)] == [conversation.id]


def test_another_owner_sees_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        repo = ConversationRepository(session)
        conversation = repo.create(ALICE)
        reply = repo.add_message(ALICE, conversation.id, MessageRole.ASSISTANT, "hi")
        session.commit()
        assert repo.owned(BOB) == []
        for action in (
            lambda: repo.get(BOB, conversation.id),
            lambda: repo.messages(BOB, conversation.id),
            lambda: repo.add_message(BOB, conversation.id, MessageRole.USER, "x"),
            lambda: repo.delete(BOB, conversation.id),
            lambda: repo.add_feedback(BOB, reply.id, 1),
        ):
            with pytest.raises(NotFoundError):
                action()


def test_feedback_and_delete(engine: Engine) -> None:
    with Session(engine) as session:
        repo = ConversationRepository(session)
        conversation = repo.create(ALICE)
        question = repo.add_message(ALICE, conversation.id, MessageRole.USER, "q")
        reply = repo.add_message(ALICE, conversation.id, MessageRole.ASSISTANT, "a")
        repo.add_feedback(ALICE, reply.id, -1, "wrong size")
        with pytest.raises(BadInputError):
            repo.add_feedback(ALICE, reply.id, 5)
        with pytest.raises(NotFoundError):
            repo.add_feedback(ALICE, question.id, 1)
        session.commit()
        repo.delete(ALICE, conversation.id)
        session.commit()
        assert session.exec(select(Message)).all() == []
        assert session.exec(select(Feedback)).all() == []
        with pytest.raises(NotFoundError):
            repo.get(ALICE, conversation.id)
