"""Stage 05's model step: the purchase model chosen on the holdout, the spend model, each customer's
expected value (with its 80% interval) and whether the model may be trusted (methodology section 11).

The models themselves are in analysis_utils.clv (BG/NBD, Gamma-Gamma) and clv_models (the three
purchase models), their check in clv_holdout, the choice in clv_choice, the values in clv_value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils import clv, clv_choice, clv_holdout, clv_models, clv_value
from analysis_utils.errors import ConfigError


@dataclass(frozen=True)
class FutureValue:
    """Stage 05's outcome: per-customer values (``values``: customer_id and :data:`VALUE_COLUMNS`),
    the chosen purchase model's fit on the whole period (``purchase``, a model of
    analysis_utils.clv_models.PURCHASE_MODELS named ``model``), the Gamma-Gamma fit, the chosen
    model's holdout check, the comparison of the models (``choice``, clv_choice.ModelChoice), the
    parameter draws of the intervals (``draws``, None when off), the value basis ("revenue" or
    "margin") and whether the model is trustworthy (and why)."""

    summary: pd.DataFrame
    values: pd.DataFrame
    purchase: clv.Fit
    gamma_gamma: clv.Fit
    holdout: clv_holdout.HoldoutCheck
    spend_correlation: float
    trusted: bool
    reason: str
    spend_trusted: bool = True
    spend_reason: str = ""
    window_start: datetime | None = None  # the period's window start (the models may see earlier history)
    model: str = "bgnbd"
    choice: Any = None
    draws: Any = None
    basis: str = "revenue"

    def model_record(self) -> dict[str, Any]:
        """The fitted parameters and checks as plain values (saved as clv_model.json)."""
        return {
            "model": self.model,
            "purchase": {name: float(value) for name, value in asdict(self.purchase.params).items()},
            "purchase_log_likelihood": self.purchase.log_likelihood,
            "gamma_gamma": {name: float(value) for name, value in asdict(self.gamma_gamma.params).items()},
            "gamma_gamma_log_likelihood": self.gamma_gamma.log_likelihood,
            "customers": self.purchase.n_customers,
            "repeat_buyers": self.gamma_gamma.n_customers,
            "calibration_end": self.holdout.calibration_end.date().isoformat(),
            "holdout_actual": self.holdout.total_actual,
            "holdout_predicted": self.holdout.total_predicted,
            "holdout_relative_error": self.holdout.relative_error,
            "spend_frequency_correlation": self.spend_correlation,
            "trusted": self.trusted,
            "reason": self.reason,
            "spend_trusted": self.spend_trusted,
            "spend_reason": self.spend_reason,
            "value_basis": self.basis,
            "nonpositive_value_customers": nonpositive_value_customers(self.summary),
            "interval_draws": 0 if self.draws is None else len(self.draws),
            "choice": None if self.choice is None else self.choice.record(),
        }


def nonpositive_value_customers(summary: pd.DataFrame) -> int:
    """Customers whose mean value per purchase day is zero or negative (possible on margin): valued
    at zero per future purchase (clv_value.value_per_purchase)."""
    return int(((summary["mean_spend"] <= 0) | (summary["mean_repeat_spend"] <= 0)).sum())


def calibration_end(
    settings: Mapping[str, Any], start: datetime | None, end: datetime, first_order: datetime
) -> datetime:
    """``clv.calibration_end`` when set, else the midpoint (whole days) of the part of the window the
    data cover: from the later of the window start and the first order's day (a window that starts
    before the export does, such as a trailing year over a log of five months, is split in the
    middle of those five months; with the split before the first order no customer would be in the
    calibration part), to the end. An all-history period starts at the first order."""
    first_day = datetime.combine(first_order.date(), datetime.min.time())
    origin = max(start, first_day) if start else first_day
    if settings["calibration_end"]:
        chosen = datetime.fromisoformat(str(settings["calibration_end"]))
    else:
        chosen = origin + timedelta(days=(end - origin).days // 2)
    if not max(start or first_order, first_order) < chosen < end:
        raise ConfigError(
            f"clv.calibration_end {chosen:%Y-%m-%d} must fall inside the period's data "
            f"(after {max(start or first_order, first_order):%Y-%m-%d}, before {end:%Y-%m-%d})"
        )
    return chosen


MAX_SPEND_CORRELATION = 0.3
"""|spend-frequency correlation| from which Gamma-Gamma's independence assumption is not trusted."""


def future_value(
    orders: ir.Table,
    start: datetime | None,
    end: datetime,
    settings: Mapping[str, Any],
    earlier: ir.Table | None = None,
) -> FutureValue:
    """Choose a purchase model on the holdout, fit it and Gamma-Gamma on the period's orders in
    ``[start, end)`` and value every customer.

    ``settings`` is the ``clv`` parameter section. The purchase model is chosen by
    analysis_utils.clv_choice (``clv.model``). It is *trusted* for value when its fit on the whole
    period converged, there are at least ``min_repeat_buyers`` repeat buyers and its
    calibration/holdout total is within ``max_holdout_error`` of what happened. The spend model is
    trusted when its fit converged, q exceeds 1 (finite mean spend) and the spend-frequency
    correlation of repeat buyers is below :data:`MAX_SPEND_CORRELATION` in size; otherwise each
    purchase is valued at the customer's own mean. Values are on margin when every order seen
    carries ``cost`` (:func:`value_basis`). With ``interval_draws`` > 0 every value gets its 80%
    interval (analysis_utils.clv_value). Whether the model may rank churn risk is decided
    separately, on the holdout (analysis_utils.risk).

    ``earlier`` (customer_id, order_date, amount[, cost]: stage 01's orders before the window)
    lets the models see each customer's whole history in the export (left truncation): the clock
    starts at the first purchase in the export, and customers who bought only before the window
    count in the fit (their silence since is what identifies dropout). The split stays in the
    middle of the window (of the part of it the data cover, :func:`calibration_end`).
    """
    time_unit = settings["time_unit"]
    basis = clv.value_basis(orders, earlier)
    seen = orders if earlier is None else orders.select(*earlier.columns).union(earlier)
    since = start if earlier is None else None
    occasions = clv.purchase_occasions(seen, since, end).cache()  # read by the summary and the check
    summary = clv.summarise(occasions, end, time_unit)
    split = calibration_end(settings, start, end, summary["first_purchase"].min().to_pydatetime())
    choice = clv_choice.choose_model(occasions, summary, since, split, end, settings)
    model, purchase = clv_models.PURCHASE_MODELS[choice.chosen], choice.fit.fit
    gamma_gamma = clv.fit_gamma_gamma(summary)
    correlation = clv.spend_frequency_correlation(summary)
    spend_trusted, spend_reason = _spend_trust(gamma_gamma, correlation)
    values = clv_value.customer_values(
        model, purchase.params, gamma_gamma.params, summary, settings, spend_trusted
    )
    draws = None
    if settings["interval_draws"] and not choice.fit.flagged:
        draws = clv_value.parameter_draws(
            model,
            purchase,
            gamma_gamma if spend_trusted else None,
            summary,
            settings["interval_draws"],
            settings["interval_seed"],
        )
        bounds, _ = clv_value.value_intervals(model, draws, gamma_gamma.params, summary, settings)
        values = values.merge(bounds, on="customer_id")
    values = values.reindex(columns=["customer_id", *clv.VALUE_COLUMNS])
    holdout = choice.checks[choice.chosen]
    trusted, reason = _trust(choice.fit, gamma_gamma, holdout, settings)
    return FutureValue(
        summary,
        values,
        purchase,
        gamma_gamma,
        holdout,
        correlation,
        trusted,
        reason,
        spend_trusted,
        spend_reason,
        start,
        choice.chosen,
        choice,
        draws,
        basis,
    )


def _trust(
    purchase, gamma_gamma: clv.Fit, holdout: clv_holdout.HoldoutCheck, settings: Mapping[str, Any]
) -> tuple[bool, str]:
    """``purchase``: the chosen model's convergence report on the whole period."""
    if gamma_gamma.n_customers < settings["min_repeat_buyers"]:
        return False, (
            f"only {gamma_gamma.n_customers:,} customers bought more than once in the period, "
            f"fewer than the {settings['min_repeat_buyers']:,} the model needs"
        )
    if purchase.flagged or not holdout.fit.converged:
        return False, "the purchase model's fit did not converge to a clear optimum"
    error = holdout.relative_error
    if not abs(error) <= settings["max_holdout_error"]:
        return False, (
            f"tested on the second part of the period it predicted {abs(error):.0%} "
            f"{'more' if error > 0 else 'fewer'} purchases than happened (at most "
            f"{settings['max_holdout_error']:.0%} off is accepted)"
        )
    return True, (
        f"{gamma_gamma.n_customers:,} customers bought more than once, and tested on the second part of the "
        f"period it predicted {holdout.total_predicted:,.0f} purchases against {holdout.total_actual:,.0f} "
        f"that happened ({error:+.1%})"
    )


def _spend_trust(gamma_gamma: clv.Fit, correlation: float) -> tuple[bool, str]:
    if not gamma_gamma.converged:
        return False, "the spend model's fit did not converge"
    if gamma_gamma.params.q <= 1:
        return False, "the spend model has no finite mean spend"
    if np.isnan(correlation):
        return False, "too few repeat buyers to check the spend model"
    if abs(correlation) >= MAX_SPEND_CORRELATION:
        return False, (
            f"customers who buy more often also spend {'more' if correlation > 0 else 'less'} per purchase "
            f"(correlation {correlation:+.2f}), which the spend model assumes away"
        )
    return (
        True,
        f"spend per purchase hardly depends on how often customers buy (correlation {correlation:+.2f})",
    )


def value_at_risk(customers: pd.DataFrame, valuable_segments: list[str]) -> pd.DataFrame:
    """High-risk customers (``churn_risk == "high"``, the run's one churn-risk rule) of a valuable
    segment, with ``value_at_risk = clv_if_active``: the value (currency, discounted, over the
    horizon) they would bring if they kept buying, i.e. what winning them back is worth."""
    risky = customers[customers["segment"].isin(valuable_segments) & (customers["churn_risk"] == "high")]
    return risky.assign(value_at_risk=risky["clv_if_active"].fillna(0.0))
