"""Tolerant parsing of model output: tool calls written into the content, and hidden reasoning."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# Endpoints that cannot emit native tool_calls write them in one of these shapes instead.
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*([A-Za-z_-]*)[ \t]*\r?\n?(.*?)```", re.DOTALL)
_FENCE_LANGUAGES = frozenset({"", "json", "tool_call", "tool_calls", "tool_code", "function_call"})
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class ParsedToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""


def _call_id(index: int, name: str, arguments: dict[str, Any]) -> str:
    # Deterministic, so parsing the same message twice yields the same ids.
    canonical = json.dumps([index, name, arguments], sort_keys=True, default=str)
    return "call_" + hashlib.sha1(canonical.encode()).hexdigest()[:16]


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _one_call(item: Any, known_tools: set[str]) -> tuple[str, dict[str, Any], str] | None:
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    # The OpenAI wire shape, {"type": "function", "function": {...}}, also turns up in content.
    source: dict[str, Any] = function if isinstance(function, dict) else item
    name = source.get("name")
    if not isinstance(name, str) or name not in known_tools:
        return None
    arguments = source.get("arguments", source.get("parameters", {}))
    if isinstance(arguments, str):
        if not arguments.strip():
            arguments = {}
        else:
            try:
                arguments = json.loads(arguments)
            except (ValueError, RecursionError):
                return None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None
    given_id = item.get("id")
    return name, arguments, given_id if isinstance(given_id, str) and given_id else ""


def _calls_in(payload: str, known_tools: set[str]) -> list[tuple[str, dict[str, Any], str]] | None:
    """All calls in one block, or None when any part of it is not a call to a known tool."""
    data = _load_json(payload.strip())
    items = data if isinstance(data, list) else [data]
    if not items:
        return None
    calls = [_one_call(item, known_tools) for item in items]
    if any(call is None for call in calls):
        return None
    return [call for call in calls if call is not None]


def extract_tool_calls(content: str, known_tools: set[str]) -> tuple[list[ParsedToolCall], str]:
    """Tool calls written into a message's content, and the text left for the user."""
    text = strip_reasoning(content) if isinstance(content, str) else ""
    found: list[tuple[str, dict[str, Any], str]] = []

    def take(match: re.Match[str], payload: str) -> str:
        calls = _calls_in(payload, known_tools)
        if calls is None:
            return match.group(0)
        found.extend(calls)
        return "\n"

    def tagged(match: re.Match[str]) -> str:
        payload = match.group(1)
        fenced = _FENCED.fullmatch(payload.strip())
        return take(match, fenced.group(2) if fenced else payload)

    def fenced(match: re.Match[str]) -> str:
        if match.group(1).lower() not in _FENCE_LANGUAGES:
            return match.group(0)
        return take(match, match.group(2))

    text = _TAGGED.sub(tagged, text)
    text = _FENCED.sub(fenced, text)
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        bare = _calls_in(stripped, known_tools)
        if bare is not None:
            found.extend(bare)
            text = ""

    calls = [
        ParsedToolCall(name=name, arguments=arguments, id=given or _call_id(i, name, arguments))
        for i, (name, arguments, given) in enumerate(found)
    ]
    visible = _EXTRA_BLANK_LINES.sub("\n\n", text).strip()
    return calls, visible


def _partial_tag(buffer: str, tag: str) -> int:
    """Length of the longest end of `buffer` that could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(buffer)), 0, -1):
        if buffer.endswith(tag[:size]):
            return size
    return 0


class ReasoningFilter:
    """Drops `<think>…</think>` from streamed text deltas, even when a tag is split across them."""

    def __init__(self, *, starts_in_reasoning: bool = False) -> None:
        # Some chat templates open <think> in the prompt, so the output begins mid-reasoning.
        self._inside = starts_in_reasoning
        self._buffer = ""
        self._skip_space = False

    def feed(self, delta: str) -> str:
        self._buffer += delta
        out: list[str] = []
        while self._buffer:
            if self._inside:
                end = self._buffer.find(THINK_CLOSE)
                if end < 0:
                    keep = _partial_tag(self._buffer, THINK_CLOSE)
                    self._buffer = self._buffer[len(self._buffer) - keep :]
                    break
                self._buffer = self._buffer[end + len(THINK_CLOSE) :]
                self._inside = False
                self._skip_space = True
                continue
            if self._skip_space:
                self._buffer = self._buffer.lstrip()
                if not self._buffer:
                    break
                self._skip_space = False
            start = self._buffer.find(THINK_OPEN)
            stray = self._buffer.find(THINK_CLOSE)
            if stray >= 0 and (start < 0 or stray < start):
                out.append(self._buffer[:stray])
                self._buffer = self._buffer[stray + len(THINK_CLOSE) :]
                self._skip_space = True
                continue
            if start >= 0:
                out.append(self._buffer[:start])
                self._buffer = self._buffer[start + len(THINK_OPEN) :]
                self._inside = True
                continue
            keep = max(
                _partial_tag(self._buffer, THINK_OPEN), _partial_tag(self._buffer, THINK_CLOSE)
            )
            out.append(self._buffer[: len(self._buffer) - keep])
            self._buffer = self._buffer[len(self._buffer) - keep :]
            break
        return "".join(out)

    def flush(self) -> str:
        """What is still held back at the end of the stream; unclosed reasoning is dropped."""
        rest = "" if self._inside else self._buffer
        if self._skip_space:
            rest = rest.lstrip()
        self._inside = False
        self._buffer = ""
        self._skip_space = False
        return rest


def strip_reasoning(text: str, *, starts_in_reasoning: bool = False) -> str:
    """The text without `<think>…</think>` blocks (an unclosed one runs to the end)."""
    reasoning = ReasoningFilter(starts_in_reasoning=starts_in_reasoning)
    return reasoning.feed(text) + reasoning.flush()


# Where a tool call written into the content may begin; from there the text is held back.
_CALL_MARKERS = ("```", "<tool_call>")
_BARE_JSON_START = ("{", "[")


class ToolCallGate:
    """Streams visible text until it could be a tool call written into the content.

    From a fence, a `<tool_call>` tag, or a JSON value opening the message, the rest is held
    until the message ends; then `extract_tool_calls` decides whether it was a call or text.
    """

    def __init__(self) -> None:
        self._released = ""  # everything let through so far, to know if the message opened
        self._held = ""
        self._holding = False

    def feed(self, delta: str) -> str:
        if self._holding:
            self._held += delta
            return ""
        text = self._held + delta
        self._held = ""
        if not self._released.strip() and text.lstrip().startswith(_BARE_JSON_START):
            self._holding, self._held = True, text
            return ""
        starts = [text.find(marker) for marker in _CALL_MARKERS]
        found = [position for position in starts if position >= 0]
        if found:
            cut = min(found)
            self._holding, self._held = True, text[cut:]
            return self._release(text[:cut])
        keep = max(_partial_tag(text, marker) for marker in _CALL_MARKERS)
        self._held = text[len(text) - keep :]
        return self._release(text[: len(text) - keep])

    def _release(self, text: str) -> str:
        self._released += text
        return text

    def finish(self) -> str:
        """The held-back text, to be checked for tool calls; the gate is then reset."""
        held = self._held
        self._released, self._held, self._holding = "", "", False
        return held
