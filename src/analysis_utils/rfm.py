"""RFM staging: the customer table (one row per customer: recency, frequency, monetary and more).

Stage 02 of the workbook. The customer table is built with Ibis expressions only, so the
same code runs on DuckDB and on Spark; everything from the customer level on is pandas.

Definitions (units in brackets)
-------------------------------
recency_days [days]
    Calendar days from the customer's last order date to the ``as_of`` date.
    An order on the day before ``as_of`` has recency 1; ``as_of`` itself is excluded.
frequency [orders]
    Number of distinct ``order_id`` in the window.
monetary [client currency]
    Sum of the net order amounts in the window (returns already netted, so it can be <= 0).
aov [client currency per order]
    ``monetary / frequency``.
tenure_days [days]
    Calendar days from the first order date to the ``as_of`` date.
order_days [days]
    Number of distinct calendar days with at least one order.
mean_interpurchase_days [days]
    ``(last_order_date - first_order_date) / (order_days - 1)``: the mean gap between
    purchase *days*. Several orders on one day are one purchase occasion, so a customer
    whose orders all fall on one day has no interpurchase time (null), like a one-order
    customer.

Scores are in analysis_utils.rfm_scorer (documented on its ``RFMScorer``), the value types, Pareto
curve and R x F grid in analysis_utils.rfm_views.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils.engine import exact_sum
from analysis_utils.errors import ConfigError, DataError

METRIC_COLUMNS: dict[str, str] = {
    "recency": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
}
"""Scored metric -> column of the customer table holding it."""


SCORE_COLUMNS = ("r_score", "f_score", "m_score")

CUSTOMER_DTYPES: dict[str, str] = {
    "customer_id": "str",
    "recency_days": "int64",
    "frequency": "int64",
    "monetary": "float64",
    "aov": "float64",
    "first_order_date": "datetime64[s]",
    "last_order_date": "datetime64[s]",
    "tenure_days": "int64",
    "order_days": "int64",
    "mean_interpurchase_days": "float64",
}
"""Columns of :func:`customer_frame`, in order, with their pandas dtypes."""

ORDER_COLUMNS = ("customer_id", "order_id", "order_date", "amount")


# --------------------------------------------------------------------------- customer table


def customer_table(orders: ir.Table, as_of: datetime, window_days: int | None) -> ir.Table:
    """Aggregate an orders table to one row per customer (Ibis only, backend-neutral).

    Parameters
    ----------
    orders
        One row per order with ``customer_id``, ``order_id``, ``order_date`` (timestamp,
        no time zone) and ``amount`` (net amount, client currency). Rows that repeat an
        ``order_id`` are summed into one order.
    as_of
        Analysis date (naive timestamp, normally midnight). Orders at or after it are excluded.
    window_days
        Length of the window in days: orders in ``[as_of - window_days, as_of)`` count,
        the window start included. ``None`` takes all history before ``as_of``.

    Returns
    -------
    ibis.Table
        Columns of :data:`CUSTOMER_DTYPES` (defined in the module docstring), ordered by
        ``customer_id``.

    Raises
    ------
    DataError
        A required column is missing or has the wrong type.
    ConfigError
        ``as_of`` has a time zone or ``window_days`` is not a positive whole number.
    """
    _check_orders_schema(orders)
    as_of = _naive_timestamp(as_of)
    in_window = orders.order_date < as_of
    if window_days is not None:
        in_window &= orders.order_date >= as_of - timedelta(days=_window_length(window_days))
    orders = orders.filter(in_window)

    order_date = orders.order_date.date()
    per_customer = orders.group_by("customer_id").aggregate(
        frequency=orders.order_id.nunique(),
        monetary=exact_sum(orders.amount),
        first_order_date=order_date.min(),
        last_order_date=order_date.max(),
        order_days=order_date.nunique(),
    )
    as_of_date = ibis.literal(as_of.date())
    order_span_days = per_customer.last_order_date.delta(per_customer.first_order_date, unit="day")
    return per_customer.select(
        "customer_id",
        recency_days=as_of_date.delta(per_customer.last_order_date, unit="day"),
        frequency="frequency",
        monetary="monetary",
        aov=per_customer.monetary / per_customer.frequency,
        first_order_date="first_order_date",
        last_order_date="last_order_date",
        tenure_days=as_of_date.delta(per_customer.first_order_date, unit="day"),
        order_days="order_days",
        mean_interpurchase_days=ibis.ifelse(
            per_customer.order_days >= 2,
            order_span_days / (per_customer.order_days - 1),
            ibis.null("float64"),
        ),
    ).order_by("customer_id")


def customer_frame(orders: ir.Table, as_of: datetime, window_days: int | None) -> pd.DataFrame:
    """Execute :func:`customer_table` and return it as pandas with the dtypes of
    :data:`CUSTOMER_DTYPES`, sorted by ``customer_id`` with a fresh 0..n-1 index.
    """
    customers = customer_table(orders, as_of, window_days).to_pandas()
    return customers[list(CUSTOMER_DTYPES)].astype(CUSTOMER_DTYPES).reset_index(drop=True)


def split_nonpositive(customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split customers into ``(positive, nonpositive)`` on ``monetary > 0``.

    Customers whose net spend is zero or negative (returns exceeded purchases) are not
    scored; they are returned separately so the notebook can report them.
    Both frames keep the input's columns and index.
    """
    require_columns(customers, ["monetary"])
    positive = customers["monetary"] > 0
    return customers[positive], customers[~positive]


def _check_orders_schema(orders: ir.Table) -> None:
    schema = orders.schema()
    missing = [name for name in ORDER_COLUMNS if name not in schema]
    if missing:
        raise DataError(f"orders table has no column {', '.join(missing)}")
    if not schema["order_date"].is_timestamp():
        raise DataError(f"orders column order_date must be a timestamp, got {schema['order_date']}")
    if not schema["amount"].is_numeric():
        raise DataError(f"orders column amount must be numeric, got {schema['amount']}")


def _naive_timestamp(as_of: datetime) -> datetime:
    if not isinstance(as_of, datetime):
        raise ConfigError(f"as_of must be a date and time, got {as_of!r}")
    if as_of.tzinfo is not None:
        raise ConfigError(f"as_of must have no time zone (order dates have none), got {as_of}")
    return pd.Timestamp(as_of).to_pydatetime()


def _window_length(window_days: Any) -> int:
    if isinstance(window_days, bool) or not isinstance(window_days, int | np.integer):
        raise ConfigError(f"window_days must be a whole number of days, got {window_days!r}")
    if window_days <= 0:
        raise ConfigError(f"window_days must be positive, got {window_days}")
    return int(window_days)


def require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"customer table has no column {', '.join(missing)}")


NONPOSITIVE_SEGMENT = "No net spend"


def with_unscored(scored: pd.DataFrame, nonpositive: pd.DataFrame) -> pd.DataFrame:
    """Every customer of the period: the scored ones, plus the non-positive ones unscored.

    Customers whose net spend is zero or negative get segment ``"No net spend"`` and empty
    scores (nullable integers), so no customer with an order in the period disappears.
    Sorted by ``customer_id``.
    """
    combined = pd.concat([scored, nonpositive.assign(segment=NONPOSITIVE_SEGMENT)], ignore_index=True)
    integer_scores = {column: "Int64" for column in (*SCORE_COLUMNS, "fm_score")}
    return combined.astype(integer_scores).sort_values("customer_id", ignore_index=True)


def scored_only(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers that have scores (positive net spend): what clustering and the value matrix use."""
    return customers[customers["segment"] != NONPOSITIVE_SEGMENT].reset_index(drop=True)
