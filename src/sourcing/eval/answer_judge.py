"""Model-graded answer metrics: faithfulness to the tool results and relevance, calibrated."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, ValidationError

from sourcing.agents.llm import ResilientChat
from sourcing.domain.errors import SourcingError
from sourcing.eval.metrics import agreement, cohen_kappa
from sourcing.prompts.loader import Language, PromptLibrary

CALIBRATION = "judge_calibration.jsonl"
LABELS = ("faithful", "relevant")
# Servers that honour it (OpenAI, vLLM, llama.cpp) return only this object; others are parsed.
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "faithful": {"type": "boolean"},
                "relevant": {"type": "boolean"},
                "reason": {"type": "string"},
            },
            "required": ["faithful", "relevant", "reason"],
            "additionalProperties": False,
        },
    },
}
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class Verdict(BaseModel):
    faithful: bool
    relevant: bool
    reason: str = ""


class JudgeCase(BaseModel):
    """One answer to grade; `human` is the hand label in the calibration set."""

    model_config = ConfigDict(extra="forbid")

    id: str
    language: Language
    question: str
    evidence: str  # the turn's tool results as JSON text; "" when it ran no tool
    answer: str
    human: Verdict | None = None


class JudgedCase(BaseModel):
    id: str
    verdict: Verdict | None  # None: the judge failed or its reply was not a verdict
    human: Verdict | None = None
    error: str | None = None


class JudgeReport(BaseModel):
    judged: int
    failed: int  # no verdict: the endpoint failed or the reply did not parse
    faithfulness: float  # share of judged answers graded faithful
    relevance: float
    # Per label, against the hand labels: share agreeing and Cohen's kappa (calibration only).
    agreement: dict[str, dict[str, float]] = {}
    cases: list[JudgedCase]


def load_calibration(path: Path | None = None) -> list[JudgeCase]:
    """The hand-labelled answers the judge is checked against."""
    source = path or Path(str(resources.files("sourcing.eval").joinpath("datasets", CALIBRATION)))
    lines = source.read_text("utf-8").splitlines()
    return [JudgeCase.model_validate_json(line) for line in lines if line.strip()]


def cases_from_conversations(report: Mapping[str, Any]) -> list[JudgeCase]:
    """Every answered turn of a conversation-suite report (first run of each scenario)."""
    cases = []
    for scenario in report.get("scenarios", []):
        runs = scenario.get("runs") or [{}]
        for number, turn in enumerate(runs[0].get("turns", []), 1):
            if turn.get("answer", "").strip():
                cases.append(
                    JudgeCase(
                        id=f"{scenario['id']}#{number}",
                        language=scenario["language"],
                        question=turn["user"],
                        evidence=turn.get("evidence", ""),
                        answer=turn["answer"],
                    )
                )
    return cases


def parse_verdict(content: str) -> Verdict | None:
    """The verdict in a reply, with or without prose or a code fence around it."""
    found = _OBJECT.search(content)
    if found is None:
        return None
    try:
        return Verdict.model_validate_json(found.group(0))
    except ValidationError:
        return None


class AnswerJudge:
    """Asks a chat model for a verdict on each answer; the prompt is a file under prompts/."""

    def __init__(self, chat: ResilientChat, prompts: PromptLibrary) -> None:
        self.chat, self.prompts = chat, prompts

    async def grade(self, case: JudgeCase) -> JudgedCase:
        # Question and answer travel as JSON strings: graded text, never the judge's orders.
        messages = [
            SystemMessage(self.prompts.render("judge_system", case.language)),
            HumanMessage(
                self.prompts.render(
                    "judge_case",
                    case.language,
                    question=json.dumps(case.question, ensure_ascii=False),
                    evidence=case.evidence or "[]",
                    answer=json.dumps(case.answer, ensure_ascii=False),
                )
            ),
        ]
        try:
            reply = await self.chat.ainvoke(
                messages, response_format=RESPONSE_FORMAT, temperature=0
            )
        except SourcingError as exc:
            return JudgedCase(id=case.id, verdict=None, human=case.human, error=exc.message)
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        verdict = parse_verdict(content)
        error = None if verdict else f"not a verdict: {content[:120]!r}"
        return JudgedCase(id=case.id, verdict=verdict, human=case.human, error=error)

    async def judge(self, cases: Iterable[JudgeCase]) -> JudgeReport:
        return summarise([await self.grade(case) for case in cases])


def _share(values: Sequence[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def summarise(judged: Sequence[JudgedCase]) -> JudgeReport:
    verdicts = [case.verdict for case in judged if case.verdict is not None]
    labelled = [case for case in judged if case.verdict is not None and case.human is not None]
    agreements = {}
    for label in LABELS if labelled else ():
        pairs = [(getattr(c.verdict, label), getattr(c.human, label)) for c in labelled]
        agreements[label] = {
            "agreement": round(agreement(pairs), 4),
            "kappa": round(cohen_kappa(pairs), 4),
            "cases": float(len(pairs)),
        }
    return JudgeReport(
        judged=len(verdicts),
        failed=len(judged) - len(verdicts),
        faithfulness=_share([v.faithful for v in verdicts]),
        relevance=_share([v.relevant for v in verdicts]),
        agreement=agreements,
        cases=list(judged),
    )
