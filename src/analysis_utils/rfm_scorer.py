"""RFM scores: tie-safe 1..n_bins scores of recency, frequency and monetary, the 125 cells, the
score edges in a table and in words, and the scorer the ``rfm`` parameters describe.

Stage 02's scorer (:class:`RFMScorer`, fit/transform in the scikit-learn style, so one period's
edges can be frozen and reused for another); definitions in docs/methodology.md and on the class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from analysis_utils import paths, rfm
from analysis_utils.errors import ConfigError, DataError

REVERSED_METRICS = frozenset({"recency"})
"""Metrics where a smaller value is better (fewer days since the last order)."""

STRATEGIES = ("quantile", "fixed", "saved")

N_BINS_RANGE = (3, 10)


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
            else balanced_edges(customers[rfm.METRIC_COLUMNS[metric]].to_numpy(), n_bins)
            for metric in rfm.METRIC_COLUMNS
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
                customers[rfm.METRIC_COLUMNS[metric]].to_numpy(),
                self.bin_edges_[metric],
                self.n_bins,
                reverse=metric in REVERSED_METRICS,
            )
            for metric in rfm.METRIC_COLUMNS
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
                    "column": rfm.METRIC_COLUMNS[metric],
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
        chosen = dict.fromkeys(rfm.METRIC_COLUMNS, strategy)
    elif isinstance(strategy, Mapping):
        unknown = sorted(set(strategy) - set(rfm.METRIC_COLUMNS))
        if unknown:
            raise ConfigError(
                f"rfm.strategy names unknown metric {', '.join(map(str, unknown))}; "
                f"use {', '.join(rfm.METRIC_COLUMNS)}"
            )
        chosen = {metric: strategy.get(metric, "quantile") for metric in rfm.METRIC_COLUMNS}
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
    unknown = sorted(set(thresholds) - set(rfm.METRIC_COLUMNS))
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
    columns = list(rfm.METRIC_COLUMNS.values())
    rfm.require_columns(customers, columns)
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
