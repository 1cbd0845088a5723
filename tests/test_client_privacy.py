"""Privacy of a sample run: no client output carries a raw customer id, an e-mail or a phone number."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from helpers import run_cli

from analysis_utils import paths

pytestmark = pytest.mark.slow
SAMPLE = "params/clients/sample.yaml"

EMBEDDED_DATA = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")  # figures: not text
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w.,:#-])\+?\(?\d{2,5}\)?(?:[ -]\d{2,5}){2,4}(?![\w.,:-])")  # then 9+ digits
ID_LIKE = re.compile(r"(?<![\w.,#-])\d{6}(?![\w.,])")  # the sample's ids are six zero-padded digits


def client_outputs(client_dir):
    """Every page a client receives: client reports and index pages (analyst files stay in-house)."""
    return sorted([*client_dir.rglob("*.client.html"), *client_dir.rglob("index.html")])


def phone_numbers(text: str) -> list[str]:
    return [m for m in PHONE.findall(text) if sum(c.isdigit() for c in m) >= 9]


def visible_text(path) -> str:
    return EMBEDDED_DATA.sub("", path.read_text(encoding="utf-8"))


def test_patterns_catch_what_they_are_meant_to():
    text = "mail jane.doe@example.co.uk or call +44 20 7946 0958; customer 012345; revenue 718,473 GBP"
    assert EMAIL.findall(text) == ["jane.doe@example.co.uk"]
    assert phone_numbers(text + " dates 2024-01-01, 0161 496 0000") == ["+44 20 7946 0958", "0161 496 0000"]
    assert ID_LIKE.findall(text) == ["012345"]


def excluded_accounts(client_file: str) -> set[str]:
    """The internal and test accounts a client's parameters exclude (``prep.exclude_customers``)."""
    return set(yaml.safe_load((paths.PROJECT_ROOT / client_file).read_text())["prep"]["exclude_customers"])


def test_no_client_output_carries_raw_ids_emails_or_phone_numbers(sample_run):
    raw_ids = set(pd.read_csv(paths.SAMPLE_DIR / "customer_types.csv", dtype=str)["customer_id"])
    raw_ids |= excluded_accounts(SAMPLE)  # the test account is excluded: counted, never named
    pages = client_outputs(sample_run)
    assert any(p.name == "09_client_report.client.html" for p in pages)
    for page in pages:
        text = visible_text(page)
        assert not EMAIL.findall(text), page
        assert not phone_numbers(text), page
        leaked = raw_ids & set(ID_LIKE.findall(text))
        assert not leaked, f"{page}: raw customer ids {sorted(leaked)[:5]}"


def test_client_report_lists_customers_only_by_pseudonym(sample_run):
    text = visible_text(sample_run / "2024" / "09_client_report.client.html")
    assert re.search(r">C[0-9a-f]{16}<", text), "the at-risk customer list shows pseudonyms"


@pytest.mark.parametrize("command", ["run", "validate"])
def test_without_a_salt_nothing_runs_and_the_error_names_the_variable(tmp_path, command):
    result = run_cli(
        command,
        SAMPLE,
        "-p",
        'report.pseudonym_salt=""',
        *(["--out", str(tmp_path)] * (command == "run")),
        salt=None,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: pseudonymising customer ids needs a salt: set CRM_WORKBOOK_SALT or report.pseudonym_salt"
    )
    assert not list(tmp_path.iterdir())  # no report, not even a staging folder
