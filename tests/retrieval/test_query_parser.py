"""Query-constraint parsing: a table of Chinese and English queries plus property checks."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import pytest
from pydantic import ValidationError

from sourcing.retrieval.constraints import FACTORY_DIRECT, Constraints, ParsedQuery
from sourcing.retrieval.query_parser import QueryVocabulary, load_query_vocabulary, parse_query

VOCABULARY = load_query_vocabulary()


@dataclass(frozen=True)
class Case:
    query: str
    semantic: str
    constraints: dict[str, Any] = field(default_factory=dict)
    quantity: int | None = None


def case(query: str, semantic: str, quantity: int | None = None, **constraints: Any) -> Case:
    return Case(query, semantic, constraints, quantity)


FACTORY: dict[str, Any] = {"supplier_kinds": FACTORY_DIRECT}

CASES = [
    # Price caps, floors, ranges and bands, in integer cents.
    case("保温杯 20元以内", "保温杯", price_max_cents=2000),
    case("保温杯20块以内", "保温杯", price_max_cents=2000),
    case("单价不超过15块的水杯", "水杯", price_max_cents=1500),
    case("15元以下的袜子", "袜子", price_max_cents=1500),
    case("低于10元的发夹", "发夹", price_max_cents=1000),
    case("不到10块的钥匙扣", "钥匙扣", price_max_cents=1000),
    case("10元左右的保温杯", "保温杯", price_min_cents=800, price_max_cents=1200),
    case("约10元 杯子", "杯子", price_min_cents=800, price_max_cents=1200),
    case("5到10元的手机壳", "手机壳", price_min_cents=500, price_max_cents=1000),
    case("5-10元 数据线", "数据线", price_min_cents=500, price_max_cents=1000),
    case("5~10块 发圈", "发圈", price_min_cents=500, price_max_cents=1000),
    case("¥5-¥10 钥匙扣", "钥匙扣", price_min_cents=500, price_max_cents=1000),
    case("￥5-￥10 钥匙扣", "钥匙扣", price_min_cents=500, price_max_cents=1000),
    case("价格在5至10元之间的水杯", "水杯", price_min_cents=500, price_max_cents=1000),
    case("２０元以内的保温杯", "保温杯", price_max_cents=2000),
    case("9.9元以内 杯子", "杯子", price_max_cents=990),
    case("一百元以内 杯子", "杯子", price_max_cents=10000),
    case("10元/个以内 杯子", "杯子", price_max_cents=1000),
    case("单价15以内 杯子", "杯子", price_max_cents=1500),
    case("8元起的保温杯", "保温杯", price_min_cents=800),
    case("价格不低于10元的杯子", "杯子", price_min_cents=1000),
    case("10元以内5元以上 杯子", "杯子", price_min_cents=500, price_max_cents=1000),
    case("water bottles under ¥8", "water bottles", price_max_cents=800),
    case("phone cases below 8 yuan", "phone cases", price_max_cents=800),
    case("socks less than 8 RMB", "socks", price_max_cents=800),
    case("mugs between 5 and 10 yuan", "mugs", price_min_cents=500, price_max_cents=1000),
    case("mugs from ¥5 to ¥10", "mugs", price_min_cents=500, price_max_cents=1000),
    case("mugs at least 8 yuan", "mugs", price_min_cents=800),
    case("around ¥10 mugs", "mugs", price_min_cents=800, price_max_cents=1200),
    case("price under 8 mugs", "mugs", price_max_cents=800),
    case("每个10元以内 杯子", "杯子", price_max_cents=1000),
    case("mugs ¥8 each or less", "mugs", price_max_cents=800),
    # Only yuan counts as money; soft words stay soft.
    case("under $8 socks", "under $8 socks"),
    case("under 10 USD mugs", "under 10 USD mugs"),
    case("10美元以内 杯子", "10美元以内 杯子"),
    case("便宜的保温杯", "便宜的保温杯"),
    case("cheap phone cases", "cheap phone cases"),
    case("预算5000元以内 组货", "预算5000元以内 组货"),
    # MOQ.
    case("起批量50以内的保温杯", "保温杯", moq_max=50),
    case("起订量不超过100的数据线", "数据线", moq_max=100),
    case("MOQ ≤ 100 phone cases", "phone cases", moq_max=100),
    case("phone cases MOQ under 100", "phone cases", moq_max=100),
    case("moq<=100 socks", "socks", moq_max=100),
    case("ＭＯＱ≤１００ 杯子", "杯子", moq_max=100),
    case("MOQ: 50 pcs mugs", "mugs", moq_max=50),
    case("1件起批的发夹", "发夹", moq_max=1),
    case("十件起批 杯子", "杯子", moq_max=10),
    case("一件代发 手机壳", "手机壳", moq_max=1),
    case("dropshipping phone cases", "phone cases", moq_max=1),
    case("小批量 保温杯", "小批量 保温杯"),
    # Quantity wanted (not a constraint).
    case("保温杯要500个", "保温杯", quantity=500),
    case("拿货300件 T恤", "T恤", quantity=300),
    case("订1000只 口罩", "口罩", quantity=1000),
    case("要两千个 杯子", "杯子", quantity=2000),
    case("杯子500个左右", "杯子", quantity=500),
    case("500 pcs phone cases", "phone cases", quantity=500),
    case("1,000 pcs mugs", "mugs", quantity=1000),
    case("phone cases for 200 units", "phone cases", quantity=200),
    case("要一条裙子", "要一条裙子"),
    case("6 pcs set mugs", "6 pcs set mugs"),
    # Regions, as the canonical province, city or belt names suppliers carry.
    case("义乌的保温杯", "保温杯", regions=("义乌",)),
    case("广州 皮具", "皮具", regions=("广州",)),
    case("深圳 数据线", "数据线", regions=("深圳",)),
    case("泉州运动鞋", "运动鞋", regions=("泉州",)),
    case("晋江运动鞋", "运动鞋", regions=("晋江",)),
    case("汕头澄海 玩具", "玩具", regions=("汕头澄海玩具",)),
    case("永康保温杯", "保温杯", regions=("永康",)),
    case("杭州四季青连衣裙", "连衣裙", regions=("杭州四季青女装",)),
    case("浙江 保温杯", "保温杯", regions=("浙江",)),
    case("广东 小家电", "小家电", regions=("广东",)),
    case("江浙沪 女装", "女装", regions=("江苏", "浙江", "上海")),
    case("义乌或永康的保温杯", "保温杯", regions=("义乌", "永康")),
    case("mugs from Guangzhou or Shenzhen", "mugs", regions=("广州", "深圳")),
    case("四件套 南通家纺", "四件套", regions=("南通家纺",)),
    case("phone cases from Yiwu", "phone cases", regions=("义乌",)),
    case("Guangzhou handbags", "handbags", regions=("广州",)),
    case("Shenzhen suppliers of power banks", "power banks", regions=("深圳",)),
    case("Yiwu-based mugs", "mugs", regions=("义乌",)),
    case("Ｙｉｗｕ mugs", "mugs", regions=("义乌",)),
    case("【义乌】保温杯", "保温杯", regions=("义乌",)),
    # Factory-direct.
    case("源头工厂 保温杯", "保温杯", **FACTORY),
    case("工厂直销的拖鞋", "拖鞋", **FACTORY),
    case("厂家直供 数据线", "数据线", **FACTORY),
    case("源头厂家 袜子", "袜子", **FACTORY),
    case("factory direct mugs", "mugs", **FACTORY),
    case("mugs from the factory", "mugs", **FACTORY),
    case("phone case manufacturer", "phone case", **FACTORY),
    case("一手货源 女装", "一手货源 女装"),
    case("工厂价 杯子", "工厂价 杯子"),
    # Customisable.
    case("可定制的保温杯", "保温杯", customisable=True),
    case("支持定制 帆布袋", "帆布袋", customisable=True),
    case("来图定制 抱枕", "抱枕", customisable=True),
    case("OEM 保温杯", "保温杯", customisable=True),
    case("ODM phone cases", "phone cases", customisable=True),
    case("定制logo 马克杯", "马克杯", customisable=True),
    case("custom logo mugs", "mugs", customisable=True),
    case("customizable tote bags", "tote bags", customisable=True),
    case("private label skincare", "skincare", customisable=True),
    # Lead time and stock.
    case("3天内发货 保温杯", "保温杯", lead_time_max_days=3),
    case("48小时发货 袜子", "袜子", lead_time_max_days=2),
    case("3-5天发货 杯子", "杯子", lead_time_max_days=5),
    case("当天发货 杯子", "杯子", lead_time_max_days=0),
    case("phone cases ships within 5 days", "phone cases", lead_time_max_days=5),
    case("mugs dispatch within 48 hours", "mugs", lead_time_max_days=2),
    case("mugs 48h shipping", "mugs", lead_time_max_days=2),
    case("现货 保温杯", "保温杯", in_stock=True),
    case("mugs in stock", "mugs", in_stock=True),
    case("mugs out of stock", "mugs out of stock"),
    case("6月18日发货的保温杯", "6月18日发货的保温杯"),
    # Categories only when named explicitly.
    case("类目：日用百货 收纳盒", "收纳盒", categories=("日用百货",)),
    case("tote bags in category stationery", "tote bags", categories=("文具办公",)),
    case("数码配件 充电宝", "数码配件 充电宝"),
    # Numbers that are not constraints.
    case("iPhone 15手机壳", "iPhone 15手机壳"),
    case("3C数码配件", "3C数码配件"),
    case("618大促 爆款", "618大促 爆款"),
    case("2026新款 连衣裙", "2026新款 连衣裙"),
    case("500ml保温杯", "500ml保温杯"),
    case("10元店货源", "10元店货源"),
    case("3个月宝宝 衣服", "3个月宝宝 衣服"),
    case("3件套 床品", "3件套 床品"),
    case("2个装 毛巾 每箱50个", "2个装 毛巾 每箱50个"),
    case("10件包邮 袜子", "10件包邮 袜子"),
    case("石狮子摆件", "石狮子摆件"),
    case("宽松大连帽卫衣", "宽松大连帽卫衣"),
    # Several families at once.
    case(
        "iPhone 15手机壳 20元以内 义乌 要500个",
        "iPhone 15手机壳",
        quantity=500,
        price_max_cents=2000,
        regions=("义乌",),
    ),
    case(
        "找深圳源头工厂定制蓝牙耳机，单价30元以内，起订量不超过200，3天内发货",
        "找 蓝牙耳机",
        price_max_cents=3000,
        moq_max=200,
        regions=("深圳",),
        customisable=True,
        lead_time_max_days=3,
        **FACTORY,
    ),
    case(
        "water bottles with custom logo, under ¥8, from Yiwu, 500 pcs, in stock",
        "water bottles",
        quantity=500,
        price_max_cents=800,
        regions=("义乌",),
        customisable=True,
        in_stock=True,
    ),
    # Nothing left: the original text is kept so search still has something.
    case("20元以内", "20元以内", price_max_cents=2000),
]


@pytest.mark.parametrize("example", CASES, ids=[c.query for c in CASES])
def test_parses(example: Case) -> None:
    parsed = parse_query(example.query, VOCABULARY)

    assert parsed.constraints == Constraints(**example.constraints)
    assert parsed.quantity == example.quantity
    assert parsed.semantic_text == example.semantic
    assert parsed.text == example.query


def test_matched_lists_phrases_as_written() -> None:
    parsed = parse_query("２０元以内 义乌的保温杯 MOQ ≤ 100", VOCABULARY)

    assert parsed.matched == ("２０元以内", "义乌的", "MOQ ≤ 100")


def test_loads_the_vocabulary_when_none_is_given() -> None:
    assert parse_query("义乌 20元以内 保温杯") == parse_query("义乌 20元以内 保温杯", VOCABULARY)


def test_region_names_are_the_ones_suppliers_carry() -> None:
    market = json.loads(files("sourcing.catalog_sync.demo").joinpath("market.json").read_text())
    canonical = {belt["name"] for belt in market["belts"]}
    for place in [*market["belts"], *market["regions"]]:
        canonical |= {place["province"], *place["cities"]}
    emitted = {name for entry in VOCABULARY.regions.entries for name in entry.names}

    assert emitted <= canonical


def test_category_names_are_top_level_categories() -> None:
    raw = files("sourcing.catalog_sync.demo").joinpath("categories.json").read_text()
    top_level = {category["name"] for category in json.loads(raw)["categories"]}

    assert {entry.name for entry in VOCABULARY.categories.entries} == top_level


def test_vocabulary_rejects_an_alias_listed_twice() -> None:
    raw = VOCABULARY.model_dump(mode="json")
    raw["regions"]["entries"].append({"names": ["深圳"], "aliases": ["yiwu"]})

    with pytest.raises(ValidationError, match="listed twice"):
        QueryVocabulary.model_validate(raw)


def test_grammar_comes_from_the_vocabulary_passed_in() -> None:
    raw = VOCABULARY.model_dump(mode="json")
    raw["regions"]["entries"].append({"names": ["临沂"], "aliases": ["Linyi market"]})
    vocabulary = QueryVocabulary.model_validate(raw)

    parsed = parse_query("mugs from Linyi market", vocabulary)

    assert parsed.constraints.regions == ("临沂",)
    assert parsed.semantic_text == "mugs"


def _random_text(rng: random.Random) -> str:
    alphabets = [(0x20, 0x7F), (0x4E00, 0x4F00), (0xFF01, 0xFF5F), (0x3000, 0x3040), (0, 0x10FFFF)]
    low, high = rng.choice(alphabets)
    return "".join(chr(rng.randrange(low, high)) for _ in range(rng.randrange(0, 40)))


FRAGMENTS = [
    *(c.query for c in CASES),
    "5", "10", "500", "一", "两", "十", "元", "块", "¥", "以内", "以上", "左右", "-", "到",
    "个", "件", "pcs", "MOQ", "起批", "义乌", "from", "的", "和", " ", "，", "保温杯", "mugs",
]  # fmt: skip


def _fragment_text(rng: random.Random) -> str:
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 7)))


def test_never_raises_on_arbitrary_text() -> None:
    rng = random.Random(20260101)
    for _ in range(400):
        text = _random_text(rng)
        parsed = parse_query(text, VOCABULARY)
        assert isinstance(parsed, ParsedQuery)
        assert parsed.text == text


def _finds_nothing(parsed: ParsedQuery) -> bool:
    return parsed.constraints == Constraints() and parsed.quantity is None


def test_semantic_text_holds_no_more_constraints() -> None:
    rng = random.Random(7)
    texts = [c.query for c in CASES] + [_fragment_text(rng) for _ in range(600)]
    texts += [_random_text(rng) for _ in range(200)]
    for text in texts:
        parsed = parse_query(text, VOCABULARY)
        again = parse_query(parsed.semantic_text, VOCABULARY)
        kept_original = parsed.semantic_text == " ".join(text.split())
        assert _finds_nothing(again) or kept_original, (text, parsed.semantic_text, again.matched)
        assert again.semantic_text == parsed.semantic_text or kept_original


def test_money_is_integer_cents() -> None:
    rng = random.Random(11)
    for _ in range(300):
        cents = rng.randrange(0, 100_000)
        yuan = f"{cents // 100}.{cents % 100:02d}"
        low = parse_query(f"{yuan}元以上 杯子", VOCABULARY).constraints.price_min_cents
        high = parse_query(f"under ¥{yuan} mugs", VOCABULARY).constraints.price_max_cents
        assert (type(low), low) == (int, cents)
        assert (type(high), high) == (int, cents)
    band = parse_query("9.99元左右", VOCABULARY).constraints
    assert (band.price_min_cents, band.price_max_cents) == (799, 1199)


def test_a_price_above_the_plausible_cap_is_not_a_constraint() -> None:
    parsed = parse_query("2000000元以内 杯子", VOCABULARY)

    assert parsed.constraints == Constraints()
    assert parsed.semantic_text == "2000000元以内 杯子"


def test_contradictory_price_bounds_become_a_range() -> None:
    parsed = parse_query("20元以上10元以下 杯子", VOCABULARY)

    assert (parsed.constraints.price_min_cents, parsed.constraints.price_max_cents) == (1000, 2000)


def test_tightest_bound_wins_and_regions_accumulate() -> None:
    parsed = parse_query("30元以内 义乌 20元以内 永康 起订量100 50件起批", VOCABULARY)

    assert parsed.constraints.price_max_cents == 2000
    assert parsed.constraints.moq_max == 50
    assert parsed.constraints.regions == ("义乌", "永康")
