"""Headless Chromium for the tests: Debian's ``chromium`` package, driven from its command line.

No Python browser driver: ``--dump-dom`` on a copy of the page into which a small script is
injected reports what the browser rendered (headings, images, tables wider than the page),
``--screenshot`` photographs the original, and ``--print-to-pdf`` prints it on A4 paper, whose
text pdftotext (poppler-utils) reads back to find tables that printing cuts off.
Chromium is started so that it fetches nothing: no background, component-update or sync
traffic, and every host name fails to resolve (the reports embed their figures; the CDN
scripts nbconvert links to are not needed to show them).
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

from analysis_utils.pdf import OFFLINE_FLAGS

APT_TIMEOUT = 900  # seconds for each of apt-get update and apt-get install
CHROMIUM_TIMEOUT = 120  # seconds for one page
VIRTUAL_TIME_BUDGET = 5000  # virtual milliseconds the page gets to load before the DOM is dumped
WINDOW_SIZE = "1280,2000"
FLAGS = (*OFFLINE_FLAGS, f"--window-size={WINDOW_SIZE}", f"--virtual-time-budget={VIRTUAL_TIME_BUDGET}")

# Runs on load; writes what the browser shows into <pre id="check"> as JSON.
CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  function visible(el) {
    var style = getComputedStyle(el);
    return el.getClientRects().length > 0 && style.visibility !== "hidden";
  }
  var headings = Array.prototype.filter.call(document.querySelectorAll("h1, h2, h3"), visible)
    .map(function (h) { return [Number(h.tagName.charAt(1)), h.textContent]; });
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; })
    .map(function (img) { return (img.getAttribute("src") || "").slice(0, 80); });
  // A table is too wide when it reaches past the page's text column (the body's content box) or
  // makes a box around it scroll sideways; the page is too wide when it scrolls sideways itself.
  var body = document.body;
  var column = body.getBoundingClientRect().right - parseFloat(getComputedStyle(body).paddingRight);
  var wide = [];
  Array.prototype.filter.call(document.querySelectorAll("table"), visible).forEach(function (table) {
    var excess = table.getBoundingClientRect().right - column;
    for (var box = table.parentElement; box && box !== body; box = box.parentElement) {
      if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== "visible") {
        excess = Math.max(excess, box.scrollWidth - box.clientWidth);
      }
    }
    if (excess > 1) {
      var first = table.rows.length ? Array.prototype.slice.call(table.rows[0].cells) : [];
      var head = first.map(function (cell) {
        return cell.textContent.split(/\\s+/).join(" ").trim();
      }).join(" ");
      wide.push([head.slice(0, 80), Math.round(excess)]);
    }
  });
  var root = document.documentElement;
  var pre = document.createElement("pre");
  pre.id = "check";
  pre.textContent = JSON.stringify({headings: headings, images: images.length, broken: broken,
    wide_tables: wide, page_overflow: Math.max(0, root.scrollWidth - root.clientWidth)});
  document.body.appendChild(pre);
});
</script>"""
CHECK_OUTPUT = re.compile(r'<pre id="check">(.*?)</pre>', re.DOTALL)


class ChromiumUnavailable(RuntimeError):
    """Chromium is not installed and could not be installed here (the message says why)."""


def ensure_chromium() -> str:
    """Path of ``chromium``; installs Debian's package with apt-get when missing and we are root."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise ChromiumUnavailable("chromium is not installed, and installing it needs root (apt-get)")
    if not shutil.which("apt-get"):
        raise ChromiumUnavailable("chromium is not installed, and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Parallel test workers may all get here: one installs, the others wait and then find it.
    with open(Path(tempfile.gettempdir()) / "crm-workbook-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which("chromium")
        if found:
            return found
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "chromium"],
        ):
            try:
                result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise ChromiumUnavailable(f"{' '.join(command)} took over {APT_TIMEOUT} s") from None
            if result.returncode != 0:
                last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
                raise ChromiumUnavailable(f"{' '.join(command)} failed (exit {result.returncode}): {last[0]}")
    found = shutil.which("chromium")
    if not found:
        raise ChromiumUnavailable("apt-get installed chromium, but there is no chromium on PATH")
    return found


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    """One headless Chromium with a fresh profile; raises with its stderr when it fails."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [ensure_chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT,
        )
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def normalise(text: str) -> str:
    """Heading text as a reader sees it: no "¶" anchor link, single spaces."""
    return " ".join(text.replace("\N{PILCROW SIGN}", " ").split())


def page_facts(html_path: Path) -> dict:
    """What Chromium shows of a page once loaded.

    ``{"headings": [(level, text), ...], "images": n, "broken": [src, ...], "wide_tables":
    [(header, pixels), ...], "page_overflow": pixels}``: the visible h1-h3 headings in document
    order (text normalised), the number of ``<img>`` elements, the start of the ``src`` of every
    image that did not load, the tables wider than the page's text column or than a box around
    them (start of their header text, by how many pixels) at the window size (1280 px wide), and
    how far the page itself scrolls sideways.
    """
    html_path = Path(html_path).resolve()
    page = html_path.read_text(encoding="utf-8")
    base = f'<base href="{html.escape(html_path.parent.as_uri())}/">'
    page, found = re.subn(r"<head[^>]*>", lambda m: m.group(0) + base, page, count=1, flags=re.IGNORECASE)
    if not found:
        page = base + page
    page, found = re.subn(r"</body>", lambda m: CHECK_SCRIPT + m.group(0), page, count=1, flags=re.IGNORECASE)
    if not found:
        page += CHECK_SCRIPT
    with tempfile.TemporaryDirectory(prefix="page-facts-") as folder:
        copy = Path(folder) / html_path.name
        copy.write_text(page, encoding="utf-8")
        result = _run_chromium("--dump-dom", copy.as_uri())
    match = CHECK_OUTPUT.search(result.stdout)
    if not match:
        raise AssertionError(f"{html_path.name}: the check script did not run (page never loaded?)")
    facts = json.loads(html.unescape(match.group(1)))
    facts["headings"] = [(level, normalise(text)) for level, text in facts["headings"]]
    facts["wide_tables"] = [(header, pixels) for header, pixels in facts["wide_tables"]]
    return facts


def screenshot(html_path: Path, png_path: Path) -> Path:
    """Save a 1280 x 2000 screenshot of the page to ``png_path``; returns it."""
    png_path = Path(png_path).resolve()
    png_path.unlink(missing_ok=True)
    _run_chromium(f"--screenshot={png_path}", Path(html_path).resolve().as_uri())
    if not png_path.is_file():
        raise AssertionError(f"chromium wrote no screenshot to {png_path}")
    return png_path


PAPER = "A4 portrait"
PAGE_STYLE = f"<style>@page{{size:{PAPER}}}</style>"  # the paper the client prints on


class PdfToTextUnavailable(RuntimeError):
    """pdftotext (poppler-utils) is not installed."""


def print_to_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print the page as Chromium does, on A4 portrait paper (its own print rules apply), to ``pdf_path``."""
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    page = html_path.read_text(encoding="utf-8")
    base = f'<base href="{html.escape(html_path.parent.as_uri())}/">'
    page, found = re.subn(
        r"</head>", lambda m: base + PAGE_STYLE + m.group(0), page, count=1, flags=re.IGNORECASE
    )
    if not found:
        page = base + PAGE_STYLE + page
    with tempfile.TemporaryDirectory(prefix="print-") as folder:
        copy = Path(folder) / html_path.name
        copy.write_text(page, encoding="utf-8")
        _run_chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf_path}", copy.as_uri())
    if not pdf_path.is_file():
        raise AssertionError(f"chromium wrote no PDF to {pdf_path}")
    return pdf_path


class _TableCells(HTMLParser):
    """Cell texts per table; the contents of style and script elements are not text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[str]] = []
        self._open: list[list[str]] = []  # cells of the tables being read (nested tables)
        self._cell: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            self._open.append([])
        elif tag in ("td", "th") and self._open:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._skip:
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self._open:
            self._open[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._open:
            self.tables.append(self._open.pop())

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._skip:
            self._cell.append(data)


def pdf_text(pdf_path: Path) -> str:
    """The text of a PDF in the order it was drawn (``pdftotext -raw``)."""
    found = shutil.which("pdftotext")
    if not found:
        raise PdfToTextUnavailable("pdftotext is not installed (Debian package poppler-utils)")
    result = subprocess.run(
        [found, "-raw", "-enc", "UTF-8", str(pdf_path), "-"], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"pdftotext exited {result.returncode}: {result.stderr[-1000:]}")
    return result.stdout


def _squeezed(text: str) -> str:
    """Text without white space, in one normal form (what survives a line break anywhere)."""
    text = unicodedata.normalize("NFKC", text).replace("\N{MINUS SIGN}", "-")
    text = text.replace("\N{RIGHT SINGLE QUOTATION MARK}", "'").replace("\N{SOFT HYPHEN}", "")
    return "".join(text.split())


def table_cells(page_html: str) -> list[list[str]]:
    """The text of every cell of every table of a page, table by table (nested tables apart)."""
    parser = _TableCells()
    parser.feed(page_html)
    parser.close()
    return parser.tables


def clipped_in_print(html_path: Path, pdf_path: Path) -> list[tuple[str, list[str]]]:
    """The tables of a page that printing cuts: (start of the header, the cells missing from the
    PDF). Each cell's text must appear, whole, in the text of :func:`print_to_pdf`'s PDF."""
    printed = _squeezed(pdf_text(print_to_pdf(html_path, pdf_path)))
    clipped = []
    for cells in table_cells(Path(html_path).read_text(encoding="utf-8")):
        missing = [cell for cell in cells if _squeezed(cell) and _squeezed(cell) not in printed]
        if missing:
            clipped.append((normalise(" ".join(cells[:6]))[:80], missing))
    return clipped


MARKER = "data-payload-ran"
"""Attribute a hostile test value sets on <html> when its script runs (see :func:`payload`)."""


def payload(name: str) -> dict[str, str]:
    """Hostile values that, if they ever ran in a page, would set ``MARKER`` on <html>: a script
    tag, an image whose error handler runs, and a javascript: link (clicked by no one, but kept
    out all the same)."""
    action = f"document.documentElement.setAttribute('{MARKER}','{name}')"
    return {
        "script": f"Garden <script>{action}</script>",
        "image": f'Toys<img src=x onerror="{action}">',
        "link": f"[offer](javascript:{action})",
    }


def payloads_that_ran(html_path: Path) -> list[str]:
    """Names of the :func:`payload` values whose script ran when Chromium loaded the page."""
    result = _run_chromium("--dump-dom", Path(html_path).resolve().as_uri())
    opening = re.search(r"<html[^>]*>", result.stdout)
    return re.findall(rf'{MARKER}="([^"]*)"', opening.group(0)) if opening else []
