"""Stage 05's choice of purchase model: BG/NBD, MBG/NBD and Pareto/NBD (analysis_utils.clv_models)
fitted on the calibration part of the period and judged on the holdout (methodology section 11.7).

Every model is scored on the calibration customers (:func:`analysis_utils.clv_holdout.holdout_customers`):

holdout_log_likelihood
    Mean over customers of ln L(x', t_x', T') - ln L(x, t_x, T) under the calibration fit, where
    (x, t_x, T) is the calibration summary and (x', t_x', T') the summary at the period's end (x
    plus the holdout purchases, the last of them, T plus the holdout length). All three
    likelihoods are the density of a customer's purchase times, so the difference is the log
    density of the holdout purchases given the calibration ones: comparable across the models.
mae, rmse, msle
    Mean absolute error, root mean squared error and mean squared log error (of 1 + purchases)
    of the predicted against the actual holdout purchases, per customer.
predicted, actual, relative_error
    Holdout purchases in total, predicted and actual, and (predicted - actual) / actual.

**Rule** (``clv.model: auto``): a model is eligible when its calibration fit converged (its
convergence report, clv_models.ConvergenceReport, is not flagged); the eligible model with the
highest holdout log-likelihood is chosen, a model within :data:`TIE_MARGIN` of the best giving way
to the simpler one (the order of :data:`analysis_utils.clv_models.PURCHASE_MODELS`). Its fit on the
whole period must converge too, else the next eligible model is taken. ``clv.model`` may name one
model instead. Without any eligible model, BG/NBD is used and the stage does not trust it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils import clv, clv_holdout
from analysis_utils.clv_models import PURCHASE_MODELS, ConvergenceReport

TIE_MARGIN = 0.001
"""Holdout log-likelihood per customer (nats) within which a simpler model is preferred."""
FALLBACK = "bgnbd"
"""The model used when none could be judged."""
SCORE_COLUMNS = (
    "model",
    "label",
    "eligible",
    "holdout_log_likelihood",
    "mae",
    "rmse",
    "msle",
    "predicted",
    "actual",
    "relative_error",
    "why_not_eligible",
)


def end_summary(customers: pd.DataFrame, holdout_length: float) -> pd.DataFrame:
    """The summary (x, t_x, T) at the period's end of calibration customers with ``actual`` and
    ``holdout_last`` (:func:`analysis_utils.clv_holdout.holdout_customers`)."""
    bought = customers["actual"] > 0
    return pd.DataFrame(
        {
            "x": customers["x"] + customers["actual"],
            "t_x": customers["holdout_last"].where(bought, customers["t_x"]),
            "T": customers["T"] + holdout_length,
        }
    )


def score_model(
    name: str, report: ConvergenceReport, customers: pd.DataFrame, holdout_length: float
) -> tuple[dict[str, Any], np.ndarray]:
    """The scores of the module docstring for one model fitted on the calibration part
    (``report``), and its predicted holdout purchases per customer."""
    model, params = PURCHASE_MODELS[name], report.fit.params
    x, t_x, T = (customers[column].to_numpy(dtype="float64") for column in ("x", "t_x", "T"))
    actual = customers["actual"].to_numpy(dtype="float64")
    ends = end_summary(customers, holdout_length)
    with np.errstate(all="ignore"):
        predicted = model.expected_purchases(params, x, t_x, T, holdout_length)
        gain = model.log_likelihood(params, *(ends[c].to_numpy(dtype="float64") for c in ("x", "t_x", "T")))
        gain = gain - model.log_likelihood(params, x, t_x, T)
    error = predicted - actual
    row = {
        "model": name,
        "label": model.label,
        "eligible": not report.flagged,
        "holdout_log_likelihood": float(np.mean(gain)),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "msle": float(np.mean((np.log1p(predicted) - np.log1p(actual)) ** 2)),
        "predicted": float(predicted.sum()),
        "actual": float(actual.sum()),
        "relative_error": float(error.sum() / actual.sum()) if actual.sum() else float("nan"),
        "why_not_eligible": "" if not report.flagged else _why_flagged(report),
    }
    return row, predicted


def _why_flagged(report: ConvergenceReport) -> str:
    if not report.converged:
        return "its fit did not converge"
    return (
        f"its fit is not a clear optimum (gradient norm {report.gradient_norm:.2g}, a second start "
        f"ended {report.likelihood_gap:.2f} apart in log-likelihood)"
    )


def compare_models(
    customers: pd.DataFrame, holdout_length: float
) -> tuple[pd.DataFrame, dict[str, ConvergenceReport], dict[str, np.ndarray]]:
    """Every model of PURCHASE_MODELS fitted on the calibration customers and scored on their
    holdout: the score table (:data:`SCORE_COLUMNS`, one row per model), the calibration fits'
    convergence reports and the predicted holdout purchases per customer, by model name."""
    reports, predictions, rows = {}, {}, []
    for name, model in PURCHASE_MODELS.items():  # three models: a loop over models, not customers
        reports[name] = model.fit(customers)
        row, predictions[name] = score_model(name, reports[name], customers, holdout_length)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS)), reports, predictions


def ranked(scores: pd.DataFrame, forced: str = "auto") -> list[str]:
    """The models in the order the rule tries them: ``forced`` alone unless "auto"; else the
    eligible ones by holdout log-likelihood, best first, a model within :data:`TIE_MARGIN` of a
    better one ranking after it only if it is less simple (later in PURCHASE_MODELS)."""
    if forced != "auto":
        return [forced]
    eligible = scores[scores["eligible"] & np.isfinite(scores["holdout_log_likelihood"])]
    simplicity = {name: place for place, name in enumerate(PURCHASE_MODELS)}
    rounded = (eligible["holdout_log_likelihood"] / TIE_MARGIN).round()
    order = eligible.assign(rounded=rounded, simplicity=eligible["model"].map(simplicity)).sort_values(
        ["rounded", "simplicity"], ascending=[False, True]
    )
    return list(order["model"])


@dataclass(frozen=True)
class ModelChoice:
    """The purchase model stage 05 uses and the evidence: ``scores`` (one row per model, with
    ``chosen``), the holdout check of every model, the chosen model's convergence report on the
    whole period (``fit``) and why it was chosen, in one plain sentence (``reason``)."""

    chosen: str
    scores: pd.DataFrame
    checks: dict[str, clv_holdout.HoldoutCheck]
    fit: ConvergenceReport
    reason: str

    def record(self) -> dict[str, Any]:
        """Plain values for clv_model.json."""
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "scores": self.scores.replace({np.nan: None}).to_dict(orient="records"),
            "convergence": self.fit.record(),
        }


def choose_model(
    occasions: ir.Table,
    summary: pd.DataFrame,
    start: datetime | None,
    split: datetime,
    end: datetime,
    settings: Mapping[str, Any],
) -> ModelChoice:
    """Compare the models on the split ``[start, split) | [split, end)`` of ``occasions``
    (clv.purchase_occasions), choose one by the module's rule (``settings``: the clv parameters,
    ``model`` and ``time_unit``) and fit it on the whole period's ``summary``."""
    time_unit = settings["time_unit"]
    unit_days = clv.TIME_UNIT_DAYS[time_unit]
    customers = clv_holdout.holdout_customers(occasions, split, end, time_unit)
    holdout_length = (end - split).days / unit_days
    scores, reports, predictions = compare_models(customers, holdout_length)
    checks = {}
    for name, model in PURCHASE_MODELS.items():
        checked = customers.assign(predicted=predictions[name])
        checks[name] = clv_holdout.HoldoutCheck(
            calibration_end=split,
            holdout_length=holdout_length,
            fit=reports[name].fit,
            customers=checked[["customer_id", "x", "t_x", "T", "predicted", "actual"]],
            by_frequency=clv_holdout.by_frequency(checked),
            tracking=clv_holdout.tracking(
                occasions,
                customers,
                functools.partial(model.expected_purchases_new, reports[name].fit.params),
                start,
                split,
                end,
                unit_days,
            ),
        )
    candidates = ranked(scores, settings["model"])
    chosen, fit, passed_over = FALLBACK, None, []
    for name in candidates or [FALLBACK]:
        fit = PURCHASE_MODELS[name].fit(summary)
        chosen = name
        if not fit.flagged:
            break
        passed_over.append(name)
    scores = scores.assign(chosen=scores["model"] == chosen)
    passed_over = [name for name in passed_over if name != chosen]
    sentence = choice_sentence(scores, chosen, settings["model"], fit, passed_over)
    return ModelChoice(chosen, scores, checks, fit, sentence)


def choice_sentence(
    scores: pd.DataFrame,
    chosen: str,
    forced: str,
    fit: ConvergenceReport,
    passed_over: list[str] | tuple[str, ...] = (),
) -> str:
    """Why this purchase model, in one plain sentence; ``passed_over``: the models ranked above it
    whose fit on the whole period was flagged."""
    table = scores.set_index("model")
    row = table.loc[chosen]
    said = (
        f"fitted on the first part of the period, it predicted {row['predicted']:,.0f} purchases in the "
        f"second part against {row['actual']:,.0f} that happened"
    )
    if fit.flagged:
        return (
            f"{row['label']} is used, but its fit on the whole period did not converge, so it is not trusted."
        )
    if forced != "auto":
        return f"{row['label']} is used, as the parameters ask; {said}."
    if not bool(row["eligible"]):
        return f"{row['label']} is used by default: no model's fit converged on the first part of the period."
    if passed_over:
        labels = " and ".join(table.loc[name, "label"] for name in passed_over)
        return (
            f"{row['label']} is used: {said}; {labels} ranked higher on that test, but on the whole "
            "period did not reach a clear optimum."
        )
    others = table[table.index != chosen]
    others = others[others["eligible"]]
    if others.empty:
        return f"{row['label']} is used, the only model whose fit converged; {said}."
    runner_up = others.sort_values("holdout_log_likelihood", ascending=False).iloc[0]
    if runner_up["holdout_log_likelihood"] > row["holdout_log_likelihood"] - TIE_MARGIN:  # a tie: simpler won
        return (
            f"{row['label']} is used: {said}; {runner_up['label']} explained those purchases about as well "
            f"({runner_up['holdout_log_likelihood']:.3f} against {row['holdout_log_likelihood']:.3f} per "
            "customer in log-likelihood) and the simpler model is preferred."
        )
    return (
        f"{row['label']} is used: {said}, and it gave those purchases a higher likelihood than "
        f"{runner_up['label']}, the next best ({row['holdout_log_likelihood']:.3f} against "
        f"{runner_up['holdout_log_likelihood']:.3f} per customer)."
    )
