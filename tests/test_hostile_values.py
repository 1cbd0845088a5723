"""No value from a client file or parameters becomes live markup in a report page: hostile values
rendered through the report's own functions and pages, loaded in headless Chromium (issue:
an e-mailed report must never run a script)."""

from __future__ import annotations

import re

import nbformat
import pytest
from browser import ChromiumUnavailable, ensure_chromium, payload, payloads_that_ran
from nbclient import NotebookClient

from analysis_utils import report

pytestmark = pytest.mark.slow

CELLS = [
    # the house table: segment, offer and campaign texts come from the client's playbook
    """executive.labelled(pd.DataFrame({"segment": [P["script"], P["image"]], "customers": [1200, 3],
    "offer": [P["link"], "ok"], "campaign": [P["image"], P["script"]]}), P["script"])""",
    # a generated sentence with a segment name and a campaign text
    """display(Markdown(executive.segment_sentences(pd.DataFrame({"segment": [P["image"], "b"],
    "customers": [5, 9], "share_customers": [0.3, 0.7], "share_revenue": [0.6, 0.4]}),
    pd.DataFrame({"campaign": [P["script"]]}, index=[P["image"]]))))""",
    # the cards, with a hostile currency and period name
    """display(HTML(executive.headline_cards(executive.headline_table({"customers": 1,
    "revenue": 2.0, "top_revenue_share": 0.5, "churn_rate": 0.1, "revenue_at_risk": 1.0}, None),
    P["image"], P["script"], 0.2)))""",
    # raw markup a future notebook might display without escaping: the pages still neutralise it
    """display(HTML(P["script"] + P["image"]))""",
    """display(Markdown(P["image"] + " " + P["link"] + " " + P["script"]))""",
]


@pytest.fixture(scope="module")
def hostile_notebook(tmp_path_factory) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    setup = (
        "import pandas as pd\nfrom IPython.display import HTML, Markdown, display\n"
        f"from analysis_utils import executive\nP = {payload('hostile')!r}"
    )
    notebook.cells = [nbformat.v4.new_markdown_cell("# Hostile values"), nbformat.v4.new_code_cell(setup)]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(notebook, kernel_name="python3").execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "hostile.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("audience", report.AUDIENCES)
def test_no_hostile_value_runs_in_a_report_page(hostile_notebook, audience):
    try:
        ensure_chromium()
    except ChromiumUnavailable as reason:
        pytest.skip(str(reason))
    page = hostile_notebook.with_name(f"hostile.{audience}.html")
    page.write_text(report.render_notebook(hostile_notebook, audience), encoding="utf-8")
    assert payloads_that_ran(page) == []
    text = page.read_text(encoding="utf-8")
    assert "Garden &lt;script&gt;" in text  # shown as text
    assert not re.search(r"<[a-z][^<>]*\bonerror=", text) and "<script>document" not in text


def test_the_payloads_do_run_in_a_page_that_does_not_escape(tmp_path):
    """The check can fail: the same values in an unescaped page set the marker."""
    try:
        ensure_chromium()
    except ChromiumUnavailable as reason:
        pytest.skip(str(reason))
    values = payload("raw")
    page = tmp_path / "raw.html"
    page.write_text(f"<html><body>{values['script']}{values['image']}</body></html>", encoding="utf-8")
    assert payloads_that_ran(page) == ["raw"]
