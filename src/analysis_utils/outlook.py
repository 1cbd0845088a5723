"""Future value in words and tables: what notebooks 05 (future value) and 09 (client report) say
about the lifetime-value model, generated from its numbers (methodology section 11)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis_utils import clv, clv_holdout, clv_models, clv_stage, clv_value, privacy


def with_values(customers: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``customers`` with the model's columns (clv.VALUE_COLUMNS) joined on customer_id, replacing
    any earlier copy; customers the model does not see (no positive purchase day) get missing values."""
    kept = customers.drop(columns=[c for c in clv.VALUE_COLUMNS if c in customers.columns])
    joined = [c for c in clv.VALUE_COLUMNS if c in values.columns]  # a run saved before a column existed
    return kept.merge(values[["customer_id", *joined]], on="customer_id", how="left")


PARAMETER_MEANINGS = {
    "r": "shape of the purchase rates across customers",
    "alpha": "scale of the purchase rates: mean rate r/alpha = {rate:.3f} per {unit}",
    "a": "dropout after a purchase ~ Beta(a, b)",
    "b": "mean dropout probability per purchase a/(a+b) = {dropout:.3f}",
    "s": "shape of the dropout rates across customers",
    "beta": "scale of the dropout rates: mean dropout rate s/beta = {death:.4f} per {unit}",
}
"""What each purchase-model parameter means ({...}: filled from the fit)."""


def parameter_table(result: clv_stage.FutureValue, time_unit: str) -> pd.DataFrame:
    """Fitted parameters of the chosen purchase model and of Gamma-Gamma, with what each means, in
    the time unit of the fit."""
    model = clv_models.PURCHASE_MODELS[result.model]
    params, gg = vars(result.purchase.params), result.gamma_gamma.params
    filled = {
        "rate": params["r"] / params["alpha"],
        "unit": time_unit.removesuffix("s"),
        "dropout": model.mean_dropout(result.purchase.params),
        "death": params["s"] / params["beta"] if "s" in params else np.nan,
    }
    rows = [
        (model.label, name, value, PARAMETER_MEANINGS[name].format(**filled))
        for name, value in params.items()
    ]
    rows += [
        ("Gamma-Gamma", "p", gg.p, "shape of a customer's spend per purchase"),
        ("Gamma-Gamma", "q", gg.q, "shape of the spend level across customers (q > 1 for a finite mean)"),
        (
            "Gamma-Gamma",
            "gamma",
            gg.gamma,
            f"scale: mean spend per purchase p gamma/(q-1) = {gg.population_mean_spend:,.2f}",
        ),
    ]
    return pd.DataFrame(rows, columns=["model", "parameter", "estimate", "meaning"])


def holdout_sentences(check: clv_holdout.HoldoutCheck, time_unit: str) -> str:
    """How well the model fitted before the split predicted the purchases after it."""
    error = check.relative_error
    verdict = "close to" if abs(error) <= 0.1 else ("above" if error > 0 else "below")
    return (
        f"Fitted only on orders before {check.calibration_end:%Y-%m-%d}, the model predicted "
        f"{check.total_predicted:,.0f} purchases in the {check.holdout_length:,.0f} {time_unit} after it; "
        f"{check.total_actual:,.0f} happened ({error:+.1%}), {verdict} the truth. Customer by customer, "
        f"predicted and actual purchases correlate at {check.correlation:.2f}; the prediction is off by "
        f"{check.mean_absolute_error:.2f} purchases on average."
    )


def spend_check_sentence(correlation: float) -> str:
    """The Gamma-Gamma independence check in words (Pearson correlation of x and mean spend)."""
    if np.isnan(correlation):
        return "Too few repeat buyers to check whether spend per purchase depends on frequency."
    strength = "weak" if abs(correlation) < 0.3 else "marked"
    consequence = (
        "so the spend model's assumption holds well enough."
        if strength == "weak"
        else "so the spend model's assumption of independence is stretched: read expected spend as a "
        "customer's own average, shrunk little towards the mean."
    )
    return (
        f"Spend per purchase and number of purchases correlate at {correlation:+.2f} among repeat buyers, "
        f"a {strength} link, {consequence}"
    )


def trust_sentence(result: clv_stage.FutureValue) -> str:
    """Whether the model's value forecasts are reliable, and how spend per purchase is valued."""
    if result.trusted:
        text = f"The purchase model's forecasts can be relied on: {result.reason}."
    else:
        text = f"Read the purchase model's forecasts as indicative only: {result.reason}."
    if result.spend_trusted:
        return text + f" The spend model holds: {result.spend_reason}."
    return (
        text + f" The spend model is not used, as {result.spend_reason}: each purchase is valued at the "
        "customer's own average spend."
    )


def value_by_segment(customers: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, mean P(alive), expected purchases and total and mean CLV (currency)."""
    table = customers.groupby("segment", observed=True).agg(
        customers=("customer_id", "size"),
        mean_p_alive=("p_alive", "mean"),
        expected_purchases=("expected_purchases", "sum"),
        clv=("clv", "sum"),
        mean_clv=("clv", "mean"),
    )
    return table.sort_values(["clv"], ascending=False).reset_index()


SEGMENT_VALUE_COLUMNS = (
    "segment",
    "customers",
    "expected_purchases",
    "expected_purchases_low",
    "expected_purchases_high",
    "clv",
    "clv_low",
    "clv_high",
)
"""Columns of stage 05's ``segment_value.parquet`` (:func:`segment_value_intervals`)."""


def segment_value_intervals(
    result: clv_stage.FutureValue, customers: pd.DataFrame, settings: Mapping[str, object]
) -> pd.DataFrame:
    """Per segment of ``customers`` (customer_id, segment, expected_purchases, clv): customers the
    model sees, total expected purchases and total CLV (currency, over the horizon) with their 80%
    intervals (clv_value.value_intervals: totals per parameter draw, then percentiles), most
    valuable first (:data:`SEGMENT_VALUE_COLUMNS`); no rows when the run has no intervals
    (``clv.interval_draws: 0``)."""
    if result.draws is None:
        return pd.DataFrame(
            {
                column: pd.Series(dtype="object" if column == "segment" else "float64")
                for column in SEGMENT_VALUE_COLUMNS
            }
        )
    modelled = result.summary.merge(customers[["customer_id", "segment"]], on="customer_id")
    _, by_segment = clv_value.value_intervals(
        clv_models.PURCHASE_MODELS[result.model],
        result.draws,
        result.gamma_gamma.params,
        modelled,
        settings,
        modelled["segment"],
    )
    points = customers.groupby("segment", observed=True)[["expected_purchases", "clv"]].sum().reset_index()
    table = by_segment.rename(columns={"group": "segment"}).merge(points, on="segment")
    return table[list(SEGMENT_VALUE_COLUMNS)].sort_values("clv", ascending=False, ignore_index=True)


def segment_interval_sentence(
    table: pd.DataFrame | None, horizon_months: int, currency: str, holdout_error: float = float("nan")
) -> str:
    """The most valuable segment's worth with its 80% interval, in plain words (empty without
    intervals). ``holdout_error``: the chosen model's relative error on the holdout,
    (predicted - actual) / actual; when it is larger than the interval's half-width relative to the
    value, a second sentence says that the interval covers the parameters' uncertainty only."""
    if table is None or table.empty:
        return ""
    top = table.iloc[0]
    low, high = _short_money(top["clv_low"]), _short_money(top["clv_high"])
    text = (
        f"{top['segment']} are worth {low}-{high} {currency} "
        f"over the next {horizon_months} months (80% interval: the range the value stays in when the "
        "model's fitted parameters are varied within their uncertainty)."
    )
    half_width = (top["clv_high"] - top["clv_low"]) / 2 / top["clv"] if top["clv"] > 0 else float("nan")
    if abs(holdout_error) > half_width:
        text += (
            f" That range is narrower than the model's own miss on the second part of the period "
            f"({abs(holdout_error):.0%} {'too many' if holdout_error > 0 else 'too few'} purchases): it "
            "covers the uncertainty of the fitted parameters only, not the model's error, so the true "
            "range is wider."
        )
    return text


def _short_money(value: float) -> str:
    """180k, 1.2m, 950: a rounded amount for a sentence."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}m"
    return f"{value / 1e3:.0f}k" if abs(value) >= 1e4 else f"{value:,.0f}"


def top_by_value(customers: pd.DataFrame, salt: str, n: int, with_p_alive: bool = True) -> pd.DataFrame:
    """The ``n`` customers of highest CLV, ids pseudonymised (for client outputs); without the
    P(alive) column when the run's churn rule does not rest on it."""
    top = (
        customers.dropna(subset=["clv"]).sort_values(["clv", "customer_id"], ascending=[False, True]).head(n)
    )
    table = pd.DataFrame(
        {
            "customer": privacy.pseudonymise(top["customer_id"], salt).to_numpy(),
            "segment": top["segment"].to_numpy(),
            "p_alive": top["p_alive"].round(3).to_numpy(),
            "expected_purchases": top["expected_purchases"].round(1).to_numpy(),
            "clv": top["clv"].round(2).to_numpy(),
        }
    )
    return table if with_p_alive else table.drop(columns="p_alive")


def value_at_risk_sentences(
    customers: pd.DataFrame, valuable_segments: list[str], horizon_months: int, currency: str
) -> str:
    """Value at risk (clv_stage.value_at_risk) in words, with the segment holding most of it."""
    risky = clv_stage.value_at_risk(customers, valuable_segments)
    total = float(risky["value_at_risk"].sum())
    if risky.empty:
        return "No customer of the valuable segments is at high churn risk."
    text = (
        f"{len(risky):,} customers of valuable segments are at high churn risk. Won back, they would bring "
        f"about {total:,.0f} {currency} over the next {horizon_months} months."
    )
    if total > 0:
        worst = risky.groupby("segment")["value_at_risk"].sum().sort_values(ascending=False)
        text += (
            f" Most of it is in {worst.index[0]} ({worst.iloc[0]:,.0f} {currency}): win-back starts there."
        )
    return text


def value_caveat(excluded: Mapping[str, str]) -> str:
    """When the churn rule found P(alive) unusable (``ChurnRule.excluded``), the model's values
    assume that customers keep buying: say so, as they are then an upper bound."""
    if "p_alive" not in excluded:
        return ""
    return (
        "The model sees almost no customer leaving, so these values assume that every customer keeps "
        "buying at their own pace: read them as an upper bound, well above what the high-risk customers "
        "will bring."
    )
