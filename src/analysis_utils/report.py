"""HTML reports: each executed notebook rendered twice, and the index pages that link them.

- ``<stage>.client.html``: for the client. No code, no prompts, no parameter or analyst-only
  cells, no warnings, no scripts; figures embedded so the single file can be e-mailed, each with
  its description as alternative text. tests/client_readiness.py checks what it must not show.
- ``<stage>.analyst.html``: everything, code included.
Rendering is in-process (nbconvert's command line costs about a second per file).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bleach
import markupsafe
import nbformat
import yaml
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
from traitlets.config import Config

from analysis_utils import paths
from analysis_utils.config import RunParams

AUDIENCES = ("client", "analyst")
HIDDEN_FROM_CLIENT = {"parameters", "injected-parameters", "analyst-only"}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1d2b36;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d5dde3}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.3rem .8rem;border-bottom:1px solid #e3e8ec;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#5b6b78}
a{color:#1f5f8b}
"""


# Both versions: the headline cards of the client report (executive.headline_cards).
REPORT_CSS = """
.kpi-cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(10.5rem,1fr));gap:.8rem;margin:.8rem 0}
.kpi-card{border:1px solid #d5dde3;border-radius:6px;padding:.7rem .9rem;background:#f7fafc}
.kpi-label{font-size:.85rem;color:#5b6b78}.kpi-value{font-size:1.5rem;font-weight:600;color:#1d2b36}
.kpi-change{font-size:.85rem;color:#1f5f8b}
.kpi-note{font-size:.78rem;color:#8a4b08;margin-top:.2rem}
dl.glossary{margin:.5rem 0}dl.glossary dt{font-weight:600;margin-top:.5rem}
dl.glossary dd{margin:.1rem 0 0 1.2rem}
"""
# The client's version: a readable column on a laptop, a table of contents, and print rules.
# Tables size their columns to their content (nbconvert's fixed layout squeezes long text into
# equal columns) and stay within the page on a 1280 px screen and on A4 portrait; a table of text
# (offers, campaigns) takes the class text-table (Styler.set_table_attributes) to read left-aligned.
CLIENT_CSS = """
body.jp-Notebook{max-width:68rem;margin:0 auto;padding:1rem 1.5rem}
nav.report-toc{border:1px solid #d5dde3;border-radius:6px;padding:.5rem 1rem;margin:1rem 0;background:#fbfcfd}
nav.report-toc ol{margin:.3rem 0;padding-left:1.4rem}nav.report-toc a{color:#1f5f8b;text-decoration:none}
.jp-OutputArea-output img{max-width:100%;height:auto}
.jp-OutputArea-output{max-width:100%}
.jp-RenderedHTMLCommon table{table-layout:auto;max-width:100%;font-size:.8rem;margin:.3rem 0 1rem 0}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{padding:.3em .5em;overflow-wrap:break-word;
font-variant-numeric:tabular-nums}
.jp-RenderedHTMLCommon thead th{vertical-align:bottom}
.jp-RenderedHTMLCommon :is(td,th):first-child,.jp-RenderedHTMLCommon th.row_heading{text-align:left}
.jp-RenderedHTMLCommon tbody :is(td,th):first-child{min-width:6em}
.jp-RenderedHTMLCommon table.text-table :is(td,th){text-align:left}
.jp-RenderedHTMLCommon table.text-table td{min-width:8em}
header.report-brand{display:flex;align-items:center;gap:1rem;border-bottom:1px solid #d5dde3;
font-family:var(--jp-ui-font-family,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif);
padding:.4rem 0 .6rem 0;margin:0 0 .5rem 0;color:#1d2b36}
header.report-brand img{max-height:3.5rem;max-width:12rem;width:auto;height:auto}
header.report-brand .brand-client{font-size:1.1rem;font-weight:600}
header.report-brand .brand-meta{font-size:.85rem;color:#5b6b78}
@media print{
  @page{margin:12mm}
  body.jp-Notebook{max-width:none;padding:0;font-size:10.5pt}
  a.anchor-link{display:none}
  nav.report-toc{display:none}
  h2{break-before:auto;break-after:avoid}
  .jp-OutputArea-output img,.kpi-cards,.kpi-card{break-inside:avoid}
  .jp-OutputArea-output img{max-height:23cm}
  .jp-RenderedHTMLCommon table{font-size:7.5pt;break-inside:auto}
  .jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{padding:.2em .35em}
  .jp-RenderedHTMLCommon table.text-table td{min-width:6em}
  .jp-RenderedHTMLCommon tr{break-inside:avoid}
  .jp-RenderedHTMLCommon thead{display:table-header-group}
}
"""
# nbconvert's lab template writes no alternative text, so nbconvert gives every image the
# placeholder "No description has been provided for this image". These templates take it from
# the image output's metadata ``alt`` (plots.set_theme makes every figure carry one); the
# client's also leaves out the scripts (MathJax, Mermaid, require.js) a report does not need.
ALT_TEXT_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block data_png scoped %}{{ super() | with_alt(output | get_metadata('alt', 'image/png')) }}
{%- endblock data_png %}
{% block data_jpg scoped %}{{ super() | with_alt(output | get_metadata('alt', 'image/jpeg')) }}
{%- endblock data_jpg %}
"""
TEMPLATES = {
    "analyst": ("crm_workbook_analyst.html.j2", ALT_TEXT_TEMPLATE),
    "client": (
        "crm_workbook_client.html.j2",
        ALT_TEXT_TEMPLATE
        + "{% block html_head_js %}{% endblock html_head_js %}"
        + "{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}"
        + "{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}"
        + "{% block jupyter_widgets %}{% endblock jupyter_widgets %}",
    ),
}
EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>")
SECTION_HEADING = re.compile(r"<h2 id=\"([^\"]+)\">(.*?)<a class=\"anchor-link\"", re.S)


def with_alt(image_html: str, alt: str | None) -> markupsafe.Markup:
    """The template's ``<img ...>`` with ``alt`` as its alternative text (unchanged without one)."""
    if alt:
        image_html = image_html.replace("<img ", f'<img alt="{html.escape(str(alt))}" ', 1)
    return markupsafe.Markup(image_html)


SAFE_TAGS = frozenset(
    [
        "a",
        "b",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "dd",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "i",
        "img",
        "li",
        "nav",
        "ol",
        "p",
        "small",
        "span",
        "strong",
        "style",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)
SAFE_ATTRIBUTES = {
    "*": ["class", "id", "title", "colspan", "rowspan", "aria-label"],
    "a": ["href"],
    "img": ["src", "alt"],
}
UNSAFE_URL = re.compile(r"javascript\s*:", re.I)


@functools.cache
def _cleaner() -> bleach.sanitizer.Cleaner:
    return bleach.sanitizer.Cleaner(
        tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, protocols={"http", "https", "data", "mailto"}, strip=False
    )


def inert_html(markup: str) -> str:
    """HTML output of a cell with anything that could run removed: tags outside :data:`SAFE_TAGS`
    (script, iframe, object, form, ...) are escaped into text, event-handler attributes (onerror,
    onclick, ...) and javascript: links dropped. Tables, their styles and the report's cards pass."""
    return _cleaner().clean(markup)


def inert_markdown(text: str) -> str:
    """Markdown output of a cell (sentences generated from client data) with no markup: every "<"
    is escaped, so a value such as ``<img onerror=...>`` reads as text, and javascript: links are
    defused. The report's own Markdown uses ``**bold**`` and lists, never raw HTML."""
    return UNSAFE_URL.sub("javascript&#58;", text.replace("<", "&lt;"))


def make_inert(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` (changed in place) with no value from a client file or parameters left to become
    live markup or script (:func:`inert_html`, :func:`inert_markdown`), whatever it displayed. Every
    page goes through it before either audience's exporter."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            if "text/html" in data:
                data["text/html"] = inert_html("".join(data["text/html"]))
            if "text/markdown" in data:
                data["text/markdown"] = inert_markdown("".join(data["text/markdown"]))
    return notebook


class DropStderr(Preprocessor):
    """Remove stderr streams (library warnings) from the client's version."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        return cell, resources


@functools.cache
def _exporter(audience: str) -> HTMLExporter:
    """One configured exporter per audience and process (building one costs ~0.3 s)."""
    config = Config()
    if audience == "client":
        config.HTMLExporter.exclude_input = True
        config.HTMLExporter.exclude_input_prompt = True
        config.HTMLExporter.exclude_output_prompt = True
        config.TagRemovePreprocessor.remove_cell_tags = HIDDEN_FROM_CLIENT
        config.TagRemovePreprocessor.enabled = True
    template_file, template = TEMPLATES[audience]
    exporter = HTMLExporter(
        config=config, extra_loaders=[DictLoader({template_file: template})], template_file=template_file
    )
    exporter.register_filter("with_alt", with_alt)
    if audience == "client":
        exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
        exporter.register_preprocessor(DropStderr(), enabled=True)
    return exporter


def render_notebook(notebook_path: Path, audience: str, branding: Branding | None = None) -> str:
    """HTML of an executed notebook for ``audience`` ("client" or "analyst"), its outputs made
    inert (:func:`make_inert`).

    The client's version opens with the branding header (:func:`brand_header`): ``branding``, else
    what the run's ``params.yaml`` beside the notebook says (:func:`run_branding`), else none.
    """
    notebook = make_inert(nbformat.read(notebook_path, as_version=4))
    return _page(notebook, notebook_path, audience, branding)


def _page(
    notebook: nbformat.NotebookNode, notebook_path: Path, audience: str, branding: Branding | None
) -> str:
    """HTML of an inert ``notebook`` read from ``notebook_path`` (the exporter works on a copy)."""
    title = notebook_path.stem.replace("_", " ")
    body, _ = _exporter(audience).from_notebook_node(notebook, resources={"metadata": {"name": title}})
    styles = REPORT_CSS + (CLIENT_CSS if audience == "client" else "")
    body = body.replace("</head>", f"<style>{styles}</style>\n</head>", 1)
    if audience != "client":
        return body
    if branding is None:
        branding = run_branding(notebook_path.parent, _notebook_period(notebook))
    return client_page(body, branding)


def client_page(body: str, branding: Branding | None = None) -> str:
    """The client's page: no scripts from the web (the file is read offline, and has no LaTeX),
    the branding header first (when ``branding`` is given), and a table of contents of its
    sections after the title."""
    body = EXTERNAL_SCRIPT.sub("", body)
    if branding is not None:
        body = _with_header(body, brand_header(branding))
    sections = SECTION_HEADING.findall(body)
    if not sections:
        return body
    items = "".join(f"<li><a href='#{anchor}'>{text.strip()}</a></li>" for anchor, text in sections)
    toc = f"<nav class='report-toc' aria-label='Contents'><strong>Contents</strong><ol>{items}</ol></nav>"
    title_end = body.find("</h1>")
    at = title_end + len("</h1>") if title_end >= 0 else body.find("<body")
    if title_end < 0:
        at = body.index(">", at) + 1
    return body[:at] + toc + body[at:]


# --------------------------------------------------------------------------- branding

LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Branding:
    """The header of every client page: who the report is for, who prepared it, its date, a logo."""

    client: str
    prepared_by: str = ""
    report_date: dt.date | None = None  # the period's as_of (never the wall clock: reruns stay identical)
    logo: Path | None = None  # PNG, JPEG or SVG file, embedded as a data: URI


def logo_uri(path: Path) -> str:
    """The image file as a ``data:`` URI (the page stays one self-contained file)."""
    kind = LOGO_TYPES[Path(path).suffix.lower()]
    return f"data:{kind};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def long_date(day: dt.date) -> str:
    """``31 December 2023``: English month names, whatever the machine's locale."""
    months = (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    )  # fmt: skip
    return f"{day.day} {months[day.month - 1]} {day.year}"


def brand_header(branding: Branding) -> str:
    """The header block: logo (with alternative text), client name, "Prepared by ...", report date.
    Every value is escaped: a client or firm name is text, never markup."""
    parts = []
    if branding.logo is not None:
        owner = branding.prepared_by or branding.client
        alt = html.escape(f"Logo of {owner}" if owner else "Logo")
        parts.append(f'<img src="{logo_uri(branding.logo)}" alt="{alt}">')
    meta = []
    if branding.prepared_by:
        meta.append(f"Prepared by {html.escape(branding.prepared_by)}")
    if branding.report_date is not None:
        meta.append(f"Report date: {html.escape(long_date(branding.report_date))}")
    text = f'<div class="brand-client">{html.escape(branding.client)}</div>' if branding.client else ""
    if meta:
        text += f'<div class="brand-meta">{" &middot; ".join(meta)}</div>'
    parts.append(f"<div>{text}</div>")
    return f'<header class="report-brand">{"".join(parts)}</header>'


def run_branding(run_dir: Path, period: str | None) -> Branding | None:
    """The branding of a run from its ``params.yaml`` (None without one): the client's name,
    ``report.prepared_by``, ``report.logo`` (relative to the project root) and the as_of date of
    ``period`` (of the latest period when ``period`` is None or not declared, as for the comparison)."""
    source = Path(run_dir) / "params.yaml"
    if not source.is_file():
        return None
    values = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    params = RunParams(client=Path(run_dir).parent.name, source=source, values=values)
    settings = values.get("report") or {}
    periods = params.periods if values.get("periods") else []
    chosen = [p for p in periods if p.name == period] or sorted(periods, key=lambda p: p.as_of)[-1:]
    logo = settings.get("logo") or ""
    return Branding(
        client=str((values.get("client") or {}).get("name") or ""),
        prepared_by=str(settings.get("prepared_by") or ""),
        report_date=chosen[0].as_of.date() if chosen else None,
        logo=paths.resolve(logo) if logo else None,
    )


def _notebook_period(notebook: nbformat.NotebookNode) -> str | None:
    """The period a run notebook was executed for (papermill records its parameters)."""
    parameters = notebook.get("metadata", {}).get("papermill", {}).get("parameters", {}) or {}
    period = parameters.get("period")
    return str(period) if period is not None else None


def _with_header(body: str, header: str) -> str:
    """``header`` first in the page's content (after ``<main>``, else after ``<body ...>``)."""
    at = body.find("<main>")
    if at >= 0:
        at += len("<main>")
    else:
        start = body.find("<body")
        if start < 0:
            return header + body
        at = body.index(">", start) + 1
    return body[:at] + header + body[at:]


def render_stage(run_dir: Path, notebook: str) -> list[Path]:
    """Write ``<stage>.client.html`` and ``<stage>.analyst.html`` of the executed ``notebook`` of a
    run (read and made inert once for both)."""
    notebook_path = run_dir / notebook
    inert = make_inert(nbformat.read(notebook_path, as_version=4))
    written = []
    for audience, name in zip(AUDIENCES, page_names(notebook), strict=True):
        target = run_dir / name
        target.write_text(_page(inert, notebook_path, audience, None), encoding="utf-8")
        written.append(target)
    return written


def page_names(notebook: str) -> list[str]:
    """The pages :func:`render_stage` writes for ``notebook``, one per audience."""
    return [f"{Path(notebook).stem}.{audience}.html" for audience in AUDIENCES]


def branding_fingerprint(run_dir: Path, period: str | None) -> dict[str, Any] | None:
    """What a run's client pages take from its parameters besides their notebook: the branding of
    :func:`run_branding`, the logo as the SHA-256 of its bytes (None: no params.yaml)."""
    branding = run_branding(run_dir, period)
    if branding is None:
        return None
    logo = branding.logo
    return {
        "client": branding.client,
        "prepared_by": branding.prepared_by,
        "report_date": None if branding.report_date is None else branding.report_date.isoformat(),
        "logo": hashlib.sha256(logo.read_bytes()).hexdigest() if logo and logo.is_file() else None,
    }


def write_run_index(run_dir: Path) -> Path:
    """``index.html`` of one run: the reports, the data artifacts, the manifest."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    period = manifest["period"]
    window = f"{period['window_days']} days" if period.get("window_days") else "all history"
    when = (
        f"as_of {period['as_of'][:10]} (exclusive), window {window}" if "as_of" in period else "all periods"
    )
    quality = manifest.get("data_quality", {})
    facts = [
        ("lines read", quality.get("input")),
        ("orders kept", quality.get("orders")),
        ("customers", quality.get("customers")),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=n>{value:,}</td></tr>" for name, value in facts if value
    )
    reports = "".join(
        f"<tr><td>{html.escape(nb.stem.replace('_', ' '))}</td>"
        f"<td><a href='{nb.stem}.client.html'>client report</a></td>"
        f"<td><a href='{nb.stem}.analyst.html'>analyst version (with code)</a></td>"
        f"<td><a href='{nb.name}'>notebook</a></td></tr>"
        for nb in sorted(run_dir.glob("*.ipynb"))
    )
    artifacts = "".join(
        f"<tr><td><a href='{html.escape(name)}'>{html.escape(name)}</a></td>"
        f"<td class=n>{info['rows']:,} rows</td></tr>"
        for name, info in manifest["artifacts"].items()
    )
    reused_names = [  # copied from the period's earlier run, whose keys were the same
        html.escape(name) for name, run in manifest.get("stages", {}).items() if run["status"] == "reused"
    ]
    if manifest.get("exports_run", {}).get("status") == "reused":
        reused_names.append("the customer lists")
    reused = ""
    if reused_names:
        listed = ", ".join(reused_names)
        reused = f"<p class=muted>Reused from the earlier run (same inputs, parameters, code): {listed}.</p>"
    body = (
        f"<h1>{html.escape(manifest['params']['client']['name'])}: period {html.escape(period['name'])}</h1>"
        f"<p class=muted>{html.escape(when)};"
        f" generated {html.escape(manifest['created_at'])}</p>"
        f"<table>{rows}</table>{reused}<h2>Reports</h2><table>{reports}</table>"
        f"<h2>Data</h2><table>{artifacts}</table>"
        f"{_exports_section(run_dir)}"
        f"<p><a href='manifest.json'>manifest.json</a> (parameters, input hash, versions, timings) &middot; "
        f"<a href='params.yaml'>params.yaml</a></p>"
    )
    return _write_page(run_dir / "index.html", f"{manifest['client']} {period['name']}", body)


def _exports_section(run_dir: Path) -> str:
    """The run's customer lists (exports/, raw ids): linked from this analyst index, never a client page."""
    folder = run_dir / "exports"
    if not folder.is_dir():
        return ""
    files = sorted(folder.glob("*.csv"), key=lambda p: (p.name != "customers.csv", p.name))
    links = "".join(
        f"<li><a href='exports/{html.escape(p.name)}'>{html.escape(p.name)}</a></li>"
        for p in [folder / "customers.xlsx", *files, folder / "README.txt"]
        if p.is_file()
    )
    return (
        "<h2>Customer lists (confidential: raw ids)</h2>"
        "<p><strong>Warning:</strong> these files hold the client's raw customer ids and the key from"
        " report pseudonyms to ids. Hand them only to the client's CRM team, never with the client"
        f" report.</p><ul>{links}</ul>"
    )


def published_runs(client_dir: Path) -> list[Path]:
    """Run folders of a client that were published (staging and failed runs are hidden)."""
    if not client_dir.is_dir():
        return []
    return sorted(
        p for p in client_dir.iterdir() if not p.name.startswith(".") and (p / "manifest.json").is_file()
    )


def write_client_index(client_dir: Path) -> Path | None:
    """``index.html`` of a client: every published period with links to its reports (None: none yet)."""
    runs = published_runs(client_dir)
    if not runs:
        return None
    rows = []
    for run_dir in runs:
        for number, notebook in enumerate(sorted(run_dir.glob("*.ipynb"))):
            period = (
                f"<a href='{run_dir.name}/index.html'>{html.escape(run_dir.name)}</a>" if not number else ""
            )
            stem = f"{run_dir.name}/{notebook.stem}"
            rows.append(
                f"<tr><td>{period}</td><td>{html.escape(notebook.stem.replace('_', ' '))}</td>"
                f"<td><a href='{stem}.client.html'>client</a></td>"
                f"<td><a href='{stem}.analyst.html'>analyst (with code)</a></td></tr>"
            )
    body = (
        f"<h1>{html.escape(client_dir.name)}</h1>"
        f"<p class=muted>updated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC</p>"
        "<table><tr><th>period</th><th>report</th><th colspan=2>versions</th></tr>"
        f"{''.join(rows)}</table>"
    )
    return _write_page(client_dir / "index.html", client_dir.name, body)


def _write_page(path: Path, title: str, body: str) -> Path:
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return path
