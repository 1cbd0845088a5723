"""Period KPIs and rule-based churn risk, from customer-level tables (definitions: methodology §7).

Inputs are stage 02's customers (one row per customer with an order in the period) and stage 01's
customer history (first order date in the file, orders in the previous window of equal length);
the discount and gross-margin KPIs also need stage 01's orders (their ``discount`` and ``cost``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from analysis_utils.config import Period
from analysis_utils.engine import MONEY_DECIMAL
from analysis_utils.errors import ConfigError

RISK_LEVELS = ("low", "medium", "high")
MARGIN_KPIS = ("average_discount_rate", "gross_margin", "gross_margin_rate")
COVERAGE_WARNING = 0.95  # below this share of the previous window in the export, the churn rate is flagged
"""Keys :func:`margin_kpis` adds to :func:`period_kpis` when it is given the orders."""


def period_kpis(
    customers: pd.DataFrame,
    history: pd.DataFrame,
    period: Period,
    orders: ir.Table | pa.Table | pd.DataFrame | None = None,
) -> dict[str, float | int | None]:
    """The period's KPIs; None where the period has no window (new, churn need a comparison).

    - active: customers with an order in the period; new: active whose first order in the file is
      inside the period; returning: active minus new;
    - previous: customers with an order in the window of equal length just before; churned: previous
      customers with no order in this period; churn_rate = churned / previous;
    - repurchase_rate: share of active customers with 2 or more orders in the period;
    - orders, revenue (currency), aov = revenue / orders, orders_per_customer, revenue_per_customer;
    - with ``orders`` (stage 01's orders table): the keys of :func:`margin_kpis` too,
      average_discount_rate, gross_margin (currency) and gross_margin_rate, each None when the
      orders have no discount (cost) column. Without ``orders`` those keys are left out, so the
      result is exactly what it was before they existed.
    """
    active = len(customers)
    order_count = int(customers["frequency"].sum())
    revenue = float(customers["monetary"].sum())
    kpis: dict[str, float | int | None] = {
        "active_customers": active,
        "new_customers": None,
        "returning_customers": None,
        "previous_customers": None,
        "churned_customers": None,
        "churn_rate": None,
        "repurchase_rate": _share(int((customers["frequency"] >= 2).sum()), active),
        "orders": order_count,
        "revenue": round(revenue, 2),
        "aov": _ratio(revenue, order_count),
        "orders_per_customer": _ratio(order_count, active),
        "revenue_per_customer": _ratio(revenue, active),
    }
    if orders is not None:
        kpis |= margin_kpis(orders, period)
    if period.window_start is None:
        return kpis
    first = history.set_index("customer_id")["first_order_date"]
    new = int((first.reindex(customers["customer_id"]) >= pd.Timestamp(period.window_start)).sum())
    previous_ids = set(history.loc[history["previous_window_orders"] > 0, "customer_id"])
    churned = len(previous_ids - set(customers["customer_id"]))
    return kpis | {
        "new_customers": new,
        "returning_customers": active - new,
        "previous_customers": len(previous_ids),
        "churned_customers": churned,
        "churn_rate": _share(churned, len(previous_ids)),
    }


def margin_kpis(orders: ir.Table | pa.Table | pd.DataFrame, period: Period) -> dict[str, float | None]:
    """Discount and gross-margin KPIs from the orders of the period (methodology section 7).

    ``orders`` is stage 01's orders table (``orders.parquet``, or ``RunContext.orders()``): an
    Ibis table, or an Arrow or pandas table. Orders count when dated in ``[window_start, as_of)``,
    as in the customer table. With ``R`` the net revenue (sum of ``amount``), ``D`` the sum of
    ``discount`` and ``C`` the sum of ``cost``, all currency and summed as exact decimals:

    - average_discount_rate = D / (R + D), the share of the list price given away;
    - gross_margin = R - C (currency, rounded to cents); gross_margin_rate = (R - C) / R.

    A KPI is None when its column is absent (the client maps no discount, or neither cost nor
    margin) or its denominator is 0.
    """
    table = orders if isinstance(orders, ir.Table) else ibis.memtable(orders)
    in_period = table.order_date < period.as_of
    if period.window_start is not None:
        in_period &= table.order_date >= period.window_start
    table = table.filter(in_period)
    revenue = table.amount.cast(MONEY_DECIMAL).sum()
    sums = {"revenue": revenue}
    if "discount" in table.columns:
        discount = table.discount.cast(MONEY_DECIMAL).sum()
        sums |= {"discount": discount, "list_price": revenue + discount}
    if "cost" in table.columns:
        sums["gross_margin"] = revenue - table.cost.cast(MONEY_DECIMAL).sum()
    row = table.aggregate(**{k: v.cast("float64") for k, v in sums.items()}).to_pyarrow().to_pylist()[0]
    value = {name: row[name] or 0.0 for name in sums}  # no orders: every sum is NULL, i.e. 0
    kpis: dict[str, float | None] = dict.fromkeys(MARGIN_KPIS)
    if "discount" in sums:
        kpis["average_discount_rate"] = _ratio(value["discount"], value["list_price"])
    if "gross_margin" in sums:
        kpis["gross_margin"] = round(value["gross_margin"], 2)
        kpis["gross_margin_rate"] = _ratio(value["gross_margin"], value["revenue"])
    return kpis


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def previous_window_coverage(history: pd.DataFrame, period: Period) -> float:
    """Share (0-1) of the window before ``period`` (of equal length) that the export covers.

    The export is taken to start at the earliest first order of the history; 1.0 when it starts
    on or before the previous window does, 0.0 when the period has no window.
    """
    if period.window_start is None or history.empty:
        return 0.0
    previous_start = pd.Timestamp(period.window_start) - pd.Timedelta(days=period.window_days)
    data_start = pd.Timestamp(history["first_order_date"].min())
    uncovered = (data_start - previous_start) / pd.Timedelta(days=period.window_days)
    return float(min(1.0, max(0.0, 1.0 - uncovered)))


def churn_risk(customers: pd.DataFrame, settings: Mapping[str, Any]) -> pd.DataFrame:
    """Each customer's risk of having stopped buying, measured against their own rhythm.

    ``expected_gap_days`` is the customer's mean interpurchase time (2+ purchase days) or, for
    customers with one purchase day, the median of that over all customers who have one.
    ``overdue_ratio = recency_days / expected_gap_days``; risk is ``low`` up to
    ``churn_risk.medium_ratio``, ``medium`` up to ``churn_risk.high_ratio``, ``high`` above.
    Returns ``customers`` with ``expected_gap_days``, ``overdue_ratio`` and ``churn_risk`` added.
    """
    own_gap = customers["mean_interpurchase_days"].astype("float64")
    population_gap = float(own_gap.median()) if own_gap.notna().any() else np.nan
    expected = own_gap.fillna(population_gap).clip(lower=1.0)
    ratio = customers["recency_days"].astype("float64") / expected
    level = np.select(
        [ratio <= settings["medium_ratio"], ratio <= settings["high_ratio"]],
        ["low", "medium"],
        default="high",
    )
    return customers.assign(expected_gap_days=expected, overdue_ratio=ratio, churn_risk=level)


def risk_by_segment(scored: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue (period monetary, currency) per segment and risk level."""
    table = scored.pivot_table(
        index="segment", columns="churn_risk", values="monetary", aggfunc=["count", "sum"], fill_value=0
    )
    table.columns = [
        f"{'customers' if kind == 'count' else 'revenue'}_{level}" for kind, level in table.columns
    ]
    ordered = [f"{kind}_{level}" for kind in ("customers", "revenue") for level in RISK_LEVELS]
    return table.reindex(columns=ordered, fill_value=0).reset_index()


COHORT_UNITS = {"month": ("M", 1), "quarter": ("Q", 3)}  # unit -> (pandas period code, months)


def cohort_retention(orders: ir.Table, history: ir.Table, unit: str = "month") -> pd.DataFrame:
    """Share of each cohort (month or quarter of first order in the file) buying N units later.

    Cohort size: customers whose first order in the file (``history``) falls in that month
    (quarter). Activity: distinct customers of the cohort with an order in ``orders`` in the month
    (quarter) N units after the cohort's (N = 0 is the first). Only cohorts that start within the
    span covered by ``orders`` are shown: an earlier cohort's first units are not in the period's
    orders. Rows: cohort start (timestamp); columns: N; values: share of the cohort (0 to 1), NaN
    where the unit lies after the last order's (not observed yet).
    """
    if unit not in COHORT_UNITS:
        raise ConfigError(f"cohort unit must be one of {', '.join(COHORT_UNITS)}, got {unit!r}")
    code, months = COHORT_UNITS[unit]
    joined = orders.join(history, "customer_id")
    cohort, index = _unit_start(joined.first_order_date, months), _unit_index(joined.first_order_date, months)
    units_since = _unit_index(joined.order_date, months) - index
    active = (
        joined.mutate(cohort=cohort, units_since=units_since)
        .group_by(["cohort", "units_since"])
        .aggregate(customers=joined.customer_id.nunique())
        .to_pandas()
    )
    sizes = history.group_by(cohort=_unit_start(history.first_order_date, months)).aggregate(
        size=history.count()
    )
    sizes = sizes.to_pandas().set_index("cohort")["size"]
    span = orders.aggregate(first=orders.order_date.min(), last=orders.order_date.max()).to_pandas().iloc[0]
    first_unit, last_unit = (pd.Timestamp(span[end]).to_period(code) for end in ("first", "last"))
    shown = active[active["cohort"] >= first_unit.to_timestamp()]
    table = shown.pivot(index="cohort", columns="units_since", values="customers").sort_index()
    shares = table.div(sizes.reindex(table.index), axis=0).fillna(0.0)
    cohort_units = pd.PeriodIndex(table.index, freq=code)
    observable = [[(start + n) <= last_unit for n in table.columns] for start in cohort_units]
    return shares.where(pd.DataFrame(observable, index=table.index, columns=table.columns))


def _unit_index(date: ir.TimestampValue, months: int) -> ir.IntegerValue:
    """Months (quarters) since year 0: consecutive units differ by 1."""
    return (date.year() * 12 + date.month() - 1) // months


def _unit_start(date: ir.TimestampValue, months: int) -> ir.TimestampValue:
    return date.truncate("M") if months == 1 else date.truncate("Q")
