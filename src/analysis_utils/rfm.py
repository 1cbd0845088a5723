"""RFM staging and scoring: the customer table, tie-safe R/F/M scores, value types, Pareto.

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

Scores are documented on :class:`RFMScorer`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from analysis_utils import paths
from analysis_utils.engine import exact_sum
from analysis_utils.errors import ConfigError, DataError

METRIC_COLUMNS: dict[str, str] = {
    "recency": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
}
"""Scored metric -> column of the customer table holding it."""

REVERSED_METRICS = frozenset({"recency"})
"""Metrics where a smaller value is better (fewer days since the last order)."""

STRATEGIES = ("quantile", "fixed", "saved")
N_BINS_RANGE = (3, 10)
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
    _require_columns(customers, ["monetary"])
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


# --------------------------------------------------------------------------- scoring


class RFMScorer(TransformerMixin, BaseEstimator):
    """Score recency, frequency and monetary from 1 (worst) to ``n_bins`` (best).

    Each metric gets sorted inner edges ``e_1 < ... < e_(m-1)`` that cut it into ``m``
    bins. A value's bin is the number of edges *strictly below* it, so a bin is
    ``(e_(j-1), e_j]`` (upper edge included) and equal values always share a bin.
    Recency is reversed: the bin with the fewest days gets the highest score.

    Edges by strategy (per metric):

    ``"quantile"`` (tie-aware balanced cuts)
        The edges are distinct values of the metric chosen from its sorted distinct
        values and their counts. With ``k <= n_bins`` distinct values each value is its
        own bin. Otherwise edge ``i`` (1..n_bins-1) is the distinct value whose
        cumulative count is closest to ``placed + (N - placed) / (n_bins - i + 1)``,
        where ``placed`` customers already sit in lower bins (ties in distance go to the
        lower value), under the constraint that every remaining bin keeps at least one
        distinct value. So a value held by half the customers forms one bin on its own
        and the remaining customers are shared as evenly as their ties allow; with
        ``k >= n_bins`` all ``n_bins`` scores are used.
    ``"fixed"``
        Business thresholds from parameters: exactly ``n_bins - 1`` increasing edges, e.g.
        recency ``[30, 90, 180, 365]`` days: recency <= 30 scores 5, > 365 scores 1.
    ``"saved"``
        Edges learned by an earlier run (:meth:`to_dict`), up to ``n_bins - 1`` of them.

    Scores from bins: when ``m`` bins exist, bin ``b`` (0..m-1) gets
    ``1 + round_half_up(b * (n_bins - 1) / (m - 1))`` (reversed for recency), so scores
    always span 1..n_bins; with ``m == n_bins`` this is simply ``b + 1``. With fewer
    distinct values than bins the scores are spread out (2 values -> 1 and n_bins), and a
    constant metric scores ``1 + n_bins // 2`` for everyone.

    Guarantees: scores in 1..n_bins, monotone in the metric (recency reversed), equal
    values equal scores, no dependence on row order, ``fit(t).transform(t) ==
    fit_transform(t)``, and a scorer rebuilt with :meth:`from_dict` scores identically.

    Parameters
    ----------
    n_bins
        Number of score levels per metric, 3..10 (``rfm.n_bins``).
    strategy
        One of ``"quantile"``, ``"fixed"``, ``"saved"`` for all metrics, or a mapping
        ``{"recency": ..., "frequency": ..., "monetary": ...}``; metrics left out of the
        mapping use ``"quantile"`` (``rfm.strategy``).
    thresholds
        Mapping metric -> inner edges for every ``"fixed"`` or ``"saved"`` metric, in the
        metric's unit: days, orders, client currency (``rfm.thresholds``).
    weights
        Weights of (R, F, M) in ``rfm_score``; non-negative, positive sum (``rfm.weights``).

    Attributes
    ----------
    bin_edges_ : dict[str, numpy.ndarray]
        Metric -> sorted inner edges actually used (float64).
    n_distinct_bins_ : dict[str, int]
        Metric -> number of distinct scores the edges can produce (``len(edges) + 1``).
    strategy_ : dict[str, str]
        Metric -> strategy that produced its edges.
    """

    def __init__(
        self,
        n_bins: int = 5,
        strategy: str | Mapping[str, str] = "quantile",
        thresholds: Mapping[str, Sequence[float]] | None = None,
        weights: Sequence[float] = (1, 1, 1),
    ) -> None:
        self.n_bins = n_bins
        self.strategy = strategy
        self.thresholds = thresholds
        self.weights = weights

    def fit(self, customers: pd.DataFrame, y: None = None) -> RFMScorer:
        """Validate the parameters and learn the edges of every ``"quantile"`` metric.

        Parameters
        ----------
        customers
            Customer table with ``recency_days``, ``frequency`` and ``monetary`` (> 0,
            see :func:`split_nonpositive`).
        y
            Ignored (scikit-learn convention).
        """
        n_bins = _checked_n_bins(self.n_bins)
        _check_weights(self.weights)
        strategies = _checked_strategies(self.strategy)
        thresholds = _checked_thresholds(self.thresholds, strategies, n_bins)
        if "quantile" in strategies.values():
            _check_metric_values(customers)
        self.strategy_ = strategies
        self.bin_edges_ = {
            metric: thresholds[metric]
            if metric in thresholds
            else balanced_edges(customers[METRIC_COLUMNS[metric]].to_numpy(), n_bins)
            for metric in METRIC_COLUMNS
        }
        self.n_distinct_bins_ = {metric: len(e) + 1 for metric, e in self.bin_edges_.items()}
        return self

    def transform(self, customers: pd.DataFrame) -> pd.DataFrame:
        """Return ``customers`` with the score columns added (a new frame, same index).

        Added columns: ``r_score``, ``f_score``, ``m_score`` (int64, 1..n_bins); ``cell``
        (str, ``"543"`` = R5 F4 M3, or ``"10-4-3"`` when n_bins is 10); ``fm_score``
        (int64, ``round_half_up((f_score + m_score) / 2)``); ``rfm_score`` (float64, the
        weighted mean ``(w_r*r + w_f*f + w_m*m) / (w_r + w_f + w_m)``, in score units).
        """
        check_is_fitted(self, "bin_edges_")
        _check_metric_values(customers)
        r, f, m = (
            score_values(
                customers[METRIC_COLUMNS[metric]].to_numpy(),
                self.bin_edges_[metric],
                self.n_bins,
                reverse=metric in REVERSED_METRICS,
            )
            for metric in METRIC_COLUMNS
        )
        w_r, w_f, w_m = (float(w) for w in self.weights)
        return customers.assign(
            r_score=r,
            f_score=f,
            m_score=m,
            cell=pd.Series(cell_labels(r, f, m, self.n_bins), index=customers.index, dtype="str"),
            fm_score=(f + m + 1) // 2,
            rfm_score=(w_r * r + w_f * f + w_m * m) / (w_r + w_f + w_m),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fitted edges as plain JSON-able data, for reuse on another period."""
        check_is_fitted(self, "bin_edges_")
        return {
            "n_bins": int(self.n_bins),
            "weights": [float(w) for w in self.weights],
            "strategy": dict(self.strategy_),
            "edges": {metric: edges.tolist() for metric, edges in self.bin_edges_.items()},
        }

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> RFMScorer:
        """Rebuild a fitted scorer (strategy ``"saved"``) from :meth:`to_dict` output."""
        missing = [key for key in ("n_bins", "weights", "edges") if key not in saved]
        if missing:
            raise ConfigError(f"saved RFM thresholds have no {', '.join(missing)}")
        scorer = cls(
            n_bins=saved["n_bins"],
            strategy="saved",
            thresholds=saved["edges"],
            weights=tuple(saved["weights"]),
        )
        return scorer.fit(pd.DataFrame())


def balanced_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner edges, taken from the distinct values, that cut ``values`` into balanced bins.

    See the ``"quantile"`` strategy of :class:`RFMScorer` for the rule. Loops over the
    ``n_bins - 1`` edges only, never over rows.
    """
    distinct, counts = np.unique(values, return_counts=True)
    distinct = distinct.astype("float64")
    if len(distinct) <= n_bins:
        return distinct[:-1]
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    cut_indices: list[int] = []
    last_cut = -1
    for edge_number in range(1, n_bins):
        placed = cumulative[last_cut] if last_cut >= 0 else 0
        target = placed + (total - placed) / (n_bins - edge_number + 1)
        above = int(np.searchsorted(cumulative, target, side="left"))
        below = above - 1
        closest = below if below >= 0 and target - cumulative[below] <= cumulative[above] - target else above
        highest_allowed = len(distinct) - 1 - (n_bins - edge_number)
        last_cut = min(max(closest, last_cut + 1), highest_allowed)
        cut_indices.append(last_cut)
    return distinct[cut_indices]


def score_values(values: np.ndarray, edges: np.ndarray, n_bins: int, *, reverse: bool) -> np.ndarray:
    """Scores 1..n_bins (int64) of ``values`` given inner ``edges`` (see :class:`RFMScorer`)."""
    bins = np.searchsorted(edges, values, side="left")
    return bin_scores(bins, len(edges) + 1, n_bins, reverse=reverse)


def bin_scores(bins: np.ndarray, n_bins_formed: int, n_bins: int, *, reverse: bool) -> np.ndarray:
    """Score of bin index ``bins`` (0-based) when ``n_bins_formed`` bins exist."""
    bins = np.asarray(bins, dtype="int64")
    if n_bins_formed == 1:
        return np.full(bins.shape, 1 + n_bins // 2, dtype="int64")
    steps = n_bins_formed - 1 - bins if reverse else bins
    # 1 + round_half_up(steps * (n_bins - 1) / (n_bins_formed - 1)), in exact integers
    return 1 + (2 * steps * (n_bins - 1) + n_bins_formed - 1) // (2 * (n_bins_formed - 1))


def cell_labels(r: np.ndarray, f: np.ndarray, m: np.ndarray, n_bins: int) -> np.ndarray:
    """RFM cell names: ``"543"`` for scores 5, 4, 3; ``"10-4-3"`` style when n_bins is 10."""
    separator = "-" if n_bins >= 10 else ""
    levels = range(n_bins + 1)
    names = np.array(
        [f"{a}{separator}{b}{separator}{c}" for a in levels for b in levels for c in levels],
        dtype=object,
    )
    size = n_bins + 1
    return names[(np.asarray(r) * size + np.asarray(f)) * size + np.asarray(m)]


def bin_edges_table(scorer: RFMScorer) -> pd.DataFrame:
    """The edges a fitted scorer uses, one row per metric and reachable score.

    Columns: ``metric``, ``column``, ``strategy``, ``score``, ``greater_than`` and
    ``at_most`` (the bin is ``greater_than < value <= at_most``; NaN = open end), in the
    metric's unit (days, orders, client currency). Rows sorted by metric, best score first.
    """
    check_is_fitted(scorer, "bin_edges_")
    rows = []
    for metric, edges in scorer.bin_edges_.items():
        bins = np.arange(len(edges) + 1)
        scores = bin_scores(bins, len(bins), scorer.n_bins, reverse=metric in REVERSED_METRICS)
        bounds = np.concatenate([[np.nan], edges, [np.nan]])
        rows.append(
            pd.DataFrame(
                {
                    "metric": metric,
                    "column": METRIC_COLUMNS[metric],
                    "strategy": scorer.strategy_[metric],
                    "score": scores,
                    "greater_than": bounds[:-1],
                    "at_most": bounds[1:],
                }
            ).sort_values("score", ascending=False)
        )
    return pd.concat(rows, ignore_index=True)


INTEGER_METRICS = frozenset({"recency", "frequency"})  # whole days, whole orders


def score_boundaries(scorer: RFMScorer, currency: str) -> pd.DataFrame:
    """For the client: which values earn each score, one row per score (best first), one column
    per metric with its unit: "11 to 44" days, "12 or more" orders, "over 9.89, up to 64.66" of
    the currency. A score no customer can reach (fewer bins formed) reads "not used"."""
    table = bin_edges_table(scorer)
    headings = {
        "recency": "Days since last order (R)",
        "frequency": "Orders in the period (F)",
        "monetary": f"Spend in the period, {currency} (M)",
    }
    ranges = table.assign(
        range=[
            _value_range(row.greater_than, row.at_most, row.metric in INTEGER_METRICS)
            for row in table.itertuples()
        ]
    )
    wide = ranges.pivot_table(index="score", columns="metric", values="range", aggfunc="first")
    wide = wide.reindex(index=range(scorer.n_bins, 0, -1), columns=list(scorer.bin_edges_)).fillna("not used")
    return wide.rename(columns=headings).rename_axis(index="Score", columns=None).reset_index()


def _value_range(above: float, at_most: float, whole: bool) -> str:
    """Values in ``(above, at_most]`` in words (NaN = open end); ``whole``: integer values only."""
    if whole:
        first = None if np.isnan(above) else int(np.floor(above)) + 1
        last = None if np.isnan(at_most) else int(np.floor(at_most))
        if first is None:
            return f"{last:,} or fewer" if last is not None else "any"
        if last is None:
            return f"{first:,} or more"
        return f"{first:,}" if first == last else f"{first:,} to {last:,}"
    if np.isnan(above):
        return f"up to {at_most:,.2f}" if not np.isnan(at_most) else "any"
    if np.isnan(at_most):
        return f"over {above:,.2f}"
    return f"over {above:,.2f}, up to {at_most:,.2f}"


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


def _checked_n_bins(n_bins: Any) -> int:
    low, high = N_BINS_RANGE
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer):
        raise ConfigError(f"rfm.n_bins must be a whole number from {low} to {high}, got {n_bins!r}")
    if not low <= n_bins <= high:
        raise ConfigError(f"rfm.n_bins must be from {low} to {high}, got {n_bins}")
    return int(n_bins)


def _check_weights(weights: Any) -> None:
    try:
        values = np.asarray(weights, dtype="float64")
    except (TypeError, ValueError) as error:
        raise ConfigError(f"rfm.weights must be three numbers, got {weights!r}") from error
    if values.shape != (3,) or not np.isfinite(values).all():
        raise ConfigError(f"rfm.weights must be three finite numbers (R, F, M), got {weights!r}")
    if (values < 0).any() or values.sum() <= 0:
        raise ConfigError(f"rfm.weights must be non-negative with a positive sum, got {weights!r}")


def _checked_strategies(strategy: Any) -> dict[str, str]:
    if isinstance(strategy, str):
        chosen = dict.fromkeys(METRIC_COLUMNS, strategy)
    elif isinstance(strategy, Mapping):
        unknown = sorted(set(strategy) - set(METRIC_COLUMNS))
        if unknown:
            raise ConfigError(
                f"rfm.strategy names unknown metric {', '.join(map(str, unknown))}; "
                f"use {', '.join(METRIC_COLUMNS)}"
            )
        chosen = {metric: strategy.get(metric, "quantile") for metric in METRIC_COLUMNS}
    else:
        raise ConfigError(f"rfm.strategy must be a name or a mapping per metric, got {strategy!r}")
    for metric, name in chosen.items():
        if name not in STRATEGIES:
            raise ConfigError(f"rfm.strategy.{metric} must be one of {', '.join(STRATEGIES)}, got {name!r}")
    return chosen


def _checked_thresholds(
    thresholds: Mapping[str, Sequence[float]] | None, strategies: dict[str, str], n_bins: int
) -> dict[str, np.ndarray]:
    thresholds = dict(thresholds or {})
    unknown = sorted(set(thresholds) - set(METRIC_COLUMNS))
    if unknown:
        raise ConfigError(f"rfm.thresholds names unknown metric {', '.join(map(str, unknown))}")
    checked = {}
    for metric, strategy in strategies.items():
        name = f"rfm.thresholds.{metric}"
        if strategy == "quantile":
            if metric in thresholds:
                raise ConfigError(f"{name} is set but rfm.strategy.{metric} is 'quantile'")
            continue
        if metric not in thresholds:
            raise ConfigError(f"{name} is required when rfm.strategy.{metric} is '{strategy}'")
        try:
            edges = np.asarray(thresholds[metric], dtype="float64")
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{name} must be a list of numbers") from error
        if edges.ndim != 1 or not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
            raise ConfigError(f"{name} must be a list of strictly increasing finite numbers")
        wanted = f"{n_bins - 1}" if strategy == "fixed" else f"at most {n_bins - 1}"
        if len(edges) > n_bins - 1 or (strategy == "fixed" and len(edges) != n_bins - 1):
            raise ConfigError(f"{name} needs {wanted} edges for {n_bins} bins, got {len(edges)}")
        checked[metric] = edges
    return checked


def _check_metric_values(customers: pd.DataFrame) -> None:
    columns = list(METRIC_COLUMNS.values())
    _require_columns(customers, columns)
    if customers.empty:
        raise DataError("no customers to score")
    for column in columns:
        missing = int(customers[column].isna().sum())
        if missing:
            raise DataError(f"customer column {column} has {missing} missing values")
    nonpositive = int((customers["monetary"] <= 0).sum())
    if nonpositive:
        raise DataError(
            f"monetary: {nonpositive} customers have monetary <= 0; "
            "score only the positive ones from split_nonpositive()"
        )


# --------------------------------------------------------------------------- value types


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
    _require_columns(customers, list(METRIC_COLUMNS.values()))
    metrics = customers[list(METRIC_COLUMNS.values())]
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


# --------------------------------------------------------------------------- Pareto


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
    _require_columns(customers, ["monetary"])
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


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"customer table has no column {', '.join(missing)}")


# --------------------------------------------------------------------------- stage glue


def scorer_from_params(rfm_params: Mapping[str, Any]) -> RFMScorer:
    """The scorer the ``rfm`` parameters describe: unfitted, or fitted from saved thresholds.

    With any metric's strategy ``"saved"``, the edges, ``n_bins`` and weights all come from
    the JSON file ``rfm.saved_thresholds`` (written by an earlier run as
    ``rfm_thresholds.json``); otherwise the scorer learns quantile edges or uses ``rfm.thresholds``.
    """
    strategy = rfm_params["strategy"]
    strategies = strategy.values() if isinstance(strategy, Mapping) else [strategy]
    if "saved" in strategies:
        path = paths.resolve(rfm_params["saved_thresholds"])
        if not path.is_file():
            raise ConfigError(f"{path}: saved RFM thresholds not found (rfm.saved_thresholds)")
        return RFMScorer.from_dict(json.loads(path.read_text(encoding="utf-8")))
    return RFMScorer(
        n_bins=rfm_params["n_bins"],
        strategy=dict(strategy) if isinstance(strategy, Mapping) else strategy,
        thresholds=dict(rfm_params["thresholds"]) or None,
        weights=tuple(rfm_params["weights"]),
    )


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
