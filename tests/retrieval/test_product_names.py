"""A constraint word a product's name holds is searched as text, not applied as a filter."""

from __future__ import annotations

import csv
from pathlib import Path

from sourcing.eval.catalog_search import loaded_catalog
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.query_parser import parse_query
from sourcing.retrieval.search import SearchRequest

TITLES = [
    "Nova Greeting Card Factory for Mac",
    "Nova Development Humorous Greeting Card Factory",
    "Print Perfect Business Cards DVD",
    "Stainless steel vacuum flask 500ml",
]


def test_names_keep_a_constraint_word_in_the_text() -> None:
    assert parse_query("greeting card factory").constraints.supplier_kinds
    kept = parse_query("greeting card factory", names=["factory"])
    assert not kept.constraints.supplier_kinds
    assert kept.semantic_text == "greeting card factory"


def test_a_word_the_titles_use_in_a_name_is_not_a_filter(
    tmp_path: Path, use_embedder: Embedder
) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    with (feed / "catalog.csv").open("w", newline="", encoding="utf-8") as out:
        rows = csv.writer(out)
        rows.writerow(["id", "title", "price", "moq", "unit"])
        rows.writerows([f"p{i}", title, "10.00", 1, "件"] for i, title in enumerate(TITLES))
    with loaded_catalog(feed, tmp_path / "work", use_embedder) as catalog:
        named = catalog.search.search(SearchRequest(query="greeting card factory (mac)"))
        assert not named.constraints.supplier_kinds
        assert named.hits[0].title == TITLES[0]
        # no title says "flask factory": there the word asks for factory-direct suppliers
        flask = catalog.search.search(SearchRequest(query="vacuum flask factory"))
        assert flask.constraints.supplier_kinds
