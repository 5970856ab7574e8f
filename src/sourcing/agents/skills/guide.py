"""AI导购 (guide): sourcing advice and platform-rule answers from the knowledge base, cited."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sourcing.agents.skills.fields import SERVICE
from sourcing.prompts.loader import Language, PromptLibrary
from sourcing.retrieval.knowledge import KnowledgeIndex

EXCERPT_CHARS = 400


class GuideInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    question: str = Field(min_length=1, max_length=500)
    language: Annotated[Language, SERVICE] = "zh"
    limit: int = Field(default=3, ge=1, le=5)


class Citation(BaseModel):
    doc_id: str
    title: str
    excerpt: str


class GuideResult(BaseModel):
    """Cited passages, best first, and the offline answer rendered from them."""

    citations: list[Citation]
    answer: str


def _excerpt(text: str) -> str:
    body = text.split("\n", 1)[-1]  # passages start with their title, shown separately
    return body if len(body) <= EXCERPT_CHARS else body[: EXCERPT_CHARS - 1] + "…"


def guide(knowledge: KnowledgeIndex, prompts: PromptLibrary, request: GuideInput) -> GuideResult:
    hits = knowledge.search(request.question, limit=request.limit, language=request.language)
    citations = [
        Citation(
            doc_id=hit.passage.doc_id, title=hit.passage.title, excerpt=_excerpt(hit.passage.text)
        )
        for hit in hits
    ]
    answer = prompts.render("guide_answer", request.language, passages=citations)
    return GuideResult(citations=citations, answer=answer)
