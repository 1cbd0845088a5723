"""The client HTML reports as a browser shows them: headless Chromium (Debian's package).

For each client page of the sample run: every markdown heading the client may see is shown as a
heading, every figure of the notebook is an image and none is broken; a screenshot of each page
is saved in the test's temporary folder. For every client page of both periods: no table is wider
than the page on a 1280 px screen, and printing on A4 portrait cuts no table (every cell's text
is in the PDF; needs pdftotext). Chromium is installed with apt-get when missing (as
root); where that is impossible, the tests are skipped with the reason.
"""

from __future__ import annotations

import base64
import re
import shutil
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import browser
import nbformat
import pytest
from client_readiness import client_pages, page_ids
from nbconvert.filters import markdown2html

from analysis_utils.report import HIDDEN_FROM_CLIENT
from analysis_utils.runner import COMPARISON, COMPARISON_NOTEBOOK, STAGE_NOTEBOOKS

pytestmark = pytest.mark.slow
PERIOD = "2024"
PAGES = [(PERIOD, Path(name).stem) for name in STAGE_NOTEBOOKS] + [
    (COMPARISON, Path(COMPARISON_NOTEBOOK).stem)
]
SAMPLE_PAGES = client_pages("params/clients/sample.yaml")  # both periods and the comparison
WIDE_TABLE = (
    "<table><tr>" + "".join(f"<td>column{i}_of_a_wide_table</td>" for i in range(40)) + "</tr></table>"
)
HEADING_LINE = re.compile(r"^(#{1,3})\s+(.*?)(?:\s+#+)?\s*$")
MIN_SCREENSHOT_BYTES = 20_000  # a blank 1280 x 2000 page is about 5 KB


def one_pixel_png() -> bytes:
    """A valid 1 x 1 PNG (one opaque RGB pixel), built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, 8 bits, RGB
    pixels = zlib.compress(b"\x00\x1f\x5f\x8b")  # filter byte, then one pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of chromium, installed from Debian's package when missing; skips when it cannot be."""
    try:
        return browser.ensure_chromium()
    except browser.ChromiumUnavailable as error:
        pytest.skip(f"no headless Chromium: {error}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _markdown_text(markdown: str) -> str:
    """The text a reader sees of inline markdown (emphasis, code, links rendered away)."""
    parser = _Text()
    parser.feed(markdown2html(markdown))
    return browser.normalise("".join(parser.parts))


def client_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells the client's copy keeps (the report drops those with a hidden tag)."""
    return [
        cell
        for cell in notebook.cells
        if not HIDDEN_FROM_CLIENT & set(cell.get("metadata", {}).get("tags", []))
    ]


def client_headings(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(level, text) of every ``#``, ``##`` and ``###`` line of the client's markdown cells."""
    headings = []
    for cell in client_cells(notebook):
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            elif not fenced and (match := HEADING_LINE.match(line)):
                headings.append((len(match.group(1)), _markdown_text(match.group(2))))
    return headings


def png_outputs(cells: list[nbformat.NotebookNode]) -> int:
    """Number of image/png outputs of the code cells."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def test_page_facts_reports_exactly_what_the_page_shows(chromium, tmp_path):
    """Self-check: one good and one broken image, two headings, one hidden heading."""
    page = tmp_path / "tiny.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>tiny</title></head><body>"
        '<h1>Tiny  report<a class="anchor-link" href="#t">\N{PILCROW SIGN}</a></h1>'
        f'<img alt="good" src="data:image/png;base64,{base64.b64encode(one_pixel_png()).decode()}">'
        "<h2>Second\n section</h2>"
        '<img alt="broken" src="missing.png">'
        '<h3 style="display:none">Hidden</h3>'
        "<table><tr><th>fits</th></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )
    assert browser.page_facts(page) == {
        "headings": [(1, "Tiny report"), (2, "Second section")],
        "images": 2,
        "broken": ["missing.png"],
        "wide_tables": [],
        "page_overflow": 0,
    }
    png = browser.screenshot(page, tmp_path / "tiny.png")
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("period", "stem"), PAGES, ids=[f"{period}/{stem}" for period, stem in PAGES])
def test_client_html_shows_every_heading_and_figure(chromium, sample_run, tmp_path, period, stem):
    run_dir = sample_run / period
    notebook = nbformat.read(run_dir / f"{stem}.ipynb", as_version=4)
    page = run_dir / f"{stem}.client.html"

    facts = browser.page_facts(page)

    expected = client_headings(notebook)
    assert expected, f"{stem}: the notebook has no client headings to look for"
    missing = [heading for heading in expected if heading not in facts["headings"]]
    assert not missing, f"{page.name}: headings not shown {missing}; shown {facts['headings']}"
    figures = png_outputs(client_cells(notebook))
    assert facts["images"] == figures, f"{page.name}: {facts['images']} images, {figures} figures"
    if png_outputs(notebook.cells):
        assert facts["images"] > 0, f"{page.name}: the notebook has figures, the client page none"
    assert not facts["broken"], f"{page.name}: broken images {facts['broken']}"

    png = browser.screenshot(page, tmp_path / f"{period}_{stem}.png")
    assert png.stat().st_size > MIN_SCREENSHOT_BYTES, f"{png}: {png.stat().st_size} bytes"


def test_a_table_wider_than_the_page_is_found_on_screen_and_in_print(chromium, tmp_path):
    """Self-check: a table of 40 long cells overflows a 1280 px window and an A4 page; a table in
    a scrolling box counts too; the narrow table does not."""
    page = tmp_path / "wide.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>wide</title></head><body style='max-width:60rem'>"
        f"<table><tr><th>narrow</th></tr></table>{WIDE_TABLE}<div style='overflow-x:auto'>{WIDE_TABLE}</div>"
        "</body></html>",
        encoding="utf-8",
    )
    wide = browser.page_facts(page)["wide_tables"]
    assert [header[:25] for header, _ in wide] == ["column0_of_a_wide_table c"] * 2
    assert all(pixels > 1000 for _, pixels in wide)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    clipped = browser.clipped_in_print(page, tmp_path / "wide.pdf")
    assert len(clipped) == 2 and "column39_of_a_wide_table" in clipped[0][1]


@pytest.mark.parametrize(("period", "stem"), SAMPLE_PAGES, ids=page_ids(SAMPLE_PAGES))
def test_client_tables_fit_a_laptop_screen(chromium, sample_run, period, stem):
    page = sample_run / period / f"{stem}.client.html"
    facts = browser.page_facts(page)
    assert not facts["wide_tables"], (
        f"{period}/{page.name}: tables wider than the page {facts['wide_tables']}"
    )
    assert not facts["page_overflow"], (
        f"{period}/{page.name}: scrolls sideways by {facts['page_overflow']} px"
    )


@pytest.mark.parametrize(("period", "stem"), SAMPLE_PAGES, ids=page_ids(SAMPLE_PAGES))
def test_client_tables_print_on_a4_without_clipping(chromium, sample_run, tmp_path, period, stem):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    page = sample_run / period / f"{stem}.client.html"
    clipped = browser.clipped_in_print(page, tmp_path / f"{period}_{stem}.pdf")
    assert not clipped, f"{period}/{page.name}: printing on {browser.PAPER} cuts " + "; ".join(
        f"table '{header}' (missing {missing[:5]})" for header, missing in clipped
    )
