"""Stage 01 on the real UCI Online Retail log reproduces its published facts (runs when the file is present).

Facts (rows, missing ids, cancellations, customers, invoices, amount) are those checked in the data
set's README: after dropping lines without CustomerID and cancellation invoices, 397,924 lines,
4,339 customers, 18,536 invoices and 8,911,407.90 pounds remain. The file is looked for in
data/raw/ (where a user puts it, see data/raw/README.md) and, for this project's CI, in the shared
data folder next to the project; without it every test here is skipped.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd
import pytest

from analysis_utils import clv_stage, overview, paths, prep, rfm_stage, risk
from analysis_utils.loader import load_params

pytestmark = pytest.mark.real_data

CANDIDATES = (
    paths.RAW_DIR / "online_retail.csv.gz",
    paths.PROJECT_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz",
)
DATA: Path | None = next((path for path in CANDIDATES if path.is_file()), None)
CLIENT = paths.CLIENTS_DIR / "online_retail.yaml"
MAPPED = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
SKIP_REASON = "UCI Online Retail file not in data/raw/online_retail.csv.gz (see data/raw/README.md)"
WHOLE_LOG = 'periods=[{name: all, as_of: "2011-12-10"}]'  # the published facts are of the whole log


def prepared(*overrides: str) -> prep.PrepResult:
    """Stage 01 on the whole file (period "all": no window, as_of after the last invoice)."""
    if DATA is None:
        pytest.skip(SKIP_REASON)
    params = load_params(CLIENT, [f"data.path={DATA}", WHOLE_LOG, *overrides])
    return prep.prepare(params, params.period("all"))


@pytest.fixture(scope="module")
def published_rules() -> prep.PrepResult:
    """The rules behind the published counts: returns dropped, nothing else removed."""
    return prepared("prep.returns.policy=drop", "prep.drop_duplicates=false", "prep.drop_zero_amount=false")


@pytest.fixture(scope="module")
def default_rules() -> prep.PrepResult:
    """The defaults: duplicates and zero amounts dropped, returns netted."""
    return prepared()


@pytest.fixture(scope="module")
def with_id() -> pd.DataFrame:
    """The file's lines that have a CustomerID, read independently with pandas, all as text."""
    if DATA is None:
        pytest.skip(SKIP_REASON)
    lines = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    return lines[lines["CustomerID"] != ""]


def rows(result: prep.PrepResult, rule: str) -> int:
    """Rows (lines or orders) of a quality-table rule; 0 when the rule touched nothing."""
    table = result.quality.set_index("rule")
    return int(table.loc[rule, "rows"]) if rule in table.index else 0


def dropped(result: prep.PrepResult, column: str) -> float:
    """Sum of ``column`` (rows or amount) over the quality table's dropped rules."""
    return float(result.quality.loc[result.quality["action"] == "dropped", column].sum())


def test_published_facts_are_reproduced_exactly(published_rules):
    result = published_rules
    assert rows(result, "input") == 541_909
    assert rows(result, "missing_customer") == 135_080
    assert rows(result, "input") - dropped(result, "rows") == 397_924
    headline = overview.headline(result.orders, result.quality)
    assert headline["customers"] == 4_339
    assert headline["orders"] == 18_536
    assert headline["revenue"] == 8_911_407.90


def test_cancellations_with_a_customer_are_the_only_returns_dropped(published_rules, with_id):
    # 9,288 cancellation rows in the file; those without a customer id fall to the earlier rule
    cancellations = int(with_id["InvoiceNo"].str.startswith("C").sum())
    assert rows(published_rules, "return_dropped") == cancellations == 541_909 - 135_080 - 397_924


def test_default_rules_match_independent_counts(default_rules, with_id):
    result = default_rules
    duplicated = with_id.duplicated(subset=MAPPED)
    assert rows(result, "duplicate") == int(duplicated.sum()) <= 5_268  # 5,268: whole file, every column
    first_copies = with_id[~duplicated]
    amount = first_copies["Quantity"].astype(float) * first_copies["UnitPrice"].astype(float)
    assert rows(result, "zero_amount") == int((amount == 0).sum())
    # every cancellation with a customer id that survives the earlier rules is netted or unmatched
    survivors = first_copies[(amount != 0) & first_copies["InvoiceNo"].str.startswith("C")]
    assert rows(result, "return_netted") + rows(result, "return_unmatched") == len(survivors)


def test_default_rules_account_for_every_line_and_pound(default_rules):
    result = default_rules
    quality = result.quality.set_index("rule")
    orders = result.orders.to_pandas()
    # no window: every line is dropped by one rule or lands in an order (netted returns included)
    assert rows(result, "input") == dropped(result, "rows") + int(orders["lines"].sum())
    accounted = dropped(result, "amount") + float(orders["amount"].sum())
    assert round(quality.loc["input", "amount"], 2) == round(accounted, 2)
    assert rows(result, "orders") == len(orders)
    assert rows(result, "customers") == orders["customer_id"].nunique()
    assert orders["order_date"].max() < pd.Timestamp("2011-12-10")


def test_the_lifetime_value_model_earns_trust_on_the_whole_log(default_rules):
    # Measured: 2,782 repeat buyers; holdout (from 2011-06-06) predicted 5,980 purchase days
    # against 6,946 (-13.9%: the holdout half holds the autumn peak, which BG/NBD does not model).
    params = load_params(CLIENT, [f"data.path={DATA}", WHOLE_LOG])
    period = params.period("all")
    orders = ibis.memtable(default_rules.orders)
    result = clv_stage.future_value(orders, period.window_start, period.as_of, params.get("clv"))
    assert result.trusted, result.reason
    assert result.gamma_gamma.n_customers == 2782
    assert -0.2 < result.holdout.relative_error < -0.05
    assert abs(result.spend_correlation) < 0.3  # Gamma-Gamma's independence holds roughly here


def test_the_first_half_years_churn_rule_picks_out_who_does_not_come_back(default_rules):
    """The shipped client's first period, Dec2010-May2011: its one churn-risk rule, decided on its own
    holdout, is checked against what its customers did in the second half-year, which it never saw."""
    params = load_params(CLIENT, [f"data.path={DATA}"])
    first = params.period("Dec2010-May2011")
    orders = default_rules.orders.to_pandas()
    before = orders[orders["order_date"] < first.as_of]
    customers = rfm_stage.run_rfm(
        ibis.memtable(before), first.as_of, first.window_days, params.get("rfm")
    ).customers
    rule, table, future = risk.assess(before, customers, first, params)
    assert "p_alive" in rule.excluded  # measured: BG/NBD sees almost no dropout on this log
    assert rule.score != "p_alive"
    came_back = set(orders.loc[orders["order_date"] >= first.as_of, "customer_id"])
    rate = table.assign(back=table["customer_id"].isin(came_back)).groupby("churn_risk")["back"].mean()
    assert rate["high"] < 0.65 * rate["low"], rate  # measured: 53% of high against 92% of low came back
    assert (table["churn_risk"] == "high").sum() > 0.05 * len(table)
