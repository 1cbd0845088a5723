"""Order-level overviews for the data-preparation notebook: headline counts, revenue per
month, and the distribution of order amounts. Aggregated by the engine (Ibis), so only a few
rows reach pandas whatever the number of orders."""

from __future__ import annotations

import math
import re

import ibis
import pandas as pd
import pyarrow as pa

from analysis_utils.engine import exact_sum
from analysis_utils.io import InputFiles


def headline(orders: pa.Table, quality: pd.DataFrame) -> dict[str, int | float | str]:
    """Key counts of a prepared period: lines read, lines kept, orders, customers, revenue.

    ``revenue`` is the net amount of the kept orders in the client's currency, rounded to
    cents; dates are the first and last order date (YYYY-MM-DD).
    """
    table = ibis.memtable(orders)
    stats = (
        table.aggregate(
            orders=table.count(),
            customers=table.customer_id.nunique(),
            revenue=exact_sum(table.amount),
            first=table.order_date.min(),
            last=table.order_date.max(),
            extreme=table.is_extreme.sum(),
        )
        .to_pandas()
        .iloc[0]
    )
    lines_read = int(quality.loc[quality["rule"] == "input", "rows"].iloc[0])
    return {
        "lines_read": lines_read,
        "orders": int(stats["orders"]),
        "customers": int(stats["customers"]),
        "revenue": round(float(stats["revenue"]), 2),
        "first_order": f"{stats['first']:%Y-%m-%d}",
        "last_order": f"{stats['last']:%Y-%m-%d}",
        "extreme_orders": int(stats["extreme"]),
    }


ENGINE_NAMES = {"duckdb": "DuckDB (embedded)", "spark": "Spark"}


def what_was_read(backend: str, inputs: InputFiles, quality: pd.DataFrame) -> str:
    """One Markdown sentence: which engine ran stage 01, how many lines (the quality table's
    ``input`` row), files and date partitions it read, of how many found."""
    lines = int(quality.loc[quality["rule"] == "input", "rows"].iloc[0])
    files = len(inputs.files)
    text = f"Ran on **{ENGINE_NAMES.get(backend, backend)}**: read **{lines:,} lines** from {files:,} "
    text += ("file" if files == 1 else "files") + (f" (of {inputs.found:,})" if inputs.pruned else "")
    if inputs.partitions_found:
        text += (
            f" in {inputs.partitions_read:,} of {inputs.partitions_found:,} date partitions"
            " (the others start on or after the period's as_of)"
        )
    return text + "."


def monthly(orders: pa.Table) -> pd.DataFrame:
    """Per calendar month: orders, distinct customers, net revenue (currency). Sorted by month."""
    table = ibis.memtable(orders)
    month = table.order_date.truncate("M").name("month")
    result = table.group_by(month).aggregate(
        orders=table.count(), customers=table.customer_id.nunique(), revenue=exact_sum(table.amount)
    )
    return result.order_by("month").to_pandas()


def amount_histogram(orders: pa.Table, bins: int = 30) -> pd.DataFrame:
    """Counts of positive order amounts in ``bins`` equal-width bins of log10(amount).

    Columns: lower and upper bin edges (currency), orders. Non-positive orders are left out.
    """
    table = ibis.memtable(orders)
    positive = table.filter(table.amount > 0)
    log_amount = positive.amount.log10()
    bounds = positive.aggregate(lo=log_amount.min(), hi=log_amount.max()).to_pandas().iloc[0]
    lo, hi = float(bounds["lo"]), float(bounds["hi"])
    if not math.isfinite(lo):
        return pd.DataFrame({"lower": [], "upper": [], "orders": []})
    width = (hi - lo) / bins if hi > lo else 1.0
    index = ((log_amount - lo) / width).floor().cast("int64").clip(upper=bins - 1).name("bin")
    counts = positive.group_by(index).aggregate(orders=positive.count()).to_pandas()
    frame = pd.DataFrame({"bin": range(bins)}).merge(counts, on="bin", how="left").fillna({"orders": 0})
    edges = 10 ** (lo + width * frame["bin"].to_numpy())
    return pd.DataFrame(
        {"lower": edges, "upper": edges * 10**width, "orders": frame["orders"].astype("int64")}
    )


def rules_in_effect(prep: dict, period_start: str, as_of: str) -> str:
    """Markdown list of the cleaning rules as configured, in the order they are applied (duplicates
    with ``auto``: dropped only when the lines carry an order id or a time of day)."""

    def on(flag: bool, text: str) -> str:
        return f"- {text}" if flag else f"- ~~{text}~~ (switched off)"

    returns = prep["returns"]
    prefix = f", and order numbers starting with {returns['order_prefix']}" if returns["order_prefix"] else ""
    listed = len(prep["exclude_customers"])  # counted, never shown: the ids are the client's own
    excluded = f"{listed:,} account{'s' if listed != 1 else ''} listed" if listed else "none listed"
    return "\n".join(
        [
            on(prep["drop_missing_customer"], "lines without a customer id are dropped"),
            on(
                prep["drop_unparseable_dates"],
                f"lines whose date does not parse are dropped (the run stops above "
                f"{prep['max_unparseable_date_share']:.1%} of lines)",
            ),
            f"- lines whose amount is missing or not a number are dropped (the run stops above "
            f"{prep['max_unparseable_amount_share']:.1%} of lines)",
            f"- lines of internal and test accounts are dropped ({excluded})",
            on(prep["drop_after_as_of"], f"lines dated on or after {as_of} are dropped"),
            on(
                prep["drop_duplicates"] is not False,
                "exact duplicate lines are dropped (one copy kept)"
                + (
                    " when the lines carry an order number or a time of day"
                    if prep["drop_duplicates"] == "auto"
                    else ""
                ),
            ),
            on(prep["drop_zero_amount"], "zero-amount lines (gifts, free items) are dropped"),
            f"- returns (negative amounts{prefix}) are "
            + (
                "netted against the customer's latest earlier order of the same product"
                if returns["policy"] == "net"
                else "dropped"
            ),
            on(prep["drop_before_window"], f"orders dated before {period_start} are dropped"),
            on(prep["drop_nonpositive_orders"], "orders with a zero or negative net amount are dropped"),
            on(
                prep["extreme"]["flag"],
                "orders with an extreme amount (far outside the usual range of order amounts) are"
                " flagged, not dropped",
            ),
        ]
    )


# The data-quality table's rules in the client's words (``{as_of}``, ``{start}``: the period's
# bounds); a rule missing here shows prep's own description without parameter names.
RULE_WORDS = {
    "input": "lines read from the export",
    "missing_customer": "lines without a customer id",
    "unparseable_date": "lines whose date is missing or unreadable",
    "unreadable_amount": "lines whose amount is missing or not a number",
    "excluded_customer": "lines of internal or test accounts",
    "after_as_of": "lines dated on or after {as_of} (after the period)",
    "duplicate": "lines that exactly duplicate another line",
    "zero_amount": "lines with a zero amount (gifts, free items)",
    "return_netted": "returns and cancellations netted against the customer's earlier order",
    "return_unmatched": "returns and cancellations with no earlier order to net against",
    "return_dropped": "returns and cancellations left out",
    "before_window": "orders dated before {start} (before the period)",
    "nonpositive_order": "orders worth zero or less after returns",
    "extreme_amount": "orders with an extreme amount (kept, marked for the analysis)",
    "orders": "orders kept for the period",
    "customers": "customers with a kept order",
}
PARAMETER_NOTE = re.compile(r"\s*\([^()]*\b[a-z_]+\.[a-z_.]+\b[^()]*\)")  # "(prep.returns.policy = drop)"
PARAMETER_NAME = re.compile(r"\b[a-z_]+(?:\.[a-z_]+)+\b")  # "data.date_format"


def _in_words(description: str) -> str:
    """A rule description without parameter names (for rules :data:`RULE_WORDS` does not cover)."""
    text = PARAMETER_NOTE.sub("", description).replace("the period's as_of", "the period's end")
    return PARAMETER_NAME.sub("the configured setting", text).replace("_", " ")


def quality_for_client(quality: pd.DataFrame, as_of: str, start: str) -> pd.DataFrame:
    """The data-quality table for the client: ``step`` (in words), ``effect`` (read, dropped,
    netted, flagged, kept), ``count`` and ``counted_in`` (lines, orders, files...) and ``amount``
    (net, client currency; missing where it means nothing, as for files)."""
    words = {rule: text.format(as_of=as_of, start=start) for rule, text in RULE_WORDS.items()}
    step = [
        words.get(rule, _in_words(description))
        for rule, description in zip(quality["rule"], quality["description"], strict=True)
    ]
    return pd.DataFrame(
        {
            "step": step,
            "effect": quality["action"].to_numpy(),
            "count": quality["rows"].astype("int64").to_numpy(),
            "counted_in": quality["unit"].to_numpy(),
            "amount": quality["amount"].to_numpy(),
        }
    )


def describe_headline(summary: dict[str, int | float | str], currency: str) -> str:
    """Markdown for the client: what stage 01 kept (``summary``: :func:`headline`)."""
    text = (
        f"**{summary['lines_read']:,} lines** read; **{summary['orders']:,} orders** from"
        f" **{summary['customers']:,} customers** kept, worth **{summary['revenue']:,.2f} {currency}**"
        f" net, dated {summary['first_order']} to {summary['last_order']}."
    )
    extreme = int(summary["extreme_orders"])
    if extreme:
        text += (
            f" {extreme:,} order{'s have' if extreme != 1 else ' has'} an extreme amount: kept, and marked so"
            " that later stages can leave them out where they would distort an average."
        )
    return text
