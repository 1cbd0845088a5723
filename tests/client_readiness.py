"""Is a client page ready to send? The problems a client should never see, found in its HTML.

``problems(page_html)`` returns a list of :class:`Problem` (empty: ready). It looks at what a
reader meets: the visible text (the HTML minus tags, and minus the contents of ``<style>`` and
``<script>``), table cells, and the alternative text of images (what a screen reader reads out in
place of a figure). The checks:

- ``raw dump``: a ``<pre>`` block, i.e. printed analyst output (``print()``, a plain-text frame).
- ``script``: any ``<script>`` element (the page is read offline and needs none).
- ``missing value``: NaN, nan, NaT, <NA>, inf or None shown as a value. "None" followed by a
  lowercase word is English ("None of the customers", "None, or a single offer") and passes; a
  table cell that reads only "None" does not.
- ``unformatted number``: a number with four or more decimals (``0.123457``) or in exponent form
  (``1.2e-05``).
- ``code identifier``: a snake_case token (``share_customers``) or a dotted parameter name
  (``data.columns.cost``, ``rfm.n_bins``); "e.g." and "i.e." pass (one-letter first part).
- ``file name``: a name ending in .parquet, .joblib, .json, .csv, .tsv, .xlsx, .gz, .yaml, .yml,
  .ipynb, .py or .md.
- ``section sign``: "§" (a reference into the methodology, which the client does not have).
- ``jargon``: the statistics the client version explains in plain words instead (inertia,
  silhouette, Calinski-Harabasz, Davies-Bouldin, adjusted Rand index, principal components).
- ``alt text``: an image without a description, or with nbconvert's placeholder
  "No description has been provided for this image".

No allowlist is needed for the pages of this project; text that must show an identifier on
purpose would have to be listed in ``ALLOWED`` below, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

from analysis_utils import paths
from analysis_utils.runner import COMPARISON, COMPARISON_NOTEBOOK, STAGE_NOTEBOOKS

PLACEHOLDER_ALT = "No description has been provided"
ALLOWED: frozenset[str] = frozenset()  # exact tokens shown on purpose (none so far)

MISSING_CELL = re.compile(r"^\s*(?:NaN|nan|NaT|<NA>|None|null|-?inf|-?Inf|-?infinity)\s*$")
MISSING_IN_TEXT = re.compile(
    r"(?<![\w-])(?:NaN|nan|NaT|<NA>|-?inf|-?Infinity)(?![\w-])|(?<![\w-])None(?!,?\s+[a-z])(?![\w-])"
)
LONG_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d{4,}(?![\w.])|(?<![\w.])\d+(?:\.\d+)?e[+-]?\d+(?![\w.])")
SNAKE_CASE = re.compile(r"(?<![\w.])_*[A-Za-z][A-Za-z0-9]*(?:_+[A-Za-z0-9]+)+_*(?![\w])")
FILE_NAME = re.compile(
    r"[\w*-]+\.(?:parquet|joblib|json|csv|tsv|xlsx|gz|yaml|yml|ipynb|py|md)(?![\w])", re.IGNORECASE
)
DOTTED_NAME = re.compile(r"(?<![\w.])[a-z][a-z0-9_]+(?:\.[a-z0-9_]+)+(?![\w(])")
JARGON = re.compile(
    r"\b(?:inertia|silhouette|Calinski|Harabasz|Davies[- ]Bouldin|adjusted Rand|Rand index"
    r"|principal components?)\b",
    re.IGNORECASE,
)
CONTEXT = 40  # characters of visible text quoted on each side of a finding


@dataclass(frozen=True)
class Problem:
    """One thing a client should not see: which check found it, and the text around it."""

    check: str
    text: str

    def __str__(self) -> str:
        return f"{self.check}: {self.text}"


class _Page(HTMLParser):
    """Collects visible text, table cells, ``<pre>`` blocks, scripts and image descriptions."""

    SKIPPED = {"style", "script", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.cells: list[str] = []
        self.pre: list[str] = []
        self.scripts = 0
        self.images: list[str | None] = []  # alt text of each <img> (None: no alt attribute)
        self._skipping: list[str] = []
        self._cell: list[str] | None = None
        self._pre_depth = 0
        self._pre_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag in self.SKIPPED:
            self._skipping.append(tag)
        elif tag == "img":
            self.images.append(dict(attrs).get("alt"))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "pre":
            self._pre_depth += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "table"):
            self.text.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("alt"))
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and tag == self._skipping[-1]:
            self._skipping.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None
            self.text.append(" \n")
        elif tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
            if not self._pre_depth:
                self.pre.append("".join(self._pre_text))
                self._pre_text = []

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._pre_depth:
            self._pre_text.append(data)


def _parse(page_html: str) -> _Page:
    parser = _Page()
    parser.feed(page_html)
    parser.close()
    return parser


def visible_text(page_html: str) -> str:
    """The page's text as a reader meets it: no tags, no style or script contents."""
    return "".join(_parse(page_html).text)


def _quote(text: str, start: int, end: int) -> str:
    around = text[max(0, start - CONTEXT) : end + CONTEXT]
    return f"{text[start:end]!r} in '{' '.join(around.split())}'"


def text_problems(text: str, where: str = "") -> list[Problem]:
    """Findings of the text checks (missing values, numbers, identifiers, file names, §, jargon)."""
    found: list[Problem] = []
    suffix = f" ({where})" if where else ""
    file_spans: list[tuple[int, int]] = []
    for match in FILE_NAME.finditer(text):
        file_spans.append(match.span())
        found.append(Problem("file name", _quote(text, *match.span()) + suffix))

    def in_file_name(span: tuple[int, int]) -> bool:
        return any(start <= span[0] and span[1] <= end for start, end in file_spans)

    checks = (
        ("missing value", MISSING_IN_TEXT),
        ("unformatted number", LONG_DECIMAL),
        ("code identifier", SNAKE_CASE),
        ("code identifier", DOTTED_NAME),
        ("jargon", JARGON),
    )
    for check, pattern in checks:
        for match in pattern.finditer(text):
            if match.group(0).strip() in ALLOWED or (
                check == "code identifier" and in_file_name(match.span())
            ):
                continue
            found.append(Problem(check, _quote(text, *match.span()) + suffix))
    found.extend(
        Problem("section sign", _quote(text, m.start(), m.end()) + suffix) for m in re.finditer("§", text)
    )
    return found


def problems(page_html: str) -> list[Problem]:
    """Everything in a client page that should not reach the client (empty list: ready to send)."""
    page = _parse(page_html)
    found = [Problem("raw dump", f"<pre> block {' '.join(block.split())[:120]!r}") for block in page.pre]
    if page.scripts:
        found.append(Problem("script", f"{page.scripts} <script> element(s)"))
    found.extend(
        Problem("missing value", f"table cell {cell.strip()!r}")
        for cell in page.cells
        if MISSING_CELL.match(cell)
    )
    found.extend(text_problems("".join(page.text)))
    for number, alt in enumerate(page.images, start=1):
        if not alt or not alt.strip() or PLACEHOLDER_ALT in alt:
            found.append(Problem("alt text", f"image {number} has no description ({alt!r})"))
        else:
            found.extend(text_problems(alt, f"description of image {number}"))
    return found


def client_pages(client_file: str) -> list[tuple[str, str]]:
    """(period folder, notebook stem) of every client page a run of ``client_file`` writes."""
    client = yaml.safe_load((paths.PROJECT_ROOT / client_file).read_text(encoding="utf-8"))
    stages = [Path(name).stem for name in STAGE_NOTEBOOKS]
    pages = [(period["name"], stem) for period in client["periods"] for stem in stages]
    return [*pages, (COMPARISON, Path(COMPARISON_NOTEBOOK).stem)]


def page_ids(pages: list[tuple[str, str]]) -> list[str]:
    """Test ids of :func:`client_pages`: ``period/stem``."""
    return [f"{period}/{stem}" for period, stem in pages]


def page_problems(path: str | Path) -> list[Problem]:
    """:func:`problems` of an HTML file."""
    return problems(Path(path).read_text(encoding="utf-8"))


def summary(found: list[Problem], limit: int = 25) -> str:
    """The findings one per line (at most ``limit``), for an assertion message."""
    lines = [str(p) for p in found[:limit]]
    if len(found) > limit:
        lines.append(f"... and {len(found) - limit} more")
    return "\n".join(lines)
