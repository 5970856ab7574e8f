"""Sparse lexical vectors: jieba words, stemmed English, model codes and sizes, BM25 weights."""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import rjieba
import snowballstemmer  # type: ignore[import-untyped]

# BM25 term-frequency saturation; the IDF half is applied by Qdrant's IDF modifier.
K1 = 1.2
B = 0.75
# Only until an index has measured its own catalog (IndexMeta.average_tokens).
DEFAULT_AVERAGE_TOKENS = 40.0
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[0-9a-z]+(?:[-./][0-9a-z]+)*|[\u3400-\u9fff]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Hyphens, slashes and dots split a code; a decimal point (1.5m) does not.
_SEPARATOR = re.compile(r"[-/]|(?<!\d)\.|\.(?!\d)")
_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "在",
        "是",
        "有",
        "个",
        "款",
        "the",
        "a",
        "an",
        "of",
        "for",
        "and",
        "or",
        "with",
        "to",
        "in",
        "on",
        "by",
    ]
)
# Units a size is written with, Chinese ones mapped onto the Latin spelling, so that
# "500 ml", "500ml" and "500毫升" meet on the term 500ml.
_UNITS = {
    **dict.fromkeys(["ml", "l", "g", "kg", "mm", "cm", "m", "w", "v", "mah", "gb", "tb"], ""),
    **dict.fromkeys(["inch", "in", "oz", "lb", "ft", "hz", "mp", "x", "cu", "pcs"], ""),
    "毫升": "ml",
    "升": "l",
    "克": "g",
    "千克": "kg",
    "公斤": "kg",
    "毫米": "mm",
    "厘米": "cm",
    "米": "m",
    "寸": "inch",
    "英寸": "inch",
    "瓦": "w",
    "伏": "v",
    "毫安": "mah",
}


class SparseVector(NamedTuple):
    indices: list[int]
    values: list[float]


class WeightedText(NamedTuple):
    """One field of a document and how much a word in it counts (a title word more)."""

    text: str
    weight: float


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    if len(word) <= 3 or not word.isalpha():
        return word
    stem: str = _stemmer().stemWord(word)
    return stem


def stem_words(words: Sequence[str]) -> list[str]:
    """English words as the index stems them (batteries → batteri)."""
    return [_stem(word) for word in words]


def _latin_terms(piece: str) -> list[str]:
    """A Latin word; a code (dav-is50, f8n065blk) also joined and split at its separators."""
    terms = [piece]
    parts = [part for part in _SEPARATOR.split(piece) if part]
    if len(parts) > 1:
        joined = "".join(parts)
        terms.extend(dict.fromkeys(part for part in [joined, *parts] if part != piece))
    return [_stem(term) for term in terms]


def _with_sizes(pieces: list[str]) -> list[str]:
    """A number followed by a unit word also gives the joined size term (500 ml → 500ml)."""
    sizes = []
    for number, unit in itertools.pairwise(pieces):
        if _NUMBER.fullmatch(number) and unit in _UNITS:
            sizes.append(number + (_UNITS[unit] or unit))
    return sizes


def tokenize(text: str) -> list[str]:
    """Search terms: jieba's search-mode words (保温杯 also gives 保温), stemmed Latin words,
    model codes joined and split, and sizes joined to their unit."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    pieces: list[str] = []
    for piece in _WORD.findall(normalised):
        if piece[0].isascii():
            tokens.extend(_latin_terms(piece))
            pieces.append(piece)
        else:
            tokens.extend(rjieba.cut_for_search(piece))
            # Only a Chinese run right after a number can hold its unit (500毫升); its first
            # word is enough, so titles without sizes are not cut twice.
            after_number = bool(pieces) and _NUMBER.fullmatch(pieces[-1]) is not None
            pieces.append(rjieba.cut(piece)[0] if after_number else piece)
    tokens.extend(_with_sizes(pieces))
    return [token for token in tokens if token not in _STOPWORDS]


def code_forms(text: str) -> list[frozenset[str]]:
    """Each Latin word with a digit (model code, size) as the set of terms it indexes under:
    F8N-065BLK is found when the title has any of f8n065blk, f8n or 065blk."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    return [
        frozenset(_latin_terms(piece))
        for piece in dict.fromkeys(_WORD.findall(normalised))
        if piece[0].isascii() and any(character.isdigit() for character in piece)
    ]


def has_cjk(text: str) -> bool:
    """Whether the text has any Chinese character (CJK unified ideographs)."""
    return _CJK.search(text) is not None


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def token_id(token: str) -> int:
    """A stable 31-bit id per token, the same in every process (unlike hash())."""
    return zlib.crc32(token.encode()) & 0x7FFFFFFF


def _merge(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector([index for index, _ in ordered], [value for _, value in ordered])


def _fields(document: str | Sequence[WeightedText]) -> Sequence[WeightedText]:
    return [WeightedText(document, 1.0)] if isinstance(document, str) else document


def document_length(document: str | Sequence[WeightedText]) -> float:
    """Weighted term count, the length BM25 normalises by (and averages over the catalog)."""
    return sum(field.weight * len(tokenize(field.text)) for field in _fields(document))


def document_vector(
    document: str | Sequence[WeightedText], average_tokens: float = DEFAULT_AVERAGE_TOKENS
) -> SparseVector:
    """BM25 term weights of a document (BM25F-style: a field's weight scales its counts)."""
    counts: dict[int, float] = {}
    length = 0.0
    for field in _fields(document):
        tokens = tokenize(field.text)
        length += field.weight * len(tokens)
        for token in tokens:
            tid = token_id(token)
            counts[tid] = counts.get(tid, 0.0) + field.weight
    norm = 1 - B + B * length / max(average_tokens, 1.0)
    return _merge({tid: tf * (K1 + 1) / (tf + K1 * norm) for tid, tf in counts.items()})


def query_vector(text: str) -> SparseVector:
    return _merge({token_id(token): 1.0 for token in tokenize(text)})


def words_vector(words: Sequence[str]) -> SparseVector:
    """Whole words as single terms, not cut again: a bridged 挖掘机械 must not match 机械键盘."""
    normalised = (unicodedata.normalize("NFKC", word).lower() for word in words)
    return _merge({token_id(word): 1.0 for word in normalised if word})
