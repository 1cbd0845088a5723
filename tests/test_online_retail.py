"""Stage 01 on the real UCI Online Retail log reproduces its published facts (runs when the file is present).

Facts (rows, missing ids, cancellations, customers, invoices, amount) are those checked in the data
set's README: after dropping lines without CustomerID and cancellation invoices, 397,924 lines,
4,339 customers, 18,536 invoices and 8,911,407.90 pounds remain.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis_utils import overview, paths, prep
from analysis_utils.config import load_params

pytestmark = pytest.mark.real_data

CANDIDATES = (
    paths.RAW_DIR / "online_retail.csv.gz",
    paths.PROJECT_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz",
)
DATA = next((path for path in CANDIDATES if path.is_file()), None)
CLIENT = paths.CLIENTS_DIR / "online_retail.yaml"


@pytest.fixture(scope="module")
def published_rules():
    """Stage 01 with the rules behind the published counts: returns dropped, nothing else removed."""
    if DATA is None:
        pytest.skip("UCI Online Retail file not present (see data/raw/README.md)")
    overrides = [
        f"data.path={DATA}",
        "prep.returns.policy=drop",
        "prep.drop_duplicates=false",
        "prep.drop_zero_amount=false",
    ]
    params = load_params(CLIENT, overrides)
    return prep.prepare(params, params.period("all"))


@pytest.fixture(scope="module")
def default_rules():
    if DATA is None:
        pytest.skip("UCI Online Retail file not present (see data/raw/README.md)")
    params = load_params(CLIENT, [f"data.path={DATA}"])
    return prep.prepare(params, params.period("all"))


def rows(result, rule: str) -> int:
    table = result.quality.set_index("rule")
    return int(table.loc[rule, "rows"]) if rule in table.index else 0


def test_published_facts_are_reproduced_exactly(published_rules):
    result = published_rules
    assert rows(result, "input") == 541_909
    assert rows(result, "missing_customer") == 135_080
    kept_lines = rows(result, "input") - int(
        result.quality.loc[result.quality["action"] == "dropped", "rows"].sum()
    )
    assert kept_lines == 397_924
    headline = overview.headline(result.orders, result.quality)
    assert headline["customers"] == 4_339
    assert headline["orders"] == 18_536
    assert headline["revenue"] == 8_911_407.90


def test_cancellations_with_a_customer_are_the_only_returns_dropped(published_rules):
    # 9,288 cancellation rows, of which those without a customer id fall to the earlier rule
    assert rows(published_rules, "return_dropped") == 541_909 - 135_080 - 397_924


def test_default_rules_account_for_every_line_and_pound(default_rules):
    result = default_rules
    quality = result.quality.set_index("rule")
    assert rows(result, "duplicate") <= 5_268  # exact duplicates in the whole file, some without id
    # cancellations with a customer id, counted independently with pandas: one copy of duplicates
    lines = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    with_id = lines[(lines["CustomerID"] != "") & lines["InvoiceNo"].str.startswith("C")]
    assert rows(result, "return_netted") + rows(result, "return_unmatched") == len(with_id.drop_duplicates())
    dropped = quality.loc[quality["action"] == "dropped", "amount"].sum()
    assert round(quality.loc["input", "amount"], 2) == round(
        dropped + result.orders.column("amount").to_pandas().sum(), 2
    )
