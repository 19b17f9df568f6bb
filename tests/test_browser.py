"""Every page of the built site, opened in a real browser (headless Chromium), offline.

Builds nothing: it serves ``_build/html`` (``make book``) on a local port and opens each page in Debian's
``chromium`` through Debian's ``chromedriver`` (both installed by ``.ci/run`` with apt-get; Selenium is told their
paths and never downloads a driver or a browser). A page fails on:

* a JavaScript error, or any console error (a resource that does not load counts);
* a resource fetched from another host (the site must work offline: MathJax, fonts and scripts come with it);
* an image that does not load;
* a code cell's error output (a traceback, an error, or an error message on stderr);
* math left unrendered (a ``math`` element MathJax did not typeset, or ``\\(``, ``\\[``, ``$$`` left in the text);
* a table whose adjacent columns have no visible gap between their contents;
* a widget with no static fallback (a widget view in the page, or a widget's bare ``repr`` as its output).

A screenshot of each page (the top 1280 x 2400 pixels, past which pages only repeat the same kinds of content) is kept
under ``_build/screenshots/`` (CI artefacts). Without a build or without Chromium the tests skip;
``SR_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes either a failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
REQUIRE = os.environ.get("SR_REQUIRE_BROWSER", "") not in ("", "0")
WIDTH, HEIGHT = 1280, 2400


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (SR_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def site_pages() -> list[str]:
    """Every HTML page of the built site, as paths relative to its root (the search page needs a query: skipped)."""
    if not (HTML / "index.html").is_file():
        return []
    return sorted(str(p.relative_to(HTML)) for p in [*HTML.glob("*.html"), *(HTML / "book").glob("*.html")]
                  if p.name != "search.html")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not (HTML / "index.html").is_file():
        _unavailable("no built site at _build/html: run `make book` first")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        _unavailable(f"no {CHROMIUM} / {CHROMEDRIVER}: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", "--lang=en-US"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(180)  # generous: a loaded 2-core machine renders the long scoreboard slowly
    driver.set_script_timeout(180)
    yield driver
    driver.quit()


# One script gathers everything a page is checked for, once its images and its math are done.
CHECKS_JS = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const out = {};
  out.brokenImages = imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src"));
  const here = location.origin;
  out.externalResources = performance.getEntriesByType("resource").map(e => e.name)
    .filter(n => !n.startsWith(here) && !n.startsWith("data:") && !n.startsWith("blob:"));
  const outputs = Array.from(document.querySelectorAll(".cell_output"));
  out.errorOutputs = outputs.flatMap(o => Array.from(o.querySelectorAll(".traceback, .output.error, .stderr"))
      .filter(e => e.matches(".traceback, .output.error") || /Traceback|Error\b|Exception\b/.test(e.innerText))
      .map(e => e.innerText.slice(0, 200)));
  out.unrenderedMath = Array.from(document.querySelectorAll(".math"))
      .filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 80));
  const walker = document.createTreeWalker(document.querySelector("main") || document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest("pre, code, script, style, mjx-container, .math, textarea")) continue;
    if (/\\\(|\\\[|\$\$/.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 80));
  }
  out.rawTex = raw;
  const textBox = el => {
    const r = document.createRange(); r.selectNodeContents(el); const b = r.getBoundingClientRect();
    return b.width > 0 ? b : null;
  };
  const jammed = [];
  document.querySelectorAll("main table").forEach((t, ti) => {
    Array.from(t.rows).forEach(row => {
      const cells = Array.from(row.cells);
      for (let k = 0; k + 1 < cells.length; k++) {
        const a = textBox(cells[k]), b = textBox(cells[k + 1]);
        if (a && b && Math.abs(a.top - b.top) < a.height && b.left - a.right < 4) {
          jammed.push(`table ${ti + 1}: "${cells[k].innerText.trim().slice(0, 30)}" | "${cells[k + 1].innerText.trim().slice(0, 30)}"`);
        }
      }
    });
  });
  out.jammedColumns = jammed.slice(0, 10);
  out.tables = document.querySelectorAll("main table").length;
  out.widgetViews = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  out.widgetReprs = outputs.map(o => o.innerText).filter(t => /^\s*(VBox|HBox|Box|Dropdown|Image|Output)\(/m.test(t))
      .map(t => t.slice(0, 80));
  out.mathCount = document.querySelectorAll(".math").length;
  out.height = document.documentElement.scrollHeight;
  done(out);
})().catch(e => done({scriptError: String(e)}));
"""


def _screenshot_name(page: str) -> str:
    return page.replace("/", "__").removesuffix(".html") + ".png"


@pytest.fixture(scope="module")
def screenshots() -> Path:
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    return SHOTS


@pytest.mark.parametrize("page", site_pages() or ["index.html"])
def test_page_in_browser(page: str, server: str, browser: Any, screenshots: Path) -> None:
    browser.get_log("browser")  # drop what earlier pages left
    browser.get(server + page)
    found = browser.execute_async_script(CHECKS_JS)
    console = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert browser.save_screenshot(str(screenshots / _screenshot_name(page)))
    assert "scriptError" not in found, found
    problems = {k: found[k] for k in ("brokenImages", "externalResources", "errorOutputs", "unrenderedMath",
                                      "rawTex", "jammedColumns", "widgetReprs") if found[k]}
    if found["widgetViews"]:
        problems["widgetViews"] = f"{found['widgetViews']} widget view(s) without a static fallback"
    if console:
        problems["console errors"] = console
    assert not problems, f"{page}: {problems}"


def test_the_checks_see_what_they_look_for(server: str, browser: Any, tmp_path: Path) -> None:
    """The checks themselves: a page with each fault is caught, the same page without them passes."""
    bad = HTML / "_browser_selftest.html"
    bad.write_text(
        "<html><body><main>"
        '<img src="missing.png">'
        '<div class="cell_output"><div class="output traceback"><pre>Traceback: boom</pre></div></div>'
        '<span class="math notranslate nohighlight">\\(x^2\\)</span><p>left over \\(y\\)</p>'
        '<table style="border-collapse:collapse"><tr><td style="padding:0">256x256</td>'
        '<td style="padding:0">256x256</td></tr></table>'
        '<div class="cell_output"><pre>VBox(children=(HBox(),))</pre></div>'
        "<script>undefinedFunction();</script>"
        "</main></body></html>", encoding="utf-8")
    try:
        browser.get_log("browser")
        browser.get(server + bad.name)
        found = browser.execute_async_script(CHECKS_JS)
        console = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        bad.unlink()
    assert found["brokenImages"] == ["missing.png"]
    assert found["errorOutputs"] and found["unrenderedMath"] and found["rawTex"] == ["left over \\(y\\)"]
    assert found["jammedColumns"] and found["widgetReprs"]
    assert any("undefinedFunction" in m for m in console) and any("missing.png" in m for m in console)
