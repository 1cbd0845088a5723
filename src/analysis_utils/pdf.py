"""The client report as a PDF: ``09_client_report.pdf`` beside ``09_client_report.client.html``.

Printed by a headless Chromium (or Chrome) from its command line, on A4 portrait paper, with the
page's own print rules and without the browser's header and footer (date, file path, page numbers).
The browser fetches nothing: the page embeds its figures, and every host name fails to resolve.
``crm-workbook pdf`` prints published runs; ``report.pdf: true`` makes every period run print its
report after rendering (a run without a browser then fails with one line).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from analysis_utils.errors import CrmError, DataError

CLIENT_REPORT = "09_client_report.client.html"
PDF_NAME = "09_client_report.pdf"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_VARIABLE = "CRM_WORKBOOK_BROWSER"  # path of the browser to use, when not on the PATH
TIMEOUT = 180  # seconds for one page
PAGE_STYLE = "<style>@page{size:A4 portrait}</style>"
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
"""Headless Chromium that fetches nothing: no background, update or sync traffic, no host resolves."""
FLAGS = (*OFFLINE_FLAGS, "--virtual-time-budget=5000", "--no-pdf-header-footer")


class BrowserUnavailable(CrmError):
    """No headless Chromium or Chrome to print with (exit code 1)."""

    exit_code = 1


def find_browser() -> str:
    """Path of the browser: ``CRM_WORKBOOK_BROWSER`` when set, else the first of :data:`BROWSERS`
    on the PATH. BrowserUnavailable (one line) when there is none."""
    chosen = os.environ.get(BROWSER_VARIABLE, "").strip()
    if chosen:
        found = shutil.which(chosen)
        if not found:
            raise BrowserUnavailable(f"{BROWSER_VARIABLE}={chosen} is not an executable browser")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(
        "printing the PDF needs headless Chromium or Chrome, and none is installed"
        " (Debian/Ubuntu: apt-get install chromium)"
    )


def print_pdf(html_path: Path, pdf_path: Path | None = None, browser: str | None = None) -> Path:
    """Print ``html_path`` to ``pdf_path`` (default: :data:`PDF_NAME` beside it) on A4; the PDF's path.

    The page is printed from a temporary copy that only adds the paper size and a base address (so
    nothing is written beside the report but the PDF). DataError (one line) when the browser fails.
    """
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path).resolve() if pdf_path else html_path.with_name(PDF_NAME)
    if not html_path.is_file():
        raise DataError(f"no client report to print: {html_path} is missing")
    browser = browser or find_browser()
    page = html_path.read_text(encoding="utf-8")
    base = f'<base href="{html.escape(html_path.parent.as_uri())}/">'
    page, found = re.subn(r"</head>", lambda m: base + PAGE_STYLE + m.group(0), page, count=1, flags=re.I)
    if not found:
        page = base + PAGE_STYLE + page
    with tempfile.TemporaryDirectory(prefix="crm-workbook-pdf-") as folder:
        copy = Path(folder) / html_path.name
        copy.write_text(page, encoding="utf-8")
        partial = Path(folder) / "report.pdf"
        command = [browser, *FLAGS, f"--user-data-dir={Path(folder) / 'profile'}",
                   f"--print-to-pdf={partial}", copy.as_uri()]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DataError(f"printing {html_path.name} took over {TIMEOUT} s; no PDF written") from None
        except OSError as err:
            raise BrowserUnavailable(f"cannot start {browser}: {err.strerror or err}") from None
        if result.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
            raise DataError(f"the browser could not print {html_path.name}: {last[:200]}")
        shutil.move(str(partial), pdf_path)
    return pdf_path
