"""Answer text made inert for Markdown and HTML renderers: no tags, images or script links."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing

from sourcing.agents.events import ChatEvent, TextDelta

# A tag, comment, processing instruction or autolink: '<' then a letter, '/', '!' or '?'.
# '价格<10元' and '<收纳盒>' stay: neither is markup a renderer would act on.
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
_TAG_OPENER = re.compile(r"<(?=[A-Za-z/!?])")
# Images load by themselves (a tracker sees every reader): only their alt text is kept.
# A link target may hold one level of parentheses, as in 'javascript:alert(1)'.
_TARGET = r"\((?:[^()]|\([^()]*\))*\)"
# Link text and alt text may hold one level of brackets, as in '![a [b] c](…)'.
_LABEL = r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]"
_IMAGE = re.compile(rf"!{_LABEL}(?:{_TARGET}|\[[^\[\]]*\])")
_UNCLOSED_IMAGE = re.compile(r"!(?=\[[^\]]*$)")
# A link to anything but http(s) (javascript:, data:, vbscript:, file:) keeps its text only.
_UNSAFE = r"(?!\(\s*<?https?://)" + _TARGET
_UNSAFE_LINK = re.compile(rf"{_LABEL}{_UNSAFE}", re.IGNORECASE)
_UNSAFE_TARGET = re.compile(rf"\]{_UNSAFE}", re.IGNORECASE)
_UNSAFE_DEFINITION = re.compile(r"^[ \t]*\[[^\]]+\]:[ \t]*<?(?!https?://)\S.*$", re.I | re.M)
# How far back a construct may open and still be held for its end; past it the text goes out.
HOLD_CHARS = 400


def neutralise(text: str) -> str:
    """The text with its markup made inert; what a reader sees of it stays. Until nothing
    changes: removing '<b>' from '<<b>img …>' would otherwise leave a tag behind."""
    while (inert := _neutralise_once(text)) != text:
        text = inert
    return inert


def _neutralise_once(text: str) -> str:
    # What is removed leaves a space, never nothing: '!' or '<' before it must not join what
    # follows ('<<b>img …>', '!<b>[x](…)'), in this text or the next piece of a stream.
    text = _TAG.sub(" ", text)
    text = _TAG_OPENER.sub("< ", text)  # an opener left unclosed is no tag
    text = _IMAGE.sub(lambda found: found.group(1) or " ", text)
    text = _UNCLOSED_IMAGE.sub("", text)
    text = _UNSAFE_LINK.sub(lambda found: found.group(1) or " ", text)
    text = _UNSAFE_TARGET.sub("]", text)
    return _UNSAFE_DEFINITION.sub("", text)


class MarkupFilter:
    """Streams `neutralise`: a construct split across deltas is held until it closes, so the
    concatenated stream is as inert as each piece."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, text: str) -> str:
        self.buffer += text
        cut = _open_from(self.buffer)
        released, self.buffer = self.buffer[:cut], self.buffer[cut:]
        inert = neutralise(released)
        # A removed construct can leave '<' or '!' last ('[<](javascript:…)' → '<'), which the
        # next piece could complete; a space keeps them apart.
        return inert + " " if inert.endswith(("<", "!")) else inert

    def flush(self) -> str:
        released, self.buffer = self.buffer, ""
        return neutralise(released)


async def inert_text(events: AsyncGenerator[ChatEvent]) -> AsyncGenerator[ChatEvent]:
    """The events with their text made inert; held text goes out before the event after it."""
    markup = MarkupFilter()
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                if shown := markup.feed(event.delta):
                    yield TextDelta(delta=shown)
                continue
            if held := markup.flush():
                yield TextDelta(delta=held)
            yield event
    if held := markup.flush():
        yield TextDelta(delta=held)


def _open_from(text: str) -> int:
    """The last place where every construct before it is closed (brackets, a link's target, a
    tag, a reference definition's line), so nothing after it can complete one; the whole text
    once it has been open for longer than HOLD_CHARS."""
    last_clean = 0
    brackets = parens = 0
    in_tag = to_line_end = False
    for index, char in enumerate(text):
        after = text[index + 1 : index + 2]
        if in_tag:
            in_tag = char != ">"
        elif to_line_end:
            to_line_end = char != "\n"
        elif char == "<" and (not after or re.match(r"[A-Za-z/!?]", after)):
            in_tag = True
        elif char == "[":
            brackets += 1
        elif char == "]":
            # Also a ']' whose '[' went out already: its target is held and checked whole.
            brackets = max(0, brackets - 1)
            parens += after == "("
            to_line_end = after == ":" and not brackets
        elif char == "(" and parens and text[index - 1] != "]":
            parens += 1
        elif char == ")" and parens:
            parens -= 1
        open_now = in_tag or to_line_end or brackets or parens or char in "]!<"
        if not open_now:
            last_clean = index + 1
    if len(text) - last_clean > HOLD_CHARS:
        return len(text)
    return last_clean
