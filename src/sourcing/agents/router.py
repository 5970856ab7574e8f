"""The offline planner's router: picks a skill for a message by rules, then by exemplars."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from sourcing.retrieval.embedders import Embedder

# A rule match wins outright; otherwise the nearest exemplar decides if it is this close.
EXEMPLAR_FLOOR = 0.35
FALLBACK_INTENT = "select_products"  # a buyer on a sourcing platform is mostly looking for goods
# Rules are tried in this order: a broad ask also trips product cues (找, 推荐); asks for
# alternatives, complements or a scene name goods (and suppliers); a rule question that names
# goods (保温杯能仅退款吗) is still a rule question.
RULE_ORDER = (
    "clarify",
    "off_topic",
    "merchant_view",
    "build_bundle",
    "similar",
    "complete_basket",
    "replenishment",
    "watch",
    "opportunities",
    "supplier_profile",
    "guide",
    "select_products",
)


class IntentSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    cues: tuple[str, ...]
    exemplars: tuple[str, ...]


class Route(BaseModel):
    intent: str
    by: str  # "rule", "exemplar" or "fallback"
    confidence: float


class IntentRouter:
    """Built once from agents/data/intents.json and the embedder; route() is pure after that."""

    def __init__(self, embedder: Embedder) -> None:
        raw = resources.files("sourcing.agents").joinpath("data/intents.json").read_text("utf-8")
        specs = {name: IntentSpec(**spec) for name, spec in json.loads(raw)["intents"].items()}
        self._order = [name for name in RULE_ORDER if name in specs]
        self._cues = {
            name: [re.compile(cue, re.IGNORECASE) for cue in specs[name].cues] for name in specs
        }
        self._labels = [name for name in specs for _ in specs[name].exemplars]
        self._embedder = embedder
        self._exemplars: NDArray[np.float32] = embedder.embed_documents(
            [text for name in specs for text in specs[name].exemplars]
        )

    def rule_intent(self, message: str) -> str | None:
        """The intent a rule names for the message, without embedding it."""
        text = message.strip()
        for name in self._order:
            if any(cue.search(text) for cue in self._cues[name]):
                return name
        return None

    def route(self, message: str) -> Route:
        text = message.strip()
        ruled = self.rule_intent(text)
        if ruled is not None:
            return Route(intent=ruled, by="rule", confidence=1.0)
        scores = self._exemplars @ self._embedder.embed_query(text)
        best = int(np.argmax(scores))
        if float(scores[best]) >= EXEMPLAR_FLOOR:
            return Route(intent=self._labels[best], by="exemplar", confidence=float(scores[best]))
        return Route(intent=FALLBACK_INTENT, by="fallback", confidence=float(scores[best]))
