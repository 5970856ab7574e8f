"""CC-CEDICT bridges: Chinese synonyms by shared glosses, English phrases to Chinese words."""

from __future__ import annotations

from collections import Counter

import pytest

from sourcing.retrieval.bridge import (
    Cedict,
    chinese_synonyms,
    descriptive_compounds,
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


def _never(word: str) -> int:
    return 0


def test_expansions_leave_out_what_the_query_has_and_single_characters(cedict: Cedict) -> None:
    assert "冰箱" in expansions("雪柜 双门", cedict, _never)
    assert "雪柜" not in expansions("雪柜 冰箱", cedict, _never)
    assert expansions("磨", cedict, _never) == []  # one character: too many senses to bridge
    assert expansions("", cedict, _never) == []


def test_only_words_the_catalog_hardly_uses_are_bridged(cedict: Cedict) -> None:
    catalog = Counter({"移动": 40, "电源": 25, "air": 3, "冷气机": 1})
    assert expansions("移动电源", cedict, catalog.__getitem__) == []
    assert "冰箱" in expansions("雪柜 移动电源", cedict, catalog.__getitem__)
    # one stray use (an air cooler titled 冷气机) is not the catalog's word for the thing
    assert "空调" in expansions("冷气机", cedict, catalog.__getitem__)
    # English is translated whole: a Latin word the catalog has does not break the phrase.
    assert "空调" in expansions("air conditioner", cedict, catalog.__getitem__)


def test_a_word_in_no_dictionary_is_bridged_through_its_parts(cedict: Cedict) -> None:
    assert "钱包" in expansions("皮夹子", cedict, _never)


def test_a_description_finds_the_compound_the_catalog_titles_it_with() -> None:
    catalog = Counter({"豆浆机": 9, "机器": 15, "鞋柜": 4, "穿衣": 18, "睡衣": 7, "面包机": 5})
    catalog["包机"] = catalog["面包机"]  # jieba's search mode cuts the tail out of 面包机
    uses = catalog.__getitem__
    assert descriptive_compounds("磨豆浆的机器", uses) == ["豆浆机"]
    assert descriptive_compounds("放鞋的柜子", uses) == ["鞋柜"]
    # 穿 says how it is used, not what it is: 穿衣 is not a product
    assert descriptive_compounds("睡觉穿的衣服", uses) == ["睡衣"]
    assert descriptive_compounds("烤面包片的机器", uses) == ["面包机"]
    assert descriptive_compounds("豆浆机", uses) == []  # no description, nothing to build
    # a possessive 的 in a question heads with a clause, not a thing: no description
    assert descriptive_compounds("这个保温杯别的供应商也有卖吗", uses) == []


def test_a_description_bridges_its_head_not_its_modifiers(cedict: Cedict) -> None:
    # 睡觉 → 上床 would find nothing a buyer wants
    assert "上床" not in expansions("睡觉穿的衣服", cedict, _never)


def test_bridged_words_are_searched_whole() -> None:
    vector = words_vector(["挖掘机械", "Ｂ超"])
    assert vector.indices == sorted([token_id("挖掘机械"), token_id("b超")])
    assert token_id("机械") not in vector.indices  # 挖掘机械 must not find 机械键盘
