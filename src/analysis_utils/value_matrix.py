"""Stage 04: the customer value matrix, average order value x purchase frequency.

A customer is *high* on an axis when its value is strictly above the split point (a value
equal to the split is low, so the many customers tied at the median frequency of one order
all count as low-frequency). Split points are learned by :class:`ValueMatrix` (median or mean
of the customers it is fitted on) or fixed by parameters, and can be reused on another period.

| quadrant  | AOV  | frequency |
| --------- | ---- | --------- |
| Best      | high | high      |
| Spenders  | high | low       |
| Frequent  | low  | high      |
| Uncertain | low  | low       |
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from analysis_utils.errors import ConfigError, DataError

QUADRANT_ORDER = ("Best", "Spenders", "Frequent", "Uncertain")
SPLITS = ("median", "mean", "fixed")
ARTIFACT_COLUMNS = ("customer_id", "aov", "frequency", "high_aov", "high_frequency", "quadrant")


class ValueMatrix(BaseEstimator):
    """Learn (or take) the AOV and frequency split points; assign each customer a quadrant.

    Parameters
    ----------
    split
        ``"median"`` or ``"mean"`` of the fitted customers, or ``"fixed"`` thresholds
        (``value_matrix.split``).
    aov_threshold
        With ``"fixed"``: AOV above this (currency per order) is high.
    frequency_threshold
        With ``"fixed"``: more orders than this is high.

    Attributes
    ----------
    aov_split_, frequency_split_ : float
        The split points used (currency per order; orders).
    """

    def __init__(
        self, split: str = "median", aov_threshold: float = 0.0, frequency_threshold: float = 1
    ) -> None:
        self.split = split
        self.aov_threshold = aov_threshold
        self.frequency_threshold = frequency_threshold

    def fit(self, customers: pd.DataFrame, y: None = None) -> ValueMatrix:
        """Compute the split points from ``customers`` (or take the fixed thresholds)."""
        if self.split not in SPLITS:
            raise ConfigError(f"value_matrix.split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        _require(customers)
        if self.split == "fixed":
            self.aov_split_, self.frequency_split_ = (
                float(self.aov_threshold),
                float(self.frequency_threshold),
            )
        else:
            statistic = np.median if self.split == "median" else np.mean
            self.aov_split_ = float(statistic(customers["aov"].to_numpy()))
            self.frequency_split_ = float(statistic(customers["frequency"].to_numpy()))
        return self

    def transform(self, customers: pd.DataFrame) -> pd.DataFrame:
        """``customers`` with ``high_aov``, ``high_frequency`` (bool) and ``quadrant`` added."""
        check_is_fitted(self, "aov_split_")
        _require(customers)
        high_aov = customers["aov"].to_numpy() > self.aov_split_
        high_frequency = customers["frequency"].to_numpy() > self.frequency_split_
        names = np.where(
            high_aov,
            np.where(high_frequency, "Best", "Spenders"),
            np.where(high_frequency, "Frequent", "Uncertain"),
        )
        return customers.assign(high_aov=high_aov, high_frequency=high_frequency, quadrant=names)

    def fit_transform(self, customers: pd.DataFrame, y: None = None) -> pd.DataFrame:
        return self.fit(customers).transform(customers)


def matrix_from_params(settings: dict) -> ValueMatrix:
    """An unfitted ValueMatrix configured by the ``value_matrix`` parameters."""
    return ValueMatrix(settings["split"], settings["aov_threshold"], settings["frequency_threshold"])


def _require(customers: pd.DataFrame) -> None:
    missing = [c for c in ("aov", "frequency") if c not in customers.columns]
    if missing:
        raise DataError(f"customer table has no column {', '.join(missing)} for the value matrix")
    if customers.empty:
        raise DataError("no customers to place on the value matrix")


def quadrant_summary(placed: pd.DataFrame) -> pd.DataFrame:
    """Per quadrant (in the order Best, Spenders, Frequent, Uncertain): customers, shares, revenue,
    median AOV (currency per order) and median frequency (orders). Empty quadrants show zeros."""
    grouped = placed.groupby("quadrant").agg(
        customers=("customer_id", "size"),
        revenue=("monetary", "sum"),
        median_aov=("aov", "median"),
        median_frequency=("frequency", "median"),
    )
    table = grouped.reindex(list(QUADRANT_ORDER)).fillna({"customers": 0, "revenue": 0.0})
    table = table.assign(customers=table["customers"].astype("int64"))
    table.insert(1, "share_customers", table["customers"] / table["customers"].sum())
    table.insert(3, "share_revenue", table["revenue"] / table["revenue"].sum())
    return table.rename_axis("quadrant").reset_index()
