"""The site's own Sphinx extension: every script once per page.

Jupyter Book 1.x registers sphinx-thebe's inline configuration script (``const THEBE_JS_URL = ...``) more than once
(at different priorities), and a second ``const`` declaration of the same name is a JavaScript error on every page
(tests/test_browser.py opens each page and fails on it). This drops repeated entries of a page's ``script_files``
(same file or inline body, same attributes, whatever their priority; an inline script is registered with the file
name None or ""), keeping the first, so each script runs once.
"""

from __future__ import annotations

from typing import Any


def drop_repeated_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple[Any, ...]] = set()
    unique: list[Any] = []
    for script in scripts:
        key = (getattr(script, "filename", script) or None, tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
