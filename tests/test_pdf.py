"""``crm-workbook pdf``: the client report printed on A4 beside its HTML page (headless Chromium)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from browser import _squeezed, normalise, table_cells

from analysis_utils import cli, pdf, report, runner

HEADLINE_LABELS = ("Customers", "Revenue", "Revenue from the top", "Churn rate", "Revenue at risk")


def text_of(pdf_path: Path, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    result = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", *pages, str(pdf_path), "-"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.fixture
def published(sample_run: Path, tmp_path: Path) -> Path:
    """A reports folder holding the sample's 2023 client page, rendered now from the notebook of the
    session's sample run (tests/conftest.py)."""
    source = sample_run / "2023"
    run = tmp_path / "reports" / "sample" / "2023"
    run.mkdir(parents=True)
    shutil.copy(source / "params.yaml", run)
    shutil.copy(source / "09_client_report.ipynb", run)
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    page = report.render_notebook(run / "09_client_report.ipynb", "client")
    (run / pdf.CLIENT_REPORT).write_text(page, encoding="utf-8")
    return tmp_path / "reports"


def test_pdf_command_prints_the_client_report_on_a4(published, capsys):
    try:
        pdf.find_browser()
    except pdf.BrowserUnavailable as err:
        pytest.skip(str(err))
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    code = cli.main(["pdf", "params/clients/sample.yaml", "--period", "2023", "--out", str(published)])
    run = published / "sample" / "2023"
    target = run / pdf.PDF_NAME
    assert code == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert target.read_bytes().startswith(b"%PDF")
    first_page = " ".join(text_of(target, 1, 1).split())
    for label in HEADLINE_LABELS:
        assert label in first_page, label
    assert "Sample Retail Ltd" in first_page  # the branding header
    whole = text_of(target)
    pages = whole.count("\f")
    assert 5 <= pages <= 30, pages
    printed = _squeezed(whole)
    clipped = [
        normalise(" ".join(cells[:6]))[:80]
        for cells in table_cells((run / pdf.CLIENT_REPORT).read_text(encoding="utf-8"))
        if any(_squeezed(cell) and _squeezed(cell) not in printed for cell in cells)
    ]
    assert not clipped, clipped
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["params.yaml", "09_client_report.ipynb", "manifest.json", pdf.CLIENT_REPORT, pdf.PDF_NAME]
    )  # nothing but the PDF is written beside the report


def test_pdf_without_a_browser_is_one_line_and_exit_1(published, capsys, monkeypatch):
    monkeypatch.delenv(pdf.BROWSER_VARIABLE, raising=False)
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    code = cli.main(["pdf", "params/clients/sample.yaml", "--out", str(published)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: printing the PDF needs headless Chromium or Chrome")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (published / "sample" / "2023" / pdf.PDF_NAME).exists()


def test_pdf_of_an_unpublished_period_is_one_line(published, capsys):
    code = cli.main(["pdf", "params/clients/sample.yaml", "--period", "1999", "--out", str(published)])
    err = capsys.readouterr().err
    assert code == 1
    assert "no published client report of sample for period 1999" in err and err.count("\n") == 1


def test_runner_prints_the_pdf_only_when_report_pdf_is_set(published):
    run = published / "sample" / "2023"
    assert not runner._wants_pdf(run)  # default false
    values = yaml.safe_load((run / "params.yaml").read_text(encoding="utf-8"))
    values["report"]["pdf"] = True
    (run / "params.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    assert runner._wants_pdf(run)
    (run / pdf.CLIENT_REPORT).unlink()
    assert not runner._wants_pdf(run)  # nothing to print (the comparison run)
