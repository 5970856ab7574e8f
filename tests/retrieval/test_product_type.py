"""The product type a query names, held to softly: its products first, neighbours marked."""

from __future__ import annotations

from collections import Counter

from sourcing.retrieval.product_type import ProductType

CATALOG = Counter({"保温杯": 30, "电视机": 4, "玩具": 12, "豆浆机": 9, "机器": 15})


def test_a_noun_phrase_names_its_type_last() -> None:
    kind = ProductType.of("不锈钢保温杯", CATALOG.__getitem__)
    assert kind is not None
    assert kind.names == ("保温杯",)
    assert kind.covers("304不锈钢保温杯 大容量")
    assert not kind.covers("高硼硅玻璃杯 耐热")


def test_a_word_the_catalog_never_uses_names_no_type() -> None:
    # a dictionary synonym drifts (狗链子: 链子 → 链条, chain bags), so none is guessed
    assert ProductType.of("狗链子", CATALOG.__getitem__) is None
    assert ProductType.of("thermos", CATALOG.__getitem__) is None


def test_a_description_is_typed_by_its_compound_not_its_broad_head() -> None:
    kind = ProductType.of("磨豆浆的机器", CATALOG.__getitem__)
    assert kind is not None
    assert kind.label == "豆浆机"
    assert not kind.covers("科沃斯清洁机器人")


def test_a_title_word_ending_in_the_type_is_of_it_where_there_is_no_category() -> None:
    kind = ProductType.of("电视机", CATALOG.__getitem__)
    assert kind is not None
    assert kind.covers("康佳 液晶电视机 42英寸")
    assert not kind.covers("索尼 电视 遥控器")


def test_a_category_level_ending_in_the_type_is_of_it() -> None:
    thermos = ProductType(("保温杯",))
    assert thermos.covers("304不锈钢杯子 大容量", "日用百货/杯壶/保温杯")
    assert not thermos.covers("高硼硅玻璃杯", "日用百货/杯壶/玻璃杯")
    toys = ProductType.of("拼插玩具", CATALOG.__getitem__)
    assert toys is not None
    assert toys.covers("小颗粒拼装积木", "玩具/积木")
