"""The built site (``make book`` -> ``_build/html``) works without a network, read from its files.

Formulas: MathJax must come from the site itself (``sphinx-mathjax-offline`` copies MathJax 3 into
``_static/mathjax``), never from a CDN, on every page that has math. Tables: the site's stylesheet ``tables.css``
(padding and rules; without it adjacent columns of an output table ran together) is linked from every page.
Without a build the tests skip; ``SR_REQUIRE_BOOK_BUILD=1`` (set by ``.ci/run`` after the build) makes that a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
REQUIRE_BUILD = os.environ.get("SR_REQUIRE_BOOK_BUILD", "") not in ("", "0")
SCRIPT = re.compile(r"<script[^>]*\bsrc=\"([^\"]*)\"", re.IGNORECASE)


def pages() -> list[Path]:
    if not (HTML / "index.html").is_file():
        if REQUIRE_BUILD:
            pytest.fail("no built site at _build/html (SR_REQUIRE_BOOK_BUILD=1): run `make book` first")
        pytest.skip("no built site at _build/html: run `make book` first")
    return sorted(p for p in (HTML / "book").glob("*.html"))


def test_mathjax_is_served_by_the_site_on_every_page_with_math() -> None:
    found = pages()
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file()
    with_math = 0
    for page in found:
        text = page.read_text(encoding="utf-8")
        scripts = SCRIPT.findall(text)
        assert not [s for s in scripts if "mathjax" in s.lower() and s.startswith(("http:", "https:", "//"))], page.name
        if 'class="math' in text:
            with_math += 1
            assert any(s.split("?")[0].endswith("_static/mathjax/tex-chtml.js") for s in scripts), page.name
    assert with_math >= 5  # the chapters' formulas: the check is not vacuous


def test_every_page_links_the_table_stylesheet() -> None:
    for page in pages():
        assert re.search(r'<link[^>]*href="[^"]*_static/tables\.css', page.read_text(encoding="utf-8")), page.name
