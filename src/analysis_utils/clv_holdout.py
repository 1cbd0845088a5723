"""Calibration/holdout check of a purchase model (methodology section 11.3): the calibration
customers with what they bought after the split, the check's totals and errors, the comparison by
calibration frequency and the cumulative tracking curve. Each purchase model is checked this way
(analysis_utils.clv_choice); stage 05 reports the chosen model's check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils import clv

FREQUENCY_BUCKETS = 7  # calibration plot: x = 0, 1, ..., 6 and "7+"


@dataclass(frozen=True)
class HoldoutCheck:
    """Calibration/holdout validation of a purchase model (methodology section 11.3).

    ``fit``: the model fitted on the calibration part. ``customers``: customer_id, x, t_x, T
    (calibration), predicted and actual holdout occasions. ``by_frequency``: per calibration x
    (0..6, "7+"): customers, mean actual, mean predicted. ``tracking``: per time unit since the
    window start: cumulative repeat occasions of the calibration customers, actual and predicted.
    """

    calibration_end: datetime
    holdout_length: float
    fit: clv.Fit
    customers: pd.DataFrame
    by_frequency: pd.DataFrame
    tracking: pd.DataFrame

    @property
    def total_actual(self) -> float:
        return float(self.customers["actual"].sum())

    @property
    def total_predicted(self) -> float:
        return float(self.customers["predicted"].sum())

    @property
    def mean_absolute_error(self) -> float:
        """Mean over calibration customers of |predicted - actual| holdout purchases."""
        return float((self.customers["predicted"] - self.customers["actual"]).abs().mean())

    @property
    def correlation(self) -> float:
        """Pearson correlation of predicted and actual holdout purchases across customers."""
        return float(np.corrcoef(self.customers["predicted"], self.customers["actual"])[0, 1])

    @property
    def relative_error(self) -> float:
        """(predicted - actual) / actual of the holdout total; NaN when nothing was bought."""
        actual = self.total_actual
        return (self.total_predicted - actual) / actual if actual else float("nan")


def holdout_customers(
    occasions: ir.Table, calibration_end: datetime, end: datetime, time_unit: str
) -> pd.DataFrame:
    """The calibration summary (:func:`summarise` of the occasions before ``calibration_end``) with
    each customer's purchase occasions in ``[calibration_end, end)``, ``actual``, and the time of
    the last of them since their first purchase, ``holdout_last`` (NaN when none).

    ``occasions`` is :func:`purchase_occasions` of ``[start, end)``: a customer first seen before
    the split has the same first day in the calibration range as in the whole range; customers
    first seen after the split are not in the table.
    """
    split_day = calibration_end.date()
    calibration = clv.summarise(occasions.filter(occasions.day < split_day), calibration_end, time_unit)
    holdout = occasions.filter(occasions.day >= split_day)
    actual = (
        holdout.group_by("customer_id")
        .aggregate(actual=holdout.count(), last_day=holdout.day.max())
        .to_pandas()
    )
    customers = calibration.merge(actual, on="customer_id", how="left")
    customers["actual"] = customers["actual"].fillna(0).astype("int64")
    since_first = pd.to_datetime(customers["last_day"]) - customers["first_purchase"]
    customers["holdout_last"] = since_first.dt.days / clv.days_per_unit(time_unit)
    return customers.drop(columns="last_day")


def by_frequency(customers: pd.DataFrame) -> pd.DataFrame:
    """Per calibration x (0..6, "7+"): customers, mean actual and mean predicted holdout purchases."""
    bucket = customers["x"].clip(upper=FREQUENCY_BUCKETS)
    labels = [str(k) for k in range(FREQUENCY_BUCKETS)] + [f"{FREQUENCY_BUCKETS}+"]
    table = customers.groupby(bucket).agg(
        customers=("x", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    table.index = [labels[int(k)] for k in table.index]
    table.index.name = "calibration_repeat_purchases"
    return table.reset_index()


def tracking(
    occasions: ir.Table,
    calibration: pd.DataFrame,
    expected_new,
    start: datetime | None,
    calibration_end: datetime,
    end: datetime,
    unit_days: float,
) -> pd.DataFrame:
    """Cumulative repeat occasions per time unit since the window start, actual and predicted, of
    the calibration customers; ``expected_new(t)`` is a fitted model's E[X(t)] for a customer just
    acquired (array in, array out), summed over the cohorts of first purchase."""
    origin = pd.Timestamp((start or calibration["first_purchase"].min()).date())
    n_units = int(np.ceil((pd.Timestamp(end.date()) - origin).days / unit_days))
    repeats = occasions.filter(
        (occasions.day > occasions.first_day) & (occasions.first_day < calibration_end.date())
    )
    repeat_days = repeats.group_by("day").aggregate(purchases=repeats.count()).to_pandas()
    unit_index = ((pd.to_datetime(repeat_days["day"]) - origin).dt.days // unit_days).astype("int64")
    actual = np.bincount(unit_index, weights=repeat_days["purchases"], minlength=n_units)[:n_units]
    cohorts = ((calibration["first_purchase"] - origin).dt.days / unit_days).value_counts()
    ends = np.arange(1, n_units + 1, dtype="float64")
    since_first = np.clip(ends[:, None] - cohorts.index.to_numpy()[None, :], 0, None)
    predicted = expected_new(since_first) @ cohorts.to_numpy(dtype="float64")
    calibration_units = (pd.Timestamp(calibration_end.date()) - origin).days / unit_days
    return pd.DataFrame(
        {
            "unit": ends.astype("int64"),
            "actual": np.cumsum(actual),
            "predicted": predicted,
            "holdout": ends > calibration_units,
        }
    )
