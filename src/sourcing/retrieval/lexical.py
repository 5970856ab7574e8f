"""Sparse lexical vectors: jieba tokens for Chinese, lower-cased words for English, BM25 weights."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from typing import NamedTuple

import rjieba

# BM25 term-frequency saturation; the IDF half is applied by Qdrant's IDF modifier.
K1 = 1.2
B = 0.75
AVERAGE_DOCUMENT_TOKENS = 40.0
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[0-9a-z]+(?:[-.][0-9a-z]+)*|[\u3400-\u9fff]+")
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


class SparseVector(NamedTuple):
    indices: list[int]
    values: list[float]


def tokenize(text: str) -> list[str]:
    """Search tokens: jieba's search-mode words (保温杯 also gives 保温) and latin words."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for piece in _WORD.findall(normalised):
        if piece[0].isascii():
            tokens.append(piece)
            tokens.extend(part for part in re.split(r"[-.]", piece) if part and part != piece)
        else:
            tokens.extend(rjieba.cut_for_search(piece))
    return [token for token in tokens if token not in _STOPWORDS]


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


def document_vector(text: str) -> SparseVector:
    tokens = tokenize(text)
    counts = Counter(token_id(token) for token in tokens)
    length_norm = 1 - B + B * len(tokens) / AVERAGE_DOCUMENT_TOKENS
    return _merge({tid: tf * (K1 + 1) / (tf + K1 * length_norm) for tid, tf in counts.items()})


def query_vector(text: str) -> SparseVector:
    return _merge({token_id(token): 1.0 for token in tokenize(text)})
