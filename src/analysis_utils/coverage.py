"""What the data covers, and the caveats a reader needs before the numbers (methodology section 10.1).

The client report opens with these facts: how much of the period and of the look-back before it the
export holds, what was dropped for having no customer id, partial first and last months, customers
who are "new" only because the export starts late, the revenue in extreme orders, the monthly
revenue and its peak, and whether the customer base looks like business accounts rather than
consumers. All inputs are stage 01's artifacts (data-quality table, customer history, orders).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils.config import Period

MIN_LOOK_BACK_DAYS = 347
"""Days of history before the window (95% of a year) below which "new" customers may be existing ones."""
PARTIAL_MONTH_SHARE = 0.9
"""A month observed for less than this share of its days is partial."""
B2B_MEDIAN_ITEMS = 20
"""Median items per order from which orders look like trade (wholesale) orders."""
B2B_TOP_SHARE = 0.2
"""Revenue share of the top 1% of customers from which a few accounts dominate."""
B2B_EXTREME_SHARE = 0.1
"""Revenue share of extreme orders from which large orders weigh heavily."""


@dataclass(frozen=True)
class Coverage:
    """The period's data coverage: dates, dropped lines, months, extreme orders, business signals."""

    period: Period
    export_start: pd.Timestamp  # first dated order with a customer id in the export
    last_order: pd.Timestamp  # last order of the period
    lines_read: int
    revenue_read: float
    lines_without_customer: int
    revenue_without_customer: float
    monthly: pd.DataFrame  # month (timestamp), revenue, orders, observed_days, days, partial
    extreme_share: float  # revenue share (0-1) of extreme orders in the period
    top_percent_share: float  # revenue share (0-1) of the top 1% of customers
    median_items: float | None  # median items per order (None without quantities)
    new_customers: int
    active_customers: int

    @property
    def look_back_days(self) -> int | None:
        """Days of export before the window start (None without a window; 0 when it starts inside)."""
        if self.period.window_start is None:
            return None
        return max(0, (pd.Timestamp(self.period.window_start) - self.export_start).days)

    @property
    def window_uncovered_days(self) -> int:
        """Days of the window before the export starts (0 when the export covers the whole window)."""
        if self.period.window_start is None:
            return 0
        return max(0, (self.export_start - pd.Timestamp(self.period.window_start)).days)

    @property
    def partial_months(self) -> list[pd.Timestamp]:
        return list(self.monthly.loc[self.monthly["partial"], "month"])

    @property
    def business_signals(self) -> list[str]:
        """The signs, in words, that a few business accounts with large orders dominate."""
        signals = []
        if self.median_items is not None and self.median_items >= B2B_MEDIAN_ITEMS:
            signals.append(f"a typical order holds {self.median_items:,.0f} items")
        if self.top_percent_share >= B2B_TOP_SHARE:
            signals.append(f"the top 1% of customers bring {self.top_percent_share:.0%} of the revenue")
        if self.extreme_share >= B2B_EXTREME_SHARE:
            signals.append(f"exceptionally large orders bring {self.extreme_share:.0%} of the revenue")
        return signals

    @property
    def looks_business(self) -> bool:
        """Two or more business signals (:attr:`business_signals`)."""
        return len(self.business_signals) >= 2


def monthly_revenue(orders: ir.Table, period: Period, export_start: pd.Timestamp) -> pd.DataFrame:
    """Revenue and orders per calendar month of the period, with how many of each month's days the
    data covers (from the later of window start and export start, to as_of) and whether it is
    partial (observed on less than :data:`PARTIAL_MONTH_SHARE` of its days)."""
    month = orders.order_date.truncate("M")
    table = (
        orders.group_by(month=month)
        .aggregate(revenue=orders.amount.sum(), orders=orders.count())
        .order_by("month")
        .to_pandas()
    )
    table["month"] = pd.to_datetime(table["month"])
    start = max(pd.Timestamp(period.window_start or export_start), export_start.normalize())
    end = pd.Timestamp(period.as_of)
    month_end = table["month"] + pd.offsets.MonthBegin(1)
    first = table["month"].where(table["month"] > start, start)
    last = month_end.where(month_end < end, end)
    table["observed_days"] = (last - first).dt.days.clip(lower=0)
    table["days"] = (month_end - table["month"]).dt.days
    table["partial"] = table["observed_days"] < PARTIAL_MONTH_SHARE * table["days"]
    return table


def measure(
    quality: pd.DataFrame,
    history: pd.DataFrame,
    orders: ir.Table,
    customers: pd.DataFrame,
    period: Period,
    new_customers: int | None,
) -> Coverage:
    """The :class:`Coverage` of a period from stage 01's data-quality table, customer history and
    orders (Ibis) and stage 02's customers (positive spend are ranked for the top 1%)."""
    rules = quality.set_index("rule")
    missing = rules.loc["missing_customer"] if "missing_customer" in rules.index else None
    export_start = pd.Timestamp(history["first_order_date"].min())
    span = orders.aggregate(last=orders.order_date.max()).to_pandas().iloc[0]
    extreme = (
        orders.aggregate(total=orders.amount.sum(), extreme=orders.amount.sum(where=orders.is_extreme))
        .to_pandas()
        .iloc[0]
    )
    median_items = None
    if "items" in orders.columns:
        median_items = float(orders.aggregate(m=orders["items"].median()).to_pandas().iloc[0]["m"])
    spend = np.sort(customers.loc[customers["monetary"] > 0, "monetary"].to_numpy(dtype="float64"))[::-1]
    top = max(1, int(np.ceil(0.01 * len(spend))))
    return Coverage(
        period=period,
        export_start=export_start,
        last_order=pd.Timestamp(span["last"]),
        lines_read=int(rules.loc["input", "rows"]),
        revenue_read=float(rules.loc["input", "amount"]),
        lines_without_customer=int(missing["rows"]) if missing is not None else 0,
        revenue_without_customer=float(missing["amount"]) if missing is not None else 0.0,
        monthly=monthly_revenue(orders, period, export_start),
        extreme_share=0.0
        if pd.isna(extreme["extreme"]) or not extreme["total"]
        else float(extreme["extreme"] / extreme["total"]),
        top_percent_share=float(spend[:top].sum() / spend.sum()) if spend.sum() > 0 else 0.0,
        median_items=median_items,
        new_customers=int(new_customers or 0),
        active_customers=len(customers),
    )


def caveats(cov: Coverage, currency: str) -> list[str]:
    """The caveats in plain sentences, most important first (empty when there is nothing to say)."""
    notes = []
    period = cov.period
    if cov.window_uncovered_days:
        notes.append(
            f"The export starts on {cov.export_start:%d %B %Y}, {cov.window_uncovered_days:,} days into the "
            f"period: the period's figures cover less than its full length."
        )
    look_back = cov.look_back_days
    if look_back == 0:
        notes.append(
            "The export holds no orders before the period, so every customer counts as new: it cannot "
            "tell new customers from existing ones, and there is no earlier window to measure churn against."
        )
    elif look_back is not None and look_back < MIN_LOOK_BACK_DAYS and cov.new_customers:
        share = cov.new_customers / max(cov.active_customers, 1)
        notes.append(
            f"The export holds only {look_back:,} days before the period starts, so many of the "
            f"{cov.new_customers:,} customers counted as new ({share:.0%} of the customers) may be existing "
            "customers whose earlier orders are not in the export; the churn rate, which needs the window "
            "before the period, rests on that short look-back too."
        )
    if cov.lines_without_customer:
        notes.append(
            f"{cov.lines_without_customer:,} lines "
            f"({cov.lines_without_customer / max(cov.lines_read, 1):.0%} of "
            f"the export), worth {cov.revenue_without_customer:,.0f} {currency}, carry no customer "
            "id and are "
            "left out of every customer figure."
        )
    for month in cov.partial_months:
        row = cov.monthly.set_index("month").loc[month]
        notes.append(
            f"{month:%B %Y} is only partly covered ({int(row['observed_days'])} of {int(row['days'])} days): "
            "its revenue and its cohort cells are not comparable with full months."
        )
    if cov.extreme_share >= 0.01:
        notes.append(
            f"Exceptionally large orders bring {cov.extreme_share:.0%} of the period's revenue; "
            "they are kept, "
            "and flagged in the data preparation report."
        )
    if period.window_start is None:
        notes.append(
            "The period covers the whole export, so there is no earlier window to measure churn against."
        )
    return notes


def seasonality_sentence(cov: Coverage, currency: str) -> str:
    """Monthly revenue in one sentence: the peak month against the median full month."""
    full = cov.monthly[~cov.monthly["partial"]]
    if len(full) < 3:
        return "The period is too short to show a seasonal pattern."
    peak = full.loc[full["revenue"].idxmax()]
    low = full.loc[full["revenue"].idxmin()]
    median = float(full["revenue"].median())
    return (
        f"Revenue peaks in {peak['month']:%B %Y} ({peak['revenue']:,.0f} {currency}, "
        f"{peak['revenue'] / median:.1f} times the median full month) and is lowest in {low['month']:%B %Y} "
        f"({low['revenue']:,.0f} {currency})"
        + (", a marked seasonal pattern." if peak["revenue"] >= 1.5 * median else ".")
    )


def business_sentence(cov: Coverage, business_playbook: bool) -> str:
    """Whether the customers look like business accounts, and what the actions are written for."""
    if not cov.looks_business:
        return ""
    text = (
        "This customer base looks like business accounts rather than consumers: "
        + "; ".join(cov.business_signals)
        + "."
    )
    if business_playbook:
        return text + " The recommended actions are written for business accounts."
    return text + (
        " The recommended actions below are written for consumers; the business playbook, with actions for "
        "accounts, fits better and can be chosen in the client's settings."
    )


def coverage_table(cov: Coverage, currency: str) -> pd.DataFrame:
    """The coverage box: one row per fact, as the client reads it."""
    period = cov.period
    window = (
        f"{pd.Timestamp(period.window_start):%d %b %Y} to "
        f"{pd.Timestamp(period.as_of) - timedelta(days=1):%d %b %Y}"
        if period.window_start
        else f"all orders to {pd.Timestamp(period.as_of) - timedelta(days=1):%d %b %Y}"
    )
    look_back = cov.look_back_days
    rows = [
        ("Period", window),
        ("Export starts", f"{cov.export_start:%d %b %Y}"),
        ("Last order in the period", f"{cov.last_order:%d %b %Y}"),
        ("History before the period", "-" if look_back is None else f"{look_back:,} days"),
        (
            "Lines without a customer id",
            f"{cov.lines_without_customer:,} of {cov.lines_read:,} "
            f"({cov.revenue_without_customer:,.0f} {currency})",
        ),
        (
            "Partial months",
            ", ".join(f"{m:%b %Y}" for m in cov.partial_months) or "none",
        ),
        ("Revenue in exceptionally large orders", f"{cov.extreme_share:.0%}"),
    ]
    return pd.DataFrame(rows, columns=["Fact", "Value"])


def mask_partial_months(retention: pd.DataFrame, cov: Coverage) -> pd.DataFrame:
    """Cohort retention (kpi.cohort_retention, monthly) without the cells that fall in a partial last
    month, which would read as a collapse; the partial first month stays (it starts a cohort)."""
    partial = [m for m in cov.partial_months if m > cov.monthly["month"].min()]
    if not partial or retention.empty:
        return retention
    masked = retention.copy()
    cohorts = pd.PeriodIndex(pd.to_datetime(masked.index), freq="M")
    for month in partial:
        target = pd.Period(month, freq="M")
        for column in masked.columns:
            hit = np.array([(c + int(column)) == target for c in cohorts])
            masked.loc[hit, column] = np.nan
    return masked
