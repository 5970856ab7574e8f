"""Query-constraint parsing: hard filters split out of a buyer's Chinese or English query."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from sourcing.domain.money import MAX_PRICE_CENTS
from sourcing.domain.numbers import MAX_COUNT
from sourcing.retrieval.constraints import (
    FACTORY_DIRECT,
    MAX_LEAD_TIME_DAYS,
    Constraints,
    ParsedQuery,
)

PACKAGE = "sourcing.retrieval"
VOCABULARY_FILE = "query_vocabulary.json"

Words = tuple[str, ...]

_MAX_PASSES = 4
_CONNECTOR_REACH = 32  # longer than any connector word
_MASK = "\x00"  # written over claimed spans so that later rules cannot read them again
_SEPARATORS = " \t\r\n\u3000,，、;；.。!！?？:：~～-—–/|·…()（）[]【】<>《》\"'“”‘’"
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {
    0x3000: 0x20,
    0xFFE5: 0xA5,  # ￥ → ¥
    0x301C: 0x7E,  # 〜 → ~
}
_CN_NUMERALS = "零〇一二两三四五六七八九十百千万"
_CN_DIGITS = dict(zip("一二两三四五六七八九", (1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_ARABIC = r"(?<![0-9.])(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,9})(?:\.[0-9]{1,4})?(?![0-9])"
# Past 15 digits an amount is no price or count a buyer means: it is claimed first and stays text,
# so no later rule converts it (a huge Decimal is slow to convert and overflows the index).
_OVERLONG = r"(?<![0-9.,])(?:[0-9]{1,3}(?:,[0-9]{3}){5,}|[0-9]{16,})(?:\.[0-9]+)?"
_NUMBER = rf"(?:{_ARABIC}|(?<![{_CN_NUMERALS}])[{_CN_NUMERALS}]{{1,12}}(?![{_CN_NUMERALS}]))"
_HUNDRED = Decimal(100)
# "10元左右" is read as 10 yuan ± 20%: wide enough for "about", narrow enough to still filter.
_BAND = Decimal("0.2")


class _Words(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CurrencyWords(_Words):
    prefixes: Words = Field(min_length=1)
    suffixes: Words = Field(min_length=1)
    foreign: Words = ()
    price_words: Words = ()
    per_unit_joins: Words = ()  # "10元/个", "¥8 per piece"
    per_unit_words: Words = ()  # "¥8 each"
    budget_words: Words = ()  # a total budget is not a unit price: 预算5000元以内 stays text


class ComparatorWords(_Words):
    at_most_before: Words
    at_most_after: Words
    at_least_before: Words
    at_least_after: Words
    about_before: Words
    about_after: Words
    range_open: Words
    range_join: Words = Field(min_length=1)
    range_close: Words
    between_open: Words
    between_join: Words


class UnitWords(_Words):
    zh: Words = Field(min_length=1)
    en: Words = Field(min_length=1)
    blockers: Words = ()  # what, right after a unit, makes it a pack size or promotion


class QuantityWords(_Words):
    verbs_zh: Words
    verbs_en: Words
    labels: Words


class MoqWords(_Words):
    words: Words = Field(min_length=1)
    from_words: Words  # "1件起批": the number before them is the MOQ the buyer accepts
    one_piece: Words  # phrases that mean an MOQ of one (dropshipping, no minimum)


class LeadTimeWords(_Words):
    ship_words_zh: Words = Field(min_length=1)
    labels: Words
    verbs_en: Words
    within: Words
    within_en: Words
    day_units: Words = Field(min_length=1)
    hour_units: Words = Field(min_length=1)
    week_units: Words = Field(min_length=1)
    fixed: dict[str, int] = {}


class RegionEntry(_Words):
    names: Words = Field(min_length=1)  # canonical province, city or belt names
    aliases: Words = Field(min_length=1)
    blockers: Words = ()  # what, right after an alias, means it is not a place (石狮子)


class RegionWords(_Words):
    prefixes: Words
    suffixes: Words
    entries: tuple[RegionEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _aliases_are_unique(self) -> RegionWords:
        seen: set[str] = set()
        for entry in self.entries:
            for alias in entry.aliases:
                if alias.casefold() in seen:
                    raise ValueError(f"region alias {alias!r} is listed twice")
                seen.add(alias.casefold())
        return self


class PhraseWords(_Words):
    phrases: Words = Field(min_length=1)
    blockers: Words = ()
    negations: Words = ()


class CategoryEntry(_Words):
    name: str
    aliases: Words = Field(min_length=1)


class CategoryWords(_Words):
    markers: Words = Field(min_length=1)
    entries: tuple[CategoryEntry, ...] = Field(min_length=1)
    joins: Words


class ProtectedWords(_Words):
    model_prefixes: Words
    model_suffixes: Words
    year_suffixes: Words
    price_point_shops: Words


@dataclass(frozen=True)
class _Found:
    """What one recognised phrase contributes; `keep` marks a protected span left in the text."""

    keep: bool = False
    price_min: int | None = None
    price_max: int | None = None
    moq_max: int | None = None
    regions: Words = ()
    categories: Words = ()
    factory_direct: bool = False
    customisable: bool = False
    lead_time_days: int | None = None
    in_stock: bool = False
    quantity: int | None = None


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    found: _Found


Handler = Callable[[re.Match[str]], _Found | None]


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    handle: Handler


@dataclass(frozen=True)
class _Grammar:
    rules: tuple[_Rule, ...]
    leading_connector: re.Pattern[str]
    trailing_connector: re.Pattern[str]


class QueryVocabulary(_Words):
    """The words the parser knows, from `query_vocabulary.json`; compiles its grammar once."""

    currency: CurrencyWords
    comparators: ComparatorWords
    units: UnitWords
    quantity: QuantityWords
    moq: MoqWords
    lead_time: LeadTimeWords
    regions: RegionWords
    factory_direct: PhraseWords
    customisable: PhraseWords
    in_stock: PhraseWords
    categories: CategoryWords
    protected: ProtectedWords
    connectors: Words

    _grammar: _Grammar = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._grammar = _build_grammar(self)


def load_query_vocabulary() -> QueryVocabulary:
    """Read and validate the vocabulary shipped with this package; callers load it once."""
    raw = files(PACKAGE).joinpath(VOCABULARY_FILE).read_text(encoding="utf-8")
    return QueryVocabulary.model_validate_json(raw)


def parse_query(
    text: str, vocabulary: QueryVocabulary | None = None, *, names: Sequence[str] = ()
) -> ParsedQuery:
    """Split `text` into hard constraints, a wanted quantity and the text left for search;
    `names` are words read as part of a product's name, never as a constraint."""
    grammar = (vocabulary or load_query_vocabulary())._grammar
    if names:
        kept = _Rule(_compile(_alt(names)), _keep)
        grammar = replace(grammar, rules=(kept, *grammar.rules))
    found: list[_Found] = []
    matched: list[str] = []
    current = text
    # Removing a phrase can join two leftovers into a new phrase ("5元义乌以内"); re-reading the
    # leftover until nothing more is found makes semantic_text free of constraint phrases.
    for _ in range(_MAX_PASSES):
        removed = [hit for hit in _scan(current, grammar) if not hit.found.keep]
        if not removed:
            break
        found.extend(hit.found for hit in removed)
        matched.extend(current[hit.start : hit.end] for hit in removed)
        current = _remove(current, removed, grammar)
    constraints, quantity = _fold(found)
    semantic = " ".join(current.split()) or " ".join(text.split())
    return ParsedQuery(
        text=text,
        semantic_text=semantic,
        constraints=constraints,
        quantity=quantity,
        matched=tuple(matched),
    )


def _normalise(text: str) -> str:
    """Full-width forms to ASCII, one character for one, so match offsets index the original."""
    return text.translate(_FULL_WIDTH)


def _word(word: str) -> str:
    pattern = re.escape(word).replace(r"\ ", r"\s+")
    if word[:1].isascii() and word[:1].isalpha():
        pattern = r"(?<![A-Za-z])" + pattern
    if word[-1:].isascii() and word[-1:].isalpha():
        pattern += r"(?![A-Za-z])"
    return pattern


def _alt(words: Iterable[str]) -> str:
    """An alternation trying longer words first, so 起订量 wins over 起订."""
    ordered = sorted({w for w in words if w}, key=lambda w: (-len(w), w))
    if not ordered:
        return "(?!)"
    return "(?:" + "|".join(_word(w) for w in ordered) + ")"


def _not_followed_by(words: Iterable[str]) -> str:
    alternation = _alt(words)
    return "" if alternation == "(?!)" else rf"(?!\s*{alternation})"


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _chinese_int(text: str) -> int | None:
    """一百零五 → 105, 两千 → 2000, 三百五 → 350; digit strings such as 二〇二六 are not numbers."""
    total = section = 0
    digit: int | None = None
    last_unit, after_zero = 1, False
    for char in text:
        if char in "零〇":
            if digit is not None:
                return None
            after_zero = True
        elif char in _CN_DIGITS:
            if digit is not None:
                return None
            digit = _CN_DIGITS[char]
        elif char == "万":
            section += digit or 0
            if section == 0 or total:
                return None
            total, section, digit, last_unit, after_zero = section * 10_000, 0, None, 10_000, False
        else:
            unit = _CN_UNITS[char]
            if section and unit >= last_unit:
                return None
            section += (1 if digit is None else digit) * unit
            digit, last_unit, after_zero = None, unit, False
    if digit is not None:
        # 三百五 is 350: a trailing digit counts in the next smaller unit unless 零 came first.
        section += digit * (last_unit // 10 if last_unit >= 100 and not after_zero else 1)
    return total + section


def _number(text: str) -> Decimal | None:
    if text[:1].isdigit():
        digits = text.replace(",", "")
        # Bounded before conversion: no price or count a buyer means has more than 15 digits.
        return Decimal(digits) if len(digits.partition(".")[0]) <= 15 else None
    value = _chinese_int(text)
    return None if value is None else Decimal(value)


def _count(text: str) -> int | None:
    """A whole count of at least one, or None."""
    value = _number(text)
    if value is None or value != value.to_integral_value() or not 1 <= value <= MAX_COUNT:
        return None
    return int(value)


def _cents(amount: Decimal | int) -> int:
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _price_cents(match: re.Match[str], group: str) -> int | None:
    """The amount in `group` as cents, if the phrase is a price and the amount a plausible one."""
    if not _is_price(match):
        return None
    yuan = _number(match.group(group))
    if yuan is None:
        return None
    cents = _cents(yuan * _HUNDRED)
    return cents if cents <= MAX_PRICE_CENTS else None


def _days(match: re.Match[str], amount: Decimal) -> int:
    if match.group("h") is not None:
        amount = amount / 24
    elif match.group("w") is not None:
        amount = amount * 7
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def _keep(_match: re.Match[str]) -> _Found:
    return _Found(keep=True)


def _key(phrase: str) -> str:
    """Lookup key of a matched alias: case and inner whitespace do not matter."""
    return " ".join(phrase.split()).casefold()


def _protected_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """Numbers that are names, not prices or counts: iPhone 15, 2026新款, 10元店, 每箱50个."""
    # 10元店 is a shop genre (an assortment for ten-yuan shops), not a price cap: kept as text.
    words, units = vocab.protected, vocab.units
    unit = _alt(units.zh + units.en)
    patterns = [
        _OVERLONG,
        rf"{_alt(words.model_prefixes)}\s?[0-9]{{1,4}}(?![0-9])(?:\s?{_alt(words.model_suffixes)})*",
        rf"(?<![0-9])(?:19|20)[0-9]{{2}}(?![0-9])\s*{_alt(words.year_suffixes)}",
        rf"{_NUMBER}\s*{_alt(vocab.currency.suffixes)}\s*{_alt(words.price_point_shops)}",
        rf"每\s*{unit}\s*(?:装\s*)?{_NUMBER}\s*{unit}",
        rf"{_NUMBER}\s*{unit}\s*(?:/|per|每)\s*{unit}",
    ]
    return [_Rule(_compile(pattern), _keep) for pattern in patterns]


def _category_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """Only an explicit 类目：… / category … names a category; bare nouns are left to search."""
    words = vocab.categories
    by_alias = {_key(alias): entry.name for entry in words.entries for alias in entry.aliases}
    category = _alt(by_alias)
    finder = _compile(category)
    pattern = _compile(
        rf"{_alt(words.markers)}\s*(?:[:=]|是|为|is|of)?\s*"
        rf"(?P<list>{category}(?:\s*{_alt(words.joins)}\s*{category})*)"
    )

    def handle(match: re.Match[str]) -> _Found:
        names = (by_alias[_key(m.group())] for m in finder.finditer(match.group("list")))
        return _Found(categories=_unique(names))

    return [_Rule(pattern, handle)]


def _moq_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """The largest MOQ the buyer accepts: 起批量50以内, MOQ ≤ 100, 1件起批, 一件代发 (→ 1)."""
    # 小批量 / low MOQ name no number, so they stay in the text as a soft preference.
    moq, units, comparators = vocab.moq, vocab.units, vocab.comparators
    unit = _alt(units.zh + units.en)
    at_most = rf"(?<![不没]){_alt(comparators.at_most_before)}"

    def handle(match: re.Match[str]) -> _Found | None:
        value = _count(match.group("a"))
        return None if value is None else _Found(moq_max=value)

    one_piece = _Rule(_compile(_alt(moq.one_piece)), lambda _match: _Found(moq_max=1))
    patterns = [
        rf"{_alt(moq.words)}\s*(?:[:=]|是|为|要|在|需|of|is)?\s*(?:{at_most}\s*)?"
        rf"(?P<a>{_NUMBER})(?:\s*{unit})?(?:\s*{_alt(comparators.at_most_after)})?",
        rf"(?P<a>{_NUMBER})\s*{_alt(units.zh)}\s*{_alt(moq.from_words)}",
        rf"(?P<a>{_NUMBER})\s*(?:{unit}\s*)?{_alt(moq.words)}",
    ]
    return [one_piece, *(_Rule(_compile(pattern), handle) for pattern in patterns)]


@dataclass(frozen=True)
class _Money:
    """Regex pieces for an amount of yuan; the tag names its groups so one pattern holds two."""

    prefix: str
    suffix: str
    per_unit: str
    foreign: str

    def amount(self, tag: str) -> str:
        return (
            rf"(?:(?P<{tag}_pre>{self.prefix})\s*)?(?P<{tag}>{_NUMBER}){self.foreign}"
            rf"(?:\s*(?P<{tag}_suf>{self.suffix}))?{self.per_unit}"
        )


def _is_price(match: re.Match[str]) -> bool:
    """A number is a price only with a currency word (元, 块, ¥, RMB, yuan) or a price word."""
    groups = match.groupdict()
    markers = [key for key in groups if key == "kw" or key.endswith(("_pre", "_suf"))]
    return any(groups[key] is not None for key in markers)


def _price_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """Unit-price bands in integer cents: caps, floors, ranges and "about" (±20%)."""
    currency, cmp, units = vocab.currency, vocab.comparators, vocab.units
    per_piece = rf"{_alt(currency.per_unit_joins)}\s*{_alt(units.zh + units.en)}"
    per_unit = rf"(?:\s*(?:{per_piece}|{_alt(currency.per_unit_words)}))?"
    money = _Money(
        prefix=_alt(currency.prefixes),
        suffix=_alt(currency.suffixes),
        per_unit=per_unit,
        foreign=rf"(?!\s*{_alt(currency.foreign)})",
    )
    keyword = (
        rf"(?:每\s*{_alt(units.zh)}\s*)?"  # 每个10元以内: the price of one piece
        rf"(?:(?P<kw>{_alt(currency.price_words)})\s*(?:[:=]|是|为|要|在|of|is|at)?\s*)?"
    )
    a, b = money.amount("a"), money.amount("b")
    close = rf"(?:\s*{_alt(cmp.range_close)})?"
    not_negated = r"(?<![不没])"

    def bounded(low: bool, high: bool) -> Handler:
        def handle(match: re.Match[str]) -> _Found | None:
            cents = _price_cents(match, "a")
            if cents is None:
                return None
            return _Found(price_min=cents if low else None, price_max=cents if high else None)

        return handle

    def ranged(match: re.Match[str]) -> _Found | None:
        ends = _price_cents(match, "a"), _price_cents(match, "b")
        if ends[0] is None or ends[1] is None:
            return None
        low, high = sorted((ends[0], ends[1]))
        return _Found(price_min=low, price_max=high)

    def about(match: re.Match[str]) -> _Found | None:
        cents = _price_cents(match, "a")
        if cents is None:
            return None
        return _Found(price_min=_cents(cents * (1 - _BAND)), price_max=_cents(cents * (1 + _BAND)))

    range_join = _alt(cmp.range_join)
    between_join = _alt(cmp.between_join + cmp.range_join)
    budget = (
        rf"{_alt(currency.budget_words)}\s*(?:[:=]|是|为|在|of|is)?\s*"
        rf"(?:{_alt(cmp.at_most_before + cmp.about_before)}\s*)?{a}"
        rf"(?:\s*{_alt(cmp.at_most_after + cmp.about_after)})?"
    )
    rules: list[tuple[str, Handler]] = [
        (budget, lambda match: _Found(keep=True) if _is_price(match) else None),
        (rf"{_alt(cmp.between_open)}\s*{a}\s*{between_join}\s*{b}{close}", ranged),
        (rf"(?:{_alt(cmp.range_open)}\s*)?{a}\s*{range_join}\s*{b}{close}", ranged),
        (
            rf"{not_negated}{_alt(cmp.at_most_before)}\s*{a}(?:\s*{_alt(cmp.at_most_after)})?",
            bounded(low=False, high=True),
        ),
        (rf"{a}\s*{_alt(cmp.at_most_after)}", bounded(low=False, high=True)),
        (
            rf"{not_negated}{_alt(cmp.at_least_before)}\s*{a}(?:\s*{_alt(cmp.at_least_after)})?",
            bounded(low=True, high=False),
        ),
        (rf"{a}\s*{_alt(cmp.at_least_after)}", bounded(low=True, high=False)),
        (rf"{_alt(cmp.about_before)}\s*{a}(?:\s*{_alt(cmp.about_after)})?", about),
        (rf"{a}\s*{_alt(cmp.about_after)}", about),
    ]
    return [_Rule(_compile(keyword + pattern), handle) for pattern, handle in rules]


def _lead_time_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """Days to dispatch: 3天内发货, 48小时发货 (→ 2), ships within 5 days, 当天发货 (→ 0)."""
    lead, cmp = vocab.lead_time, vocab.comparators
    days, hours = _alt(lead.day_units), _alt(lead.hour_units)
    weeks = _alt(lead.week_units)
    span = (
        rf"(?P<a>{_NUMBER})(?:\s*(?:-|~|到|至|to)\s*(?P<b>{_NUMBER}))?\s*(?:-\s*)?"
        rf"(?:(?P<d>{days})|(?P<h>{hours})|(?P<w>{weeks}))"
    )
    within = rf"(?:\s*{_alt(lead.within)})?"
    before = rf"(?:{_alt(lead.within_en + cmp.at_most_before)}\s*)?"
    by_phrase = {_key(phrase): count for phrase, count in lead.fixed.items()}

    def handle(match: re.Match[str]) -> _Found | None:
        amounts = [_number(match.group(g)) for g in ("a", "b") if match.group(g) is not None]
        if any(amount is None for amount in amounts):
            return None
        days = max(_days(match, a) for a in amounts if a is not None)
        return _Found(lead_time_days=days) if days <= MAX_LEAD_TIME_DAYS else None

    fixed = _Rule(
        _compile(_alt(lead.fixed)), lambda m: _Found(lead_time_days=by_phrase[_key(m.group())])
    )
    patterns = [
        rf"(?<!月){span}{within}\s*{_alt(lead.ship_words_zh)}",  # 6月18日发货 is a date
        rf"{_alt(lead.labels)}\s*(?:[:=]|是|为|要|在|of|is)?\s*{before}{span}{within}",
        rf"{_alt(lead.verbs_en)}\s*{before}{span}",
        rf"{span}\s*{_alt(lead.verbs_en + lead.labels)}",
    ]
    return [fixed, *(_Rule(_compile(pattern), handle) for pattern in patterns)]


def _quantity_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """How many the buyer wants (for tier prices): 要500个, 拿货300件, 500 pcs, for 200 units."""
    words, units, cmp = vocab.quantity, vocab.units, vocab.comparators
    blocked = _not_followed_by(units.blockers)
    about = r"(?:\s*(?:左右|上下))?"

    def handle(match: re.Match[str]) -> _Found | None:
        raw = match.group("a")
        value = _count(raw)
        # 一 before a measure word is the article "a" (要一条裙子), not an order of one.
        if value is None or (value == 1 and not raw[:1].isdigit()):
            return None
        return _Found(quantity=value)

    patterns = [
        rf"{_alt(words.labels)}\s*(?:[:=]|是|为|约|of|is)?\s*(?P<a>{_NUMBER})"
        rf"(?:\s*{_alt(units.zh + units.en)})?",
        rf"{_alt(words.verbs_zh)}\s*(?:大约|大概|约)?\s*(?P<a>{_NUMBER})\s*{_alt(units.zh)}"
        rf"{about}{blocked}",
        rf"(?<![每第/*×xX])(?P<a>{_ARABIC})\s*{_alt(units.zh)}{about}{blocked}",
        rf"(?:{_alt(words.verbs_en)}\s+)?(?:{_alt(cmp.about_before + cmp.at_most_before)}\s*)?"
        rf"(?P<a>{_ARABIC})\s*{_alt(units.en)}{blocked}",
    ]
    return [_Rule(_compile(pattern), handle) for pattern in patterns]


def _region_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """Canonical province, city or belt names: 义乌, from Yiwu → 义乌; 汕头澄海 → 汕头澄海玩具."""
    words = vocab.regions
    by_alias = {_key(alias): entry.names for entry in words.entries for alias in entry.aliases}
    aliases = sorted(
        ((alias, entry.blockers) for entry in words.entries for alias in entry.aliases),
        key=lambda item: (-len(item[0]), item[0]),
    )
    alias = "|".join(_word(name) + _not_followed_by(blockers) for name, blockers in aliases)
    pattern = _compile(
        rf"(?:{_alt(words.prefixes)}\s*)?(?P<r>{alias})(?:\s*{_alt(words.suffixes)})?"
    )
    return [_Rule(pattern, lambda m: _Found(regions=by_alias[_key(m.group("r"))]))]


def _flag_rules(vocab: QueryVocabulary) -> list[_Rule]:
    """Phrase flags: factory-direct (源头工厂), customisable (OEM, 来图定制), in stock (现货)."""

    # 一手货源 is left out of factory-direct: traders carry that badge too. 现货 sets in_stock
    # only; how fast a supplier ships is its own constraint (lead time).
    def rule(words: PhraseWords, found: _Found) -> _Rule:
        negated = "".join(rf"(?<!{re.escape(n)})" for n in words.negations)
        pattern = _compile(negated + _alt(words.phrases) + _not_followed_by(words.blockers))
        return _Rule(pattern, lambda _match: found)

    return [
        rule(vocab.factory_direct, _Found(factory_direct=True)),
        rule(vocab.customisable, _Found(customisable=True)),
        rule(vocab.in_stock, _Found(in_stock=True)),
    ]


def _build_grammar(vocab: QueryVocabulary) -> _Grammar:
    # Order matters: a span claimed by an earlier family is invisible to later ones, so the
    # protected names go first and the specific MOQ phrases precede price and quantity.
    rules = [
        *_protected_rules(vocab),
        *_category_rules(vocab),
        *_moq_rules(vocab),
        *_price_rules(vocab),
        *_lead_time_rules(vocab),
        *_quantity_rules(vocab),
        *_region_rules(vocab),
        *_flag_rules(vocab),
    ]
    connector = _alt(vocab.connectors)
    return _Grammar(
        rules=tuple(rules),
        leading_connector=_compile(connector),
        trailing_connector=_compile(connector + "$"),
    )


def _scan(text: str, grammar: _Grammar) -> list[_Hit]:
    """Every rule in turn over the text, each seeing the spans claimed before it masked out."""
    masked = _normalise(text)
    hits: list[_Hit] = []
    for rule in grammar.rules:
        claimed: list[_Hit] = []
        for match in rule.pattern.finditer(masked):
            found = rule.handle(match)
            start, end = _trimmed(match.group(), match.start())
            if found is not None and end > start:
                claimed.append(_Hit(start, end, found))
        for hit in claimed:
            masked = masked[: hit.start] + _MASK * (hit.end - hit.start) + masked[hit.end :]
        hits.extend(claimed)
    return sorted(hits, key=lambda hit: hit.start)


def _trimmed(phrase: str, start: int) -> tuple[int, int]:
    stripped = phrase.lstrip()
    start += len(phrase) - len(stripped)
    return start, start + len(stripped.rstrip())


def _remove(text: str, hits: Sequence[_Hit], grammar: _Grammar) -> str:
    """The text without the hits, leftover connectors (的, with, from) and separators tidied."""
    pieces: list[str] = []
    cursor = 0
    for hit in [*hits, _Hit(len(text), len(text), _Found())]:
        piece = text[cursor : hit.start]
        if cursor > 0:
            piece = _strip_leading(piece, grammar.leading_connector)
        if hit.start < len(text):
            piece = _strip_trailing(piece, grammar.trailing_connector)
        pieces.append(piece.strip())
        cursor = max(cursor, hit.end)
    return " ".join(piece for piece in pieces if piece)


def _strip_leading(piece: str, connector: re.Pattern[str]) -> str:
    while True:
        piece = piece.lstrip(_SEPARATORS)
        match = connector.match(piece)
        if match is None or not match.group():
            return piece
        piece = piece[match.end() :]


def _strip_trailing(piece: str, connector: re.Pattern[str]) -> str:
    while True:
        piece = piece.rstrip(_SEPARATORS)
        # Searching only the tail keeps a long run of connectors linear rather than quadratic.
        match = connector.search(piece, max(0, len(piece) - _CONNECTOR_REACH))
        if match is None or not match.group():
            return piece
        piece = piece[: match.start()]


def _unique(values: Iterable[str]) -> Words:
    return tuple(dict.fromkeys(values))


def _fold(found: Sequence[_Found]) -> tuple[Constraints, int | None]:
    """Combine the phrases: the tightest bound wins, regions and categories accumulate."""
    low = max((f.price_min for f in found if f.price_min is not None), default=None)
    high = min((f.price_max for f in found if f.price_max is not None), default=None)
    if low is not None and high is not None and low > high:
        # "20元以上10元以下" contradicts itself; reading it as a range beats an empty result.
        low, high = high, low
    constraints = Constraints(
        price_min_cents=low,
        price_max_cents=high,
        moq_max=min((f.moq_max for f in found if f.moq_max is not None), default=None),
        regions=_unique(region for f in found for region in f.regions),
        categories=_unique(category for f in found for category in f.categories),
        supplier_kinds=FACTORY_DIRECT if any(f.factory_direct for f in found) else (),
        customisable=True if any(f.customisable for f in found) else None,
        lead_time_max_days=min(
            (f.lead_time_days for f in found if f.lead_time_days is not None), default=None
        ),
        in_stock=True if any(f.in_stock for f in found) else None,
    )
    quantity = next((f.quantity for f in found if f.quantity is not None), None)
    return constraints, quantity
