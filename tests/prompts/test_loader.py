"""Prompt templates: loaded by name and language, strict about missing values."""

from __future__ import annotations

import pytest

from sourcing.domain.errors import ConfigurationError
from sourcing.prompts.loader import PromptLibrary


@pytest.fixture(scope="module")
def prompts() -> PromptLibrary:
    return PromptLibrary()


def test_every_template_exists_in_both_languages(prompts: PromptLibrary) -> None:
    assert prompts.names("zh") == prompts.names("en")
    assert {"guide_answer", "supplier_profile"} <= prompts.names("zh")


def test_rendering_fills_the_values(prompts: PromptLibrary) -> None:
    passages = [{"title": "发票怎么开", "excerpt": "可开增值税专票。"}]
    text = prompts.render("guide_answer", "zh", passages=passages)
    assert "【1】发票怎么开" in text
    assert "可开增值税专票。" in text


def test_a_missing_value_is_an_error_not_a_blank(prompts: PromptLibrary) -> None:
    with pytest.raises(ConfigurationError, match="guide_answer"):
        prompts.render("guide_answer", "en")


def test_an_unknown_template_is_an_error(prompts: PromptLibrary) -> None:
    with pytest.raises(ConfigurationError, match="no template 'nope'"):
        prompts.render("nope", "zh")
