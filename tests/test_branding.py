"""Branding: the client name, "Prepared by ...", the report date and a logo on every client page
(escaped, the logo embedded) and on the workbook's Report sheet; report.logo validated."""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import struct
import zlib

import openpyxl
import pytest
import yaml
from client_readiness import problems, summary
from test_exports import runs  # noqa: F401  (fixture: a client folder with two published periods)

from analysis_utils import exports, report
from analysis_utils.errors import ConfigError

HOSTILE_FIRM = 'Smith & "Partners" <b>Ltd</b>'
HOSTILE_CLIENT = "Acme <script>alert(1)</script> & Co"


def unnumbered(found: list) -> list[tuple[str, str]]:
    """Findings without the images' numbers (the logo is image 1: the report's figures move down one)."""
    return [(f.check, re.sub(r"image \d+", "image", f.text)) for f in found]


def png_bytes() -> bytes:
    """A valid 1 x 1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x1f\x5f\x8b"))
        + chunk(b"IEND", b"")
    )


def test_header_escapes_every_value_and_embeds_the_logo(tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png_bytes())
    header = report.brand_header(report.Branding(HOSTILE_CLIENT, HOSTILE_FIRM, dt.date(2024, 1, 1), logo))
    assert "<script>" not in header and "<b>" not in header
    assert "Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in header
    assert "Prepared by Smith &amp; &quot;Partners&quot; &lt;b&gt;Ltd&lt;/b&gt;" in header
    assert "Report date: 1 January 2024" in header
    assert f'src="data:image/png;base64,{base64.b64encode(png_bytes()).decode()}"' in header
    assert 'alt="Logo of Smith &amp; &quot;Partners&quot; &lt;b&gt;Ltd&lt;/b&gt;"' in header


def test_header_without_prepared_by_or_logo_shows_the_client_and_date():
    header = report.brand_header(report.Branding("Acme", "", dt.date(2023, 12, 31)))
    assert "Acme" in header and "Report date: 31 December 2023" in header
    assert "Prepared by" not in header and "<img" not in header


@pytest.fixture
def branded_run(tmp_path, sample_run):
    """The 2023 client report notebook of the session's sample run, with a hostile firm name and a logo."""
    published = sample_run / "2023"
    run = tmp_path / "sample" / "2023"
    run.mkdir(parents=True)
    shutil.copy(published / "09_client_report.ipynb", run)
    logo = tmp_path / "logo.png"
    logo.write_bytes(png_bytes())
    values = yaml.safe_load((published / "params.yaml").read_text(encoding="utf-8"))
    values["client"]["name"] = HOSTILE_CLIENT
    values["report"] = {**values.get("report", {}), "prepared_by": HOSTILE_FIRM, "logo": str(logo)}
    (run / "params.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    return run


def test_client_page_opens_with_the_header_and_stays_ready_to_send(branded_run):
    page = report.render_notebook(branded_run / "09_client_report.ipynb", "client")
    header_at, title_at = page.find('<header class="report-brand">'), page.find("<h1")
    assert 0 <= header_at < title_at  # first screen: before the report's title
    header = page[header_at : page.index("</header>", header_at)]
    assert "Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in header
    assert "Prepared by Smith &amp; &quot;Partners&quot; &lt;b&gt;Ltd&lt;/b&gt;" in header
    as_of = yaml.safe_load((branded_run / "params.yaml").read_text())["periods"]
    day = next(dt.datetime.fromisoformat(str(p["as_of"])) for p in as_of if p["name"] == "2023").date()
    assert f"Report date: {report.long_date(day)}" in header
    assert "data:image/png;base64," in header and "logo.png" not in page
    found = problems(f"<html><body>{header}</header></body></html>")
    assert not found, summary(found)
    # the header adds nothing a client should not see (the saved notebook may predate other fixes)
    without = page[:header_at] + page[page.index("</header>", header_at) + len("</header>") :]
    assert unnumbered(problems(page)) == unnumbered(problems(without))
    # the date is the period's, not the clock's: a second rendering gives the same bytes
    assert report.render_notebook(branded_run / "09_client_report.ipynb", "client") == page
    analyst = report.render_notebook(branded_run / "09_client_report.ipynb", "analyst")
    assert 'class="report-brand"' not in analyst


def test_logo_must_exist_and_be_an_image(params_for, tmp_path):
    good = tmp_path / "logo.png"
    good.write_bytes(png_bytes())
    assert params_for(report={"logo": str(good), "prepared_by": "Smith"}).get("report.logo") == str(good)
    svg = tmp_path / "logo.svg"
    svg.write_text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
    params_for(report={"logo": str(svg)})
    fake = tmp_path / "fake.png"
    fake.write_text("not an image", encoding="utf-8")
    for logo, expected in (
        (str(tmp_path / "missing.png"), "report.logo: no such file"),
        (str(fake), "report.logo: '" + str(fake) + "' is not a PNG image"),
        (str(tmp_path / "logo.gif"), "report.logo must be a PNG, JPEG or SVG file"),
    ):
        with pytest.raises(ConfigError) as raised:
            params_for(report={"logo": logo})
        assert expected in str(raised.value)
        assert "\n" not in str(raised.value)


def test_workbook_report_sheet_names_client_firm_and_report_date(runs):  # noqa: F811
    client_dir, values = runs
    run = client_dir / "p2"
    values = {**values, "report": {**values["report"], "prepared_by": HOSTILE_FIRM}}
    (run / "params.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    exports.write_exports(run, "p2")
    book = openpyxl.load_workbook(run / exports.FOLDER / exports.WORKBOOK)
    assert book.sheetnames[0] == exports.REPORT_SHEET
    rows = dict(list(book[exports.REPORT_SHEET].iter_rows(values_only=True))[1:])
    period = next(p for p in values["periods"] if p["name"] == "p2")
    assert rows["Client"] == values["client"]["name"]
    assert rows["Prepared by"] == HOSTILE_FIRM  # a cell holds text: nothing to escape
    assert rows["Period"] == "p2"
    assert rows["Report date"] == dt.datetime.fromisoformat(str(period["as_of"])).date().isoformat()
    assert rows["Segment change compared with period"] == "p1"
