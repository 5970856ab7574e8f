"""Learning-to-rank over the fused candidates: per-pair features and a LightGBM lambdarank model."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

import lightgbm
import numpy as np
from numpy.typing import NDArray

from sourcing.domain.errors import ConfigurationError
from sourcing.retrieval.lexical import code_forms, has_cjk, tokenize

# Bump with any change to `features`: a model trained on other features refuses to load.
FEATURE_VERSION = 5
FEATURES = (
    "sparse_ratio",  # lexical score over the best in the catalog
    "sparse_rank",
    "dense_ratio",
    "dense_rank",
    "fused_rank",
    "title_coverage",  # share of the query's terms in the title
    "document_coverage",  # ... in the title, attributes and description
    "title_weighted_coverage",  # ... weighted by their IDF within the pool
    "document_weighted_coverage",
    "title_precision",  # share of the title's terms the query asked for
    "code_match",  # share of the query's words with a digit (model codes, sizes) found
    "bigram_coverage",  # share of the query's adjacent term pairs adjacent in the title
    "bigram_any",
    "head_match",  # the query's last term (mostly the product type) in the title
    "cjk_character_coverage",
    "query_terms",
    "title_terms",
    "cross_lingual",  # a Chinese query over a Latin title or the other way round
    "bridged_coverage",  # share of the dictionary's synonyms and translations in the listing
    "bridged_ratio",  # score by those words over their best in the catalog
    "bridged_rank",
)
MODEL_FILE = f"reranker-v{FEATURE_VERSION}.txt"
_CJK_CHARACTER = re.compile(r"[\u3400-\u9fff]")
_MISSING = math.nan  # LightGBM learns where a missing value goes


@dataclass
class Evidence:
    """What retrieval saw: the fused order and each ranking's kept scores, best first."""

    fused: dict[str, float]
    sparse: dict[str, float] = field(default_factory=dict)
    dense: dict[str, float] = field(default_factory=dict)
    sparse_best: float = 0.0
    dense_best: float = 0.0
    bridged: dict[str, float] = field(default_factory=dict)  # by dictionary-bridged words
    bridged_best: float = 0.0
    bridged_words: tuple[str, ...] = ()  # what the dictionary added to the query

    @cached_property
    def ranks(self) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
        """1-based positions in the fused, sparse, dense and bridged rankings."""
        return tuple(  # type: ignore[return-value]
            {pid: rank for rank, pid in enumerate(ranking, start=1)}
            for ranking in (self.fused, self.sparse, self.dense, self.bridged)
        )


@dataclass(frozen=True)
class QueryTerms:
    """A query's terms, worked out once for every candidate."""

    terms: tuple[str, ...]  # unique, in query order
    codes: tuple[frozenset[str], ...]  # each word with a digit (codes, sizes) in all its forms
    bigrams: frozenset[tuple[str, str]]
    characters: frozenset[str]  # Chinese characters
    chinese: bool
    bridged: tuple[str, ...] = ()  # dictionary synonyms and translations of its words

    @classmethod
    def of(cls, text: str, bridged: Sequence[str] = ()) -> QueryTerms:
        terms = tuple(dict.fromkeys(tokenize(text)))
        return cls(
            bridged=tuple(bridged),
            terms=terms,
            codes=tuple(code_forms(text)),
            bigrams=frozenset(itertools.pairwise(terms)),
            characters=frozenset(_CJK_CHARACTER.findall(text)),
            chinese=has_cjk(text),
        )


def _share(wanted: Collection[Hashable], found: AbstractSet[Hashable]) -> float:
    if not wanted:
        return _MISSING
    return sum(1 for term in wanted if term in found) / len(wanted)


def _ratio(score: float | None, best: float) -> float:
    return _MISSING if score is None or best <= 0 else score / best


def _log_rank(rank: int | None) -> float:
    return _MISSING if rank is None else math.log1p(rank)


@dataclass(frozen=True)
class PoolItem:
    """One candidate as the features read it."""

    product_id: str
    title: str
    title_terms: tuple[str, ...]  # unique, in title order
    detail_terms: frozenset[str]  # attribute values and the description's start


def _term_weights(query: QueryTerms, pool: Sequence[PoolItem]) -> dict[str, float]:
    """IDF of each query term within the candidate pool: a term every candidate has tells
    them apart no more than a stopword, a model code only one has tells them apart most."""
    documents = [frozenset(item.title_terms) | item.detail_terms for item in pool]
    size = len(documents)
    return {
        term: math.log((size + 1) / (sum(term in doc for doc in documents) + 0.5))
        for term in query.terms
    }


def _weighted_share(weights: Mapping[str, float], found: AbstractSet[str]) -> float:
    total = sum(weights.values())
    if total <= 0:
        return _MISSING
    return sum(weight for term, weight in weights.items() if term in found) / total


def pool_features(
    query: QueryTerms, evidence: Evidence, pool: Sequence[PoolItem]
) -> list[list[float]]:
    """One row per candidate, in the order of FEATURES."""
    weights = _term_weights(query, pool)
    return [_row(query, evidence, item, weights) for item in pool]


def _row(
    query: QueryTerms, evidence: Evidence, item: PoolItem, weights: Mapping[str, float]
) -> list[float]:
    fused_rank, sparse_rank, dense_rank, bridged_rank = (
        ranks.get(item.product_id) for ranks in evidence.ranks
    )
    sparse, dense = evidence.sparse.get(item.product_id), evidence.dense.get(item.product_id)
    title_set = frozenset(item.title_terms)
    document = title_set | item.detail_terms
    matched = sum(1 for term in query.terms if term in title_set)
    title_bigrams = frozenset(itertools.pairwise(item.title_terms))
    characters = frozenset(_CJK_CHARACTER.findall(item.title))
    return [
        _ratio(sparse, evidence.sparse_best),
        _log_rank(sparse_rank),
        _ratio(dense, evidence.dense_best),
        _log_rank(dense_rank),
        _log_rank(fused_rank),
        _share(query.terms, title_set),
        _share(query.terms, document),
        _weighted_share(weights, title_set),
        _weighted_share(weights, document),
        matched / len(title_set) if title_set else 0.0,
        _MISSING
        if not query.codes
        else sum(bool(forms & document) for forms in query.codes) / len(query.codes),
        _share(query.bigrams, title_bigrams),
        _MISSING if not query.bigrams else float(bool(query.bigrams & title_bigrams)),
        _MISSING if not query.terms else float(query.terms[-1] in title_set),
        _share(query.characters, characters),
        float(len(query.terms)),
        float(len(title_set)),
        float(query.chinese != bool(characters)),
        _share(query.bridged, document),
        _ratio(evidence.bridged.get(item.product_id), evidence.bridged_best),
        _log_rank(bridged_rank),
    ]


class Reranker:
    """A LightGBM ranking model over FEATURES; higher scores are more relevant."""

    def __init__(self, booster: lightgbm.Booster, meta: Mapping[str, object]) -> None:
        self.booster, self.meta = booster, dict(meta)

    @classmethod
    def from_text(cls, text: str) -> Reranker:
        """A model file: one JSON header line (features, version, training data), then the
        LightGBM model text."""
        header, _, model = text.partition("\n")
        meta = json.loads(header)
        if meta.get("features") != list(FEATURES):
            raise ConfigurationError(
                f"reranker model was trained on other features (version {meta.get('version')}, "
                f"this code computes version {FEATURE_VERSION}): run `sourcing eval train-reranker`"
            )
        return cls(lightgbm.Booster(model_str=model), meta)

    @classmethod
    def packaged(cls) -> Reranker:
        """The model committed with the code (src/sourcing/retrieval/models)."""
        path = resources.files("sourcing.retrieval").joinpath("models", MODEL_FILE)
        if not path.is_file():
            raise ConfigurationError(
                f"no reranker model {MODEL_FILE}: run `sourcing eval train-reranker`"
            )
        return cls.from_text(path.read_text("utf-8"))

    def to_text(self) -> str:
        header = json.dumps(self.meta, ensure_ascii=False, sort_keys=True)
        return header + "\n" + self.booster.model_to_string()

    def score(self, rows: Sequence[Sequence[float]]) -> NDArray[np.float64]:
        if not rows:
            return np.zeros(0)
        matrix = np.asarray(rows, dtype=np.float64)
        return np.asarray(self.booster.predict(matrix, num_threads=1), dtype=np.float64)
