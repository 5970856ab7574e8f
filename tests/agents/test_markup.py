"""Answer text stays inert for Markdown and HTML renderers, however the stream splits it."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sourcing.agents.markup import HOLD_CHARS, MarkupFilter, neutralise

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<a href='javascript:alert(1)'>x</a>",
    "![x](https://tracker.example/pixel.gif)",
    "![x][ref]",
    "[点我](javascript:alert(1))",
    "[点我](  JavaScript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<!-- hidden -->",
    "<<b>img src=x onerror=alert(1)>",
    "![a [b] c](https://tracker.example/x.gif)",
]
PIECES = ["前文", " ", "\n", "(", ")", "[", "]", "!", "<", ">", "<b>", "](javascript:x)", "img"]
LABEL = r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # link text with one level of brackets
SAFE = [
    "义乌 收纳盒 ¥6.30",
    "价格<10元",
    "<收纳盒>",
    "**热卖** 第1款",
    "[官网](https://a.example)",
    "a < b",
]


def _inert(text: str) -> bool:
    return not (
        re.search(r"<[A-Za-z/!?]", text)
        or re.search(rf"!{LABEL}(?:\([^)]*\)|\[[^\]]*\])", text)  # a complete image
        # a link to a scheme other than http(s); relative targets cannot run anything
        or re.search(rf"{LABEL}\(\s*<?(?!https?:)[a-z][a-z0-9+.-]*:", text, re.IGNORECASE)
        or re.search(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*<?(?!https?://)\S", text, re.I | re.M)
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_markup_is_made_inert(text: str) -> None:
    assert _inert(neutralise(f"好货\n{text}\n推荐")), neutralise(text)


@pytest.mark.parametrize("text", SAFE)
def test_plain_text_and_https_links_pass_unchanged(text: str) -> None:
    assert neutralise(text) == text


def test_what_a_reader_sees_stays() -> None:
    shown = neutralise("<b>义乌</b> ![收纳盒](https://t.example/x.gif) [详情](javascript:x())")
    assert shown.split() == ["义乌", "收纳盒", "详情"]


@given(
    st.lists(st.sampled_from(HOSTILE + SAFE + PIECES)),
    st.lists(st.integers(min_value=0, max_value=200), max_size=30),
)
def test_a_stream_split_anywhere_is_as_inert_as_the_whole(
    parts: list[str], cuts: list[int]
) -> None:
    text = "".join(parts)
    bounds = sorted({min(cut, len(text)) for cut in cuts} | {0, len(text)})
    markup = MarkupFilter()
    streamed = "".join(markup.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    streamed += markup.flush()
    assert _inert(streamed), streamed


def test_a_lone_bracket_or_angle_does_not_hold_the_stream_for_long() -> None:
    markup = MarkupFilter()
    assert markup.feed("价格<10元，") == "价格<10元，"
    held = markup.feed("[注")
    assert held == ""
    released = markup.feed("释" * HOLD_CHARS)
    assert released.startswith("[注")
