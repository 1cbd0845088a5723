"""Every client page reads as a consultant's deliverable (tests/client_readiness.py): no printed
analyst output, no code names, file names or parameter names, no missing values or raw floats,
no statistics jargon, no scripts, and a description for every figure.

The check runs over every client page of a sample run (both periods and the period comparison)
and, when the UCI Online Retail log is in data/raw/, over every client page of that client too.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pytest
from client_readiness import client_pages, page_ids, page_problems, problems, summary, visible_text
from helpers import run_cli
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from analysis_utils import paths, plots, report

SAMPLE_PAGES = client_pages("params/clients/sample.yaml")
ONLINE_RETAIL = "params/clients/online_retail.yaml"
ONLINE_RETAIL_DATA = paths.RAW_DIR / "online_retail.csv.gz"
ONLINE_RETAIL_PAGES = client_pages(ONLINE_RETAIL)


def checks(page_html: str) -> list[str]:
    return sorted({problem.check for problem in problems(page_html)})


def page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><title>Report</title>{head}</head><body>{body}</body></html>"


def test_a_clean_page_has_no_problems():
    clean = page(
        "<h1>Segments</h1><p>The top 20% of customers bring 54.3% of the revenue, e.g. 1,234.50 GBP;"
        " None of the lapsed customers came back (i.e. all of them stayed away). Offer: None, or a call.</p>"
        "<table><tr><th>Segment</th><th>Share of customers</th></tr><tr><td>At Risk</td><td>15.3%</td></tr>"
        "<tr><td>Lost</td><td>-</td></tr></table>"
        '<img alt="Net revenue per month: net revenue (GBP) by month." src="data:image/png;base64,AA==">',
        head="<style>td.share_customers{color:red} .mean_recency_days{}</style>",
    )
    assert problems(clean) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<pre>lines_read: 541,909</pre>", ["code identifier", "raw dump"]),
        ("<div class='jp-RenderedText'><pre>orders: 13,020</pre></div>", ["raw dump"]),
        ("<script>var x = 1;</script><p>ok</p>", ["script"]),
        ("<table><tr><td>NaN</td></tr></table>", ["missing value"]),
        ("<table><tr><td>None</td></tr></table>", ["missing value"]),
        ("<p>the churn rate is nan this period</p>", ["missing value"]),
        ("<p>growth: inf</p>", ["missing value"]),
        ("<p>None.</p>", ["missing value"]),
        ("<p>alpha 0.123457 per week</p>", ["unformatted number"]),
        ("<p>p = 4.94e-20</p>", ["unformatted number"]),
        ("<th>share_customers</th>", ["code identifier"]),
        ("<p>set in data.columns.cost</p>", ["code identifier"]),
        ("<p>(prep.exclude_customers)</p>", ["code identifier"]),
        ("<p>as in rfm.n_bins</p>", ["code identifier"]),
        ("<p>saved as orders.parquet and clustering_model.joblib</p>", ["file name"]),
        ("<p>Input: transactions.csv</p>", ["file name"]),
        ("<p>see params/segments.yaml or 02_rfm.ipynb</p>", ["file name"]),
        ("<p>docs/methodology.md §7</p>", ["file name", "section sign"]),
        ("<p>k = 4 is the knee of the inertia curve</p>", ["jargon"]),
        ("<p>the silhouette peaks at 5; Calinski-Harabasz agrees</p>", ["jargon"]),
        ("<p>adjusted Rand index 0.99</p>", ["jargon"]),
        ("<p>first principal component</p>", ["jargon"]),
        ('<img alt="No description has been provided for this image" src="x.png">', ["alt text"]),
        ('<img src="x.png">', ["alt text"]),
        ('<img alt="" src="x.png">', ["alt text"]),
        ('<img alt="Customers by cluster_name" src="x.png">', ["code identifier"]),
    ],
)
def test_each_problem_is_found(body, expected):
    assert checks(page(body)) == expected


def test_visible_text_leaves_out_markup_styles_and_scripts():
    text = visible_text(
        page("<p>Revenue <b>up</b></p><script>var share_customers;</script>", "<style>.a_b{}</style>")
    )
    assert "Revenue" in text and "up" in text
    assert "share_customers" not in text and "a_b" not in text


def test_findings_quote_what_was_found():
    found = problems(page("<p>Input: transactions.csv</p>"))
    assert [str(p) for p in found] == ["file name: 'transactions.csv' in 'Report Input: transactions.csv'"]


def test_a_figure_is_described_by_its_titles_and_the_client_page_shows_it(tmp_path):
    """plots.figure_description reads the figure; the report writes the description of an image
    output (metadata ``alt``, set by plots.set_theme in a notebook) as the image's alt text."""
    figure, ax = plt.subplots()
    ax.bar(["2024-01", "2024-02"], [10.0, 12.0])
    ax.set(title="Net revenue per month", xlabel="month", ylabel="net revenue (GBP)")
    description = plots.figure_description(figure)
    assert description == "Net revenue per month: net revenue (GBP) by month."
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    png = base64.b64encode(buffer.getvalue()).decode()
    described = new_output(
        "display_data", data={"image/png": png}, metadata={"image/png": {"alt": description}}
    )
    undescribed = new_output("display_data", data={"image/png": png})
    notebook = new_notebook(
        cells=[new_markdown_cell("# Report"), new_code_cell("", outputs=[described, undescribed])]
    )
    path = tmp_path / "figures.ipynb"
    nbformat.write(notebook, path)
    client = report.render_notebook(path, "client")
    assert f'alt="{description}"' in client
    assert [(p.check, p.text) for p in problems(client)] == [
        ("alt text", "image 2 has no description ('No description has been provided for this image')")
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("period", "stem"), SAMPLE_PAGES, ids=page_ids(SAMPLE_PAGES))
def test_sample_client_pages_are_ready_to_send(sample_run, period, stem):
    path = sample_run / period / f"{stem}.client.html"
    found = page_problems(path)
    assert not found, f"{period}/{path.name}: {len(found)} problems\n{summary(found)}"


@pytest.fixture(scope="module")
def online_retail_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UCI Online Retail client, run once (a few minutes); skips when the log is absent."""
    if not ONLINE_RETAIL_DATA.is_file():
        pytest.skip(
            f"{ONLINE_RETAIL_DATA.relative_to(paths.PROJECT_ROOT)} is absent (see data/raw/README.md)"
        )
    out = tmp_path_factory.mktemp("online_retail_reports")
    result = run_cli("run", ONLINE_RETAIL, "--out", str(out), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return next(path for path in out.iterdir() if path.is_dir())


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize(("period", "stem"), ONLINE_RETAIL_PAGES, ids=page_ids(ONLINE_RETAIL_PAGES))
def test_online_retail_client_pages_are_ready_to_send(online_retail_run, period, stem):
    path = online_retail_run / period / f"{stem}.client.html"
    found = page_problems(path)
    assert not found, f"{period}/{path.name}: {len(found)} problems\n{summary(found)}"
