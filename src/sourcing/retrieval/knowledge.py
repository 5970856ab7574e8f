"""Retrieval over the knowledge base (platform rules, sourcing guides), passage by passage."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sourcing.domain.tables import KnowledgeDoc
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.lexical import tokenize
from sourcing.retrieval.ranking import rrf_fuse


@dataclass(frozen=True)
class Passage:
    doc_id: str
    title: str
    language: str
    kind: str
    text: str


@dataclass(frozen=True)
class PassageHit:
    passage: Passage
    score: float


def split_passages(doc: KnowledgeDoc) -> list[Passage]:
    """One passage per paragraph, each prefixed by the title so it stands on its own."""
    paragraphs = [part.strip() for part in doc.body.split("\n") if part.strip()]
    return [
        Passage(doc.id, doc.title, doc.language, str(doc.kind), f"{doc.title}\n{paragraph}")
        for paragraph in paragraphs
    ]


class KnowledgeIndex:
    """In memory: a knowledge base is hundreds of passages, not millions; built once at start."""

    def __init__(self, passages: Sequence[Passage], embedder: Embedder) -> None:
        self.passages = list(passages)
        self.embedder = embedder
        self._vectors: NDArray[np.float32] = embedder.embed_documents(
            [p.text for p in self.passages]
        )
        self._tokens = [Counter(tokenize(p.text)) for p in self.passages]
        document_frequency = Counter(token for tokens in self._tokens for token in tokens)
        total = max(len(self.passages), 1)
        self._idf = {
            token: math.log(1 + (total - df + 0.5) / (df + 0.5))
            for token, df in document_frequency.items()
        }

    @classmethod
    def from_docs(cls, docs: Sequence[KnowledgeDoc], embedder: Embedder) -> KnowledgeIndex:
        return cls([p for doc in docs for p in split_passages(doc)], embedder)

    def search(
        self, question: str, *, limit: int = 3, language: str | None = None
    ) -> list[PassageHit]:
        """Passages by fused dense and lexical rank; `language` prefers (not forces) one."""
        if not self.passages:
            return []
        dense = self._vectors @ self.embedder.embed_query(question)
        words = set(tokenize(question))
        lexical = [sum(self._idf.get(w, 0.0) for w in words if w in t) for t in self._tokens]
        order = range(len(self.passages))
        by_dense = sorted(order, key=lambda i: -float(dense[i]))
        by_words = sorted((i for i in order if lexical[i] > 0), key=lambda i: -lexical[i])
        fused = rrf_fuse([[str(i) for i in by_dense[:50]], [str(i) for i in by_words[:50]]])
        hits = []
        for key, score in fused.items():
            passage = self.passages[int(key)]
            bonus = 1.0 if language is None or passage.language == language else 0.8
            hits.append(PassageHit(passage, score * bonus))
        hits.sort(key=lambda hit: -hit.score)
        seen: set[str] = set()
        best: list[PassageHit] = []
        for hit in hits:
            if hit.passage.doc_id not in seen:  # one passage per document, to cite broadly
                seen.add(hit.passage.doc_id)
                best.append(hit)
            if len(best) == limit:
                break
        return best
