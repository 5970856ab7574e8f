"""Lexical terms: model codes, sizes, stems and decimals; BM25 length from the catalog."""

from __future__ import annotations

from sourcing.retrieval.index import IndexHit
from sourcing.retrieval.lexical import WeightedText, document_vector, query_vector, tokenize
from sourcing.retrieval.search import in_canonical_order


def _shared(query: str, document: str) -> set[int]:
    return set(query_vector(query).indices) & set(document_vector(document).indices)


def test_a_model_code_matches_with_or_without_its_hyphen() -> None:
    assert "davis50" in tokenize("sony bravia dav-is50 home theater")
    assert _shared("davis50", "sony bravia dav-is50 home theater")
    assert _shared("F8N065BLK", "belkin f8n065blk case")


def test_sizes_meet_whether_spaced_joined_or_written_in_chinese() -> None:
    assert "500ml" in tokenize("500 ml bottle")
    assert "500ml" in tokenize("保温杯500毫升")
    assert "500ml" in tokenize("500ML")


def test_a_decimal_stays_one_term_and_english_words_are_stemmed() -> None:
    assert "1.5m" in tokenize("数据线 1.5m")
    assert "1" not in tokenize("数据线 1.5m")
    assert tokenize("batteries") == tokenize("battery")


def test_bm25_normalises_by_the_average_length_it_is_given() -> None:
    text = "stainless steel vacuum flask 500 ml"
    short_catalog = document_vector(text, average_tokens=4.0)
    long_catalog = document_vector(text, average_tokens=40.0)
    assert short_catalog.indices == long_catalog.indices
    assert max(short_catalog.values) < max(long_catalog.values)


def test_a_field_weight_scales_its_term_counts() -> None:
    plain = document_vector([WeightedText("flask", 1.0), WeightedText("steel", 1.0)], 2.0)
    titled = document_vector([WeightedText("flask", 2.0), WeightedText("steel", 1.0)], 2.0)
    flask = plain.indices.index(query_vector("flask").indices[0])
    assert titled.values[flask] > plain.values[flask]


def test_ties_rank_by_product_id_whatever_order_the_index_returns_them_in() -> None:
    hits = [
        IndexHit("p-3", 17.156014, {}),
        IndexHit("p-1", 17.156013, {}),
        IndexHit("p-2", 20.0, {}),
    ]
    assert [hit.product_id for hit in in_canonical_order(hits)] == ["p-2", "p-1", "p-3"]
