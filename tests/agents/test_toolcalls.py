"""Tool calls and reasoning in model content, as small OpenAI-compatible endpoints write them."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sourcing.agents.toolcalls import (
    ParsedToolCall,
    ReasoningFilter,
    extract_tool_calls,
    strip_reasoning,
)

KNOWN = {"search_products", "get_supplier"}
FENCE = "```"
SEARCH = '{"name": "search_products", "arguments": {"query": "ceramic mugs", "max_price": 3.5}}'
SUPPLIER = '{"name": "get_supplier", "arguments": {"supplier_id": 7}}'


def names_and_args(calls: list[ParsedToolCall]) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in calls]


MUGS = ("search_products", {"query": "ceramic mugs", "max_price": 3.5})
SEVEN = ("get_supplier", {"supplier_id": 7})

EXTRACT_CASES = [
    pytest.param(f"{FENCE}json\n{SEARCH}\n{FENCE}", [MUGS], "", id="fenced-json"),
    pytest.param(f"{FENCE}tool_call\n{SEARCH}\n{FENCE}", [MUGS], "", id="fenced-tool_call"),
    pytest.param(f"{FENCE}\n{SEARCH}\n{FENCE}", [MUGS], "", id="fenced-no-language"),
    pytest.param(f"{FENCE}json {SEARCH} {FENCE}", [MUGS], "", id="fenced-one-line"),
    pytest.param(f"{FENCE}json\n[{SEARCH}, {SUPPLIER}]\n{FENCE}", [MUGS, SEVEN], "", id="list"),
    pytest.param(
        FENCE + 'json\n{"name": "get_supplier", "arguments": "{\\"supplier_id\\": 7}"}\n' + FENCE,
        [SEVEN],
        "",
        id="arguments-as-json-string",
    ),
    pytest.param(
        FENCE + 'json\n{"name": "get_supplier", "parameters": {"supplier_id": 7}}\n' + FENCE,
        [SEVEN],
        "",
        id="parameters-key",
    ),
    pytest.param(
        '{"type": "function", "function": {"name": "get_supplier", '
        '"arguments": "{\\"supplier_id\\": 7}"}}',
        [SEVEN],
        "",
        id="openai-wire-shape-bare",
    ),
    pytest.param(
        '<tool_call>{"name": "get_supplier", "arguments": ""}</tool_call>',
        [("get_supplier", {})],
        "",
        id="empty-argument-string",
    ),
    pytest.param('{"name": "get_supplier"}', [("get_supplier", {})], "", id="bare-no-arguments"),
    pytest.param(f"<tool_call>\n{SEARCH}\n</tool_call>", [MUGS], "", id="qwen-tag"),
    pytest.param(
        f"Let me look.\n<tool_call>\n{SEARCH}\n</tool_call>\n<tool_call>\n{SUPPLIER}\n</tool_call>",
        [MUGS, SEVEN],
        "Let me look.",
        id="qwen-several-tags-with-text",
    ),
    pytest.param(f"<tool_call>{SEARCH}", [MUGS], "", id="qwen-unclosed-tag"),
    pytest.param(
        f"<tool_call>\n{FENCE}json\n{SEARCH}\n{FENCE}\n</tool_call>", [MUGS], "", id="fence-in-tag"
    ),
    pytest.param(
        f"I will search.\n\n{FENCE}json\n{SEARCH}\n{FENCE}\n\nThen compare.",
        [MUGS],
        "I will search.\n\nThen compare.",
        id="text-around-fence",
    ),
    pytest.param(
        f"<think>maybe {SUPPLIER}</think>\n<tool_call>{SEARCH}</tool_call>",
        [MUGS],
        "",
        id="calls-inside-reasoning-ignored",
    ),
    pytest.param(
        '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
        [],
        '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
        id="unknown-tool-in-tag",
    ),
    pytest.param(
        FENCE + 'json\n{"name": "weather", "arguments": {}}\n' + FENCE,
        [],
        FENCE + 'json\n{"name": "weather", "arguments": {}}\n' + FENCE,
        id="unknown-tool-in-fence",
    ),
    pytest.param(
        f'{FENCE}json\n[{SEARCH}, {{"name": "weather"}}]\n{FENCE}',
        [],
        f'{FENCE}json\n[{SEARCH}, {{"name": "weather"}}]\n{FENCE}',
        id="list-with-unknown-stays-text",
    ),
    pytest.param(
        '<tool_call>{"name": "search_products", "arguments": {"query": </tool_call>',
        [],
        '<tool_call>{"name": "search_products", "arguments": {"query": </tool_call>',
        id="malformed-json-in-tag",
    ),
    pytest.param(
        FENCE + 'json\n{"name": "search_products", arguments: {}}\n' + FENCE,
        [],
        FENCE + 'json\n{"name": "search_products", arguments: {}}\n' + FENCE,
        id="malformed-json-in-fence",
    ),
    pytest.param(
        FENCE + 'json\n{"name": "get_supplier", "arguments": "not json"}\n' + FENCE,
        [],
        FENCE + 'json\n{"name": "get_supplier", "arguments": "not json"}\n' + FENCE,
        id="malformed-argument-string",
    ),
    pytest.param(
        FENCE + 'json\n{"name": "get_supplier", "arguments": [7]}\n' + FENCE,
        [],
        FENCE + 'json\n{"name": "get_supplier", "arguments": [7]}\n' + FENCE,
        id="arguments-not-an-object",
    ),
    pytest.param(
        f"{FENCE}python\nprint({SEARCH})\n{FENCE}",
        [],
        f"{FENCE}python\nprint({SEARCH})\n{FENCE}",
        id="code-fence-is-not-a-call",
    ),
    pytest.param(
        FENCE + 'json\n{"price": 3.5, "moq": 100}\n' + FENCE,
        [],
        FENCE + 'json\n{"price": 3.5, "moq": 100}\n' + FENCE,
        id="json-data-is-not-a-call",
    ),
    pytest.param(
        "Mugs start at ¥3.5 with MOQ 100.", [], "Mugs start at ¥3.5 with MOQ 100.", id="plain"
    ),
    pytest.param("", [], "", id="empty"),
]


@pytest.mark.parametrize(("content", "expected_calls", "expected_text"), EXTRACT_CASES)
def test_extract_tool_calls(
    content: str, expected_calls: list[tuple[str, dict[str, Any]]], expected_text: str
) -> None:
    calls, text = extract_tool_calls(content, KNOWN)
    assert names_and_args(calls) == expected_calls
    assert text == expected_text


def test_call_ids_are_stable_unique_or_given() -> None:
    content = f"<tool_call>{SEARCH}</tool_call><tool_call>{SEARCH}</tool_call>"
    first, _ = extract_tool_calls(content, KNOWN)
    again, _ = extract_tool_calls(content, KNOWN)
    assert [call.id for call in first] == [call.id for call in again]
    assert len({call.id for call in first}) == 2
    assert all(call.id.startswith("call_") for call in first)

    given = '<tool_call>{"id": "abc", "name": "get_supplier", "arguments": {}}</tool_call>'
    (call,), _ = extract_tool_calls(given, KNOWN)
    assert call.id == "abc"


def test_no_known_tools_means_no_calls() -> None:
    content = f"<tool_call>{SEARCH}</tool_call>"
    assert extract_tool_calls(content, set()) == ([], content)


REASONING_CASES = [
    pytest.param("<think>weigh MOQ vs price</think>\n\nBuy the mugs.", "Buy the mugs.", id="block"),
    pytest.param("Hello <think>x</think> world", "Hello world", id="middle"),
    pytest.param("<think>a</think>A<think>b</think>B", "AB", id="several"),
    pytest.param("<think>still thinking about", "", id="unclosed-at-start"),
    pytest.param("Answer.<think>trailing", "Answer.", id="unclosed-later"),
    pytest.param("Answer.</think>\nMore", "Answer.More", id="stray-close-tag-dropped"),
    pytest.param("a < b and <thin> is not a tag", "a < b and <thin> is not a tag", id="lookalike"),
    pytest.param("ends with <thi", "ends with <thi", id="partial-tag-at-end"),
    pytest.param("no reasoning here", "no reasoning here", id="none"),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), REASONING_CASES)
def test_strip_reasoning(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected


def test_strip_reasoning_when_the_template_opened_the_think_tag() -> None:
    text = "the user wants mugs</think>\n\nHere are mugs."
    assert strip_reasoning(text, starts_in_reasoning=True) == "Here are mugs."


SAMPLE = (
    "<think>The buyer wants 500 mugs; check </think-ish MOQ.</think>\n"
    "Top pick: mug A < mug B.<think>second thought</think> Done <thi"
)


def stream(chunks: list[str], **options: bool) -> str:
    reasoning = ReasoningFilter(**options)
    out = [reasoning.feed(chunk) for chunk in chunks]
    out.append(reasoning.flush())
    return "".join(out)


def test_filter_hides_reasoning_at_every_single_split_point() -> None:
    expected = strip_reasoning(SAMPLE)
    assert "buyer" not in expected
    assert "second" not in expected
    assert expected == "Top pick: mug A < mug B.Done <thi"
    for cut in range(len(SAMPLE) + 1):
        assert stream([SAMPLE[:cut], SAMPLE[cut:]]) == expected, cut


def test_filter_hides_reasoning_at_every_pair_of_split_points() -> None:
    expected = strip_reasoning(SAMPLE)
    for first in range(len(SAMPLE) + 1):
        for second in range(first, len(SAMPLE) + 1):
            chunks = [SAMPLE[:first], SAMPLE[first:second], SAMPLE[second:]]
            assert stream(chunks) == expected, (first, second)


def test_filter_one_character_at_a_time_never_emits_reasoning() -> None:
    reasoning = ReasoningFilter()
    emitted = [reasoning.feed(char) for char in SAMPLE]
    emitted.append(reasoning.flush())
    joined = "".join(emitted)
    assert joined == strip_reasoning(SAMPLE)
    assert not any("<" in piece and "think" in piece for piece in emitted)


def test_filter_streams_visible_text_without_waiting_for_the_end() -> None:
    reasoning = ReasoningFilter()
    assert reasoning.feed("<think>plan") == ""
    assert reasoning.feed("</think>Hello") == "Hello"
    assert reasoning.feed(" buyer <") == " buyer "
    assert reasoning.feed("b>") == "<b>"
    assert reasoning.flush() == ""


def test_filter_is_reusable_after_flush() -> None:
    reasoning = ReasoningFilter()
    assert reasoning.feed("<think>never closed") == ""
    assert reasoning.flush() == ""
    assert reasoning.feed("fresh") == "fresh"


def test_filter_starting_inside_reasoning() -> None:
    assert stream(["user wants ", "mugs</th", "ink>\n", "Mugs!"], starts_in_reasoning=True) == (
        "Mugs!"
    )


ALPHABET = [
    *'<>/{}[]":,`\n tkhinoolcal_',
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "```",
    "```json\n",
    SEARCH,
    '{"name": "search_products", "arguments": "',
    '{"name": ',
    "[" * 50,
    "\\u",
    "9" * 5000,
]


@pytest.mark.parametrize("seed", range(300))
def test_never_raises_on_arbitrary_input(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60)))
    calls, visible = extract_tool_calls(text, KNOWN)
    assert all(call.name in KNOWN and isinstance(call.arguments, dict) for call in calls)
    assert isinstance(visible, str)
    assert "<think>" not in strip_reasoning(text)
    cut = rng.randint(0, len(text))
    assert stream([text[:cut], text[cut:]]) == strip_reasoning(text)


def test_never_raises_on_deep_nesting() -> None:
    deep = "```json\n" + "[" * 100_000 + "]" * 100_000 + "\n```"
    assert extract_tool_calls(deep, KNOWN)[0] == []
