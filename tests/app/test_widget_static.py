"""The widget script stays small and never parses HTML strings."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import sourcing.app

WIDGET = Path(sourcing.app.__file__).parent / "widget" / "widget.js"
DEMO = WIDGET.with_name("demo.html")
GZIP_BUDGET = 15 * 1024


def test_the_widget_never_parses_html_strings() -> None:
    source = WIDGET.read_text("utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert not re.search(r"new\s+Function\s*\(", source)
    assert "createContextualFragment" not in source
    assert "DOMParser" not in source


def test_the_widget_is_under_its_gzipped_budget() -> None:
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    assert size < GZIP_BUDGET, f"widget.js is {size} bytes gzipped (budget {GZIP_BUDGET})"


def test_the_demo_page_embeds_the_widget_with_escaped_values() -> None:
    page = DEMO.read_text("utf-8")
    script = '<script src="/widget.js" data-token="{{ token }}" data-token-url="{{ token_url }}"'
    assert script in page
    assert "api_key" not in page  # no long-lived key is ever rendered into the page
    assert "|safe" not in page
    assert "autoescape false" not in page
    assert "sourcing demo build" in page
