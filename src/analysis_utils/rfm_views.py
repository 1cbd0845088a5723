"""Views of the scored customer table: the eight value types, the Pareto curve, the R x F grid, and
the sentences that say what R, F and M mean in a run and how many customers were scored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from analysis_utils import rfm
from analysis_utils.errors import ConfigError, DataError

VALUE_TYPE_NAMES: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "Important value",
    (True, False, True): "Important development",
    (False, True, True): "Important retention",
    (False, False, True): "Important recall",
    (True, True, False): "General value",
    (True, False, False): "General development",
    (False, True, False): "General retention",
    (False, False, False): "General recall",
}
"""(R high, F high, M high) -> value type. R high means RECENT (few recency days)."""


def value_types(customers: pd.DataFrame, split: Literal["mean", "median"] = "mean") -> pd.Series:
    """The 8 customer value types from R, F and M against the table's mean (or median).

    R is high when the customer is RECENT: ``recency_days`` strictly below the split.
    F is high when ``frequency`` is strictly above its split, M when ``monetary`` is.
    A value equal to the split counts as low. Names are in :data:`VALUE_TYPE_NAMES`.

    Parameters
    ----------
    customers
        Customer table with ``recency_days`` (days), ``frequency`` (orders) and
        ``monetary`` (client currency); normally the positive customers only.
    split
        ``"mean"`` or ``"median"`` of each metric over ``customers`` (``rfm.value_type_split``).

    Returns
    -------
    pandas.Series
        ``value_type`` (str), same index as ``customers``.
    """
    if split not in ("mean", "median"):
        raise ConfigError(f"rfm.value_type_split must be 'mean' or 'median', got {split!r}")
    rfm.require_columns(customers, list(rfm.METRIC_COLUMNS.values()))
    metrics = customers[list(rfm.METRIC_COLUMNS.values())]
    splits = metrics.agg(split)
    r_high = (metrics["recency_days"] < splits["recency_days"]).to_numpy()
    f_high = (metrics["frequency"] > splits["frequency"]).to_numpy()
    m_high = (metrics["monetary"] > splits["monetary"]).to_numpy()
    names = np.array(
        [VALUE_TYPE_NAMES[(bool(r), bool(f), bool(m))] for r in (0, 1) for f in (0, 1) for m in (0, 1)],
        dtype=object,
    )
    codes = 4 * r_high.astype("int64") + 2 * f_high + m_high
    return pd.Series(names[codes], index=customers.index, dtype="str", name="value_type")


def pareto(customers: pd.DataFrame, top_share: float = 0.2) -> tuple[float, pd.DataFrame]:
    """Share of revenue from the top customers, and the cumulative revenue curve.

    Customers are ranked by ``monetary`` (client currency), highest first; the top group
    is the ``max(1, round(top_share * N))`` highest-ranked customers. Ties at the boundary
    do not matter: tied customers contribute the same amount whichever is taken.

    Parameters
    ----------
    customers
        Customer table with ``monetary`` > 0 (see :func:`split_nonpositive`).
    top_share
        Share of customers in the top group, in (0, 1] (``rfm.pareto_top_share``).

    Returns
    -------
    share_of_revenue_from_top : float
        In [0, 1].
    curve : pandas.DataFrame
        ``customer_rank`` (1..N), ``share_customers`` (rank / N) and ``share_revenue``
        (cumulative revenue of the first ``rank`` customers / total revenue).
    """
    if isinstance(top_share, bool) or not isinstance(top_share, int | float) or not 0 < top_share <= 1:
        raise ConfigError(f"rfm.pareto_top_share must be in (0, 1], got {top_share!r}")
    rfm.require_columns(customers, ["monetary"])
    if customers.empty:
        raise DataError("no customers for the Pareto curve")
    nonpositive = int((customers["monetary"] <= 0).sum())
    if nonpositive:
        raise DataError(
            f"monetary: {nonpositive} customers have monetary <= 0; "
            "pass the positive ones from split_nonpositive()"
        )
    revenue = np.sort(customers["monetary"].to_numpy(dtype="float64"))[::-1]
    cumulative_share = np.cumsum(revenue) / revenue.sum()
    n_customers = len(revenue)
    rank = np.arange(1, n_customers + 1)
    top_count = max(1, round(top_share * n_customers))
    curve = pd.DataFrame(
        {
            "customer_rank": rank,
            "share_customers": rank / n_customers,
            "share_revenue": cumulative_share,
        }
    )
    return float(cumulative_share[top_count - 1]), curve


def describe_scored(customers: int, scored: int, nonpositive: int) -> str:
    """Markdown for the client: how many customers were scored, and how many were not and why."""
    text = f"**{customers:,} customers** ordered in the period; **{scored:,}** are scored."
    if nonpositive:
        several = nonpositive != 1
        text += (
            f" {nonpositive:,} customer{'s' if several else ''} whose returns matched or exceeded"
            f" {'their' if several else 'the'} purchases (no net spend) {'are' if several else 'is'} listed"
            " apart, without scores."
        )
    return text


def describe_definitions(
    as_of: datetime, window_days: int | None, has_order_ids: bool, currency: str, n_bins: int
) -> str:
    """Markdown stating, from the resolved parameters, exactly what R, F and M mean in this run."""
    window = (
        f"orders dated from {as_of - timedelta(days=window_days):%Y-%m-%d} (inclusive) to "
        f"{as_of:%Y-%m-%d} (exclusive), a window of {window_days} days"
        if window_days
        else f"all orders before {as_of:%Y-%m-%d} (exclusive)"
    )
    order = (
        "one order number of your system"
        if has_order_ids
        else "one customer's purchases on one calendar day (the export has no order id)"
    )
    return "\n".join(
        [
            f"- **Period:** {window}.",
            f"- **Order:** {order}; returns are netted into the order they return.",
            f"- **Recency (R):** whole days from the customer's last order date to {as_of:%Y-%m-%d};"
            " an order the day before scores recency 1. Fewer days = higher R score.",
            "- **Frequency (F):** number of distinct orders in the period.",
            f"- **Monetary (M):** **total** net spend in the period ({currency}), not the mean per"
            " order (that is the average order value, AOV = M / F).",
            f"- **Scores:** 1 (worst) to {n_bins} (best) per metric; equal values always share a"
            " score; customers with zero or negative net spend are listed apart, not scored.",
        ]
    )


def rf_grid(scored: pd.DataFrame, value: Literal["customers", "mean_monetary"]) -> pd.DataFrame:
    """R score (rows, high first) x F score (columns) table of customer counts or mean monetary."""
    if value == "customers":
        grid = scored.pivot_table(index="r_score", columns="f_score", values="customer_id", aggfunc="count")
    else:
        grid = scored.pivot_table(index="r_score", columns="f_score", values="monetary", aggfunc="mean")
    return grid.sort_index(ascending=False)
