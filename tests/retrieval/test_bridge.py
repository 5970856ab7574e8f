"""CC-CEDICT bridges: Chinese synonyms by shared glosses, English phrases to Chinese words."""

from __future__ import annotations

import pytest

from sourcing.retrieval.bridge import (
    Cedict,
    chinese_synonyms,
    english_to_chinese,
    expansions,
    load_cedict,
)
from sourcing.retrieval.lexical import token_id, words_vector


@pytest.fixture(scope="module")
def cedict() -> Cedict:
    return load_cedict()


@pytest.mark.parametrize(
    ("word", "synonym"), [("雪柜", "冰箱"), ("滑鼠", "鼠标"), ("冷气机", "空调"), ("墩布", "拖把")]
)
def test_a_regional_or_colloquial_word_finds_the_common_one(
    cedict: Cedict, word: str, synonym: str
) -> None:
    assert synonym in chinese_synonyms(word, cedict)


def test_a_shared_gloss_word_alone_is_not_a_synonym(cedict: Cedict) -> None:
    # 滑鼠 is a computer mouse: 小鼠 shares "mouse" but not "computer".
    assert "小鼠" not in chinese_synonyms("滑鼠", cedict)
    assert chinese_synonyms("不是一个词", cedict) == []


def test_english_phrases_are_matched_before_their_words(cedict: Cedict) -> None:
    found = english_to_chinese(["air", "conditioner"], cedict)
    assert "空调" in found
    assert not set(found) & set(english_to_chinese(["air"], cedict))  # 空气 is not looked up
    assert "冰箱" in english_to_chinese(["refrigerator"], cedict)


def _never(word: str) -> bool:
    return False


def test_expansions_leave_out_what_the_query_has_and_single_characters(cedict: Cedict) -> None:
    assert "冰箱" in expansions("雪柜 双门", cedict, _never)
    assert "雪柜" not in expansions("雪柜 冰箱", cedict, _never)
    assert expansions("磨", cedict, _never) == []  # one character: too many senses to bridge
    assert expansions("", cedict, _never) == []


def test_only_words_the_catalog_lacks_are_bridged(cedict: Cedict) -> None:
    catalog = {"移动", "电源", "air"}
    assert expansions("移动电源", cedict, catalog.__contains__) == []
    assert "冰箱" in expansions("雪柜 移动电源", cedict, catalog.__contains__)
    # English is translated whole: a Latin word the catalog has does not break the phrase.
    assert "空调" in expansions("air conditioner", cedict, catalog.__contains__)


def test_bridged_words_are_searched_whole() -> None:
    vector = words_vector(["挖掘机械", "Ｂ超"])
    assert vector.indices == sorted([token_id("挖掘机械"), token_id("b超")])
    assert token_id("机械") not in vector.indices  # 挖掘机械 must not find 机械键盘
