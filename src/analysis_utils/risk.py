"""One churn-risk definition per run, chosen by evidence on the period's own holdout.

Four candidate scores say how likely a customer is not to buy again (higher = riskier):

overdue
    days since the last order / the customer's usual gap between purchase days (for one-time
    buyers, the median usual gap of the repeat buyers): the rule-based score of kpi.churn_risk.
p_alive
    1 - P(alive), the chosen purchase model's probability (BG/NBD, MBG/NBD or Pareto/NBD, stage 05)
    that the customer is still active.
p_no_purchase
    the chosen model's probability of no purchase in the next ``h`` time units (for BG/NBD,
    1 - P(alive) + P(alive) ((alpha + T) / (alpha + T + h))^(r + x)).
expected_purchases
    minus the chosen model's expected number of purchases in the next ``h`` time units.

``h`` is the length of the holdout (the second part of the period's window), so that every
score can be checked against what customers did. The model is fitted on the calibration part,
each score is computed at the split, and its AUC says how well it ranks the customers who did
not buy in the holdout above those who did. The run uses the score with the highest AUC among
the eligible ones (ties within :data:`TIE_MARGIN` go to the overdue rule, the simplest to
explain); the model's scores are eligible only when its fits converged on enough repeat buyers,
and P(alive) only when its dropout is identified (:data:`MIN_MEAN_DROPOUT`) and it separates
long-overdue repeat buyers from active ones (:data:`MIN_P_ALIVE_SEPARATION`).

Levels come from the same evidence: the chosen score is calibrated on the holdout (isotonic
regression of "bought nothing" on the score), and a customer is at high risk from the score at
which customers like them lapsed ``high_lift`` times as often as the average customer, medium
from ``medium_lift`` times. The cut-offs, in the score's own unit, then apply at the period's
end. Without evidence (too few outcomes on one side) the fixed thresholds of the parameters
apply. Definitions: docs/methodology.md, section 11.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from analysis_utils import clv, clv_models, clv_stage, kpi, rfm
from analysis_utils.config import Period, RunParams

SCORES: dict[str, str] = {
    "overdue": "how overdue the customer is against their own buying rhythm",
    "p_alive": "the model's probability that the customer is still active",
    "p_no_purchase": "the model's probability that the customer buys nothing in the coming period",
    "expected_purchases": "the model's expected number of purchases in the coming period",
}
"""Candidate scores and what each says, in the client's words."""

TIE_MARGIN = 0.005  # AUC within this of the best: the overdue rule is kept (simplest to explain)
MIN_OUTCOMES = 20  # customers needed on each side (lapsed, came back) for the AUCs to decide anything
MIN_AUC = 0.55  # a best AUC below this ranks little better than chance: the overdue rule is kept
MIN_MEAN_DROPOUT = 0.01  # a/(a+b) below this: dropout collapsed, P(alive) says nothing
MIN_P_ALIVE_SEPARATION = 0.25  # median P(alive) gap, active minus long-overdue repeat buyers
ARTIFACT_COLUMNS = (
    "customer_id",
    "segment",
    "monetary",
    "recency_days",
    "expected_gap_days",
    "overdue_ratio",
    "p_alive",
    "p_no_purchase",
    "expected_purchases_ahead",
    "risk_score",
    "churn_risk",
)
"""Columns of ``churn_risk.parquet``: one row per scored customer."""


@dataclass(frozen=True)
class ChurnRule:
    """The churn-risk definition of a run and the evidence for it.

    ``score``: the chosen key of :data:`SCORES`; ``horizon_days``: h in days; ``auc``: AUC of each
    candidate on the holdout (NaN when it could not be computed); ``excluded``: candidate -> why it
    was not eligible; ``holdout_customers`` and ``holdout_lapsed``: customers scored at the split
    and how many of them bought nothing after it.
    """

    score: str
    horizon_days: float
    auc: dict[str, float]
    excluded: dict[str, str] = field(default_factory=dict)
    holdout_customers: int = 0
    holdout_lapsed: int = 0
    medium_cut: float | None = None  # chosen score (higher = riskier) from which a customer is medium
    high_cut: float | None = None  # ... high; None: the fixed thresholds of the parameters apply
    high_lapse_rate: float | None = None  # share of the holdout customers at or above high_cut who lapsed

    @property
    def base_lapse_rate(self) -> float:
        """Share of the customers scored at the split who bought nothing after it."""
        return self.holdout_lapsed / self.holdout_customers if self.holdout_customers else float("nan")

    @property
    def calibrated(self) -> bool:
        """Levels from cut-offs calibrated on the holdout (else the fixed thresholds)."""
        return self.high_cut is not None

    def record(self) -> dict[str, Any]:
        """Plain values for ``churn_rule.json``."""
        return {
            "score": self.score,
            "horizon_days": self.horizon_days,
            "auc": {name: (None if np.isnan(value) else value) for name, value in self.auc.items()},
            "excluded": dict(self.excluded),
            "holdout_customers": self.holdout_customers,
            "holdout_lapsed": self.holdout_lapsed,
            "medium_cut": _finite_or_none(self.medium_cut),
            "high_cut": _finite_or_none(self.high_cut),
            "high_lapse_rate": None if _missing(self.high_lapse_rate) else self.high_lapse_rate,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ChurnRule:
        """The rule saved by :meth:`record`."""
        auc = {name: (np.nan if value is None else float(value)) for name, value in record["auc"].items()}
        return cls(
            score=record["score"],
            horizon_days=float(record["horizon_days"]),
            auc=auc,
            excluded=dict(record["excluded"]),
            holdout_customers=int(record["holdout_customers"]),
            holdout_lapsed=int(record["holdout_lapsed"]),
            medium_cut=_cut_from_record(record, "medium_cut"),
            high_cut=_cut_from_record(record, "high_cut"),
            high_lapse_rate=record.get("high_lapse_rate"),
        )

    def evidence_table(self) -> pd.DataFrame:
        """One row per candidate: AUC, eligible, chosen, and why not eligible (analyst view)."""
        return pd.DataFrame(
            {
                "score": list(SCORES),
                "auc": [self.auc.get(name, np.nan) for name in SCORES],
                "eligible": [name not in self.excluded for name in SCORES],
                "chosen": [name == self.score for name in SCORES],
                "why_not_eligible": [self.excluded.get(name, "") for name in SCORES],
            }
        )


def _finite_or_none(value: float | None) -> float | str | None:
    """JSON has no infinity: an unreachable cut-off is saved as "inf"."""
    if value is None:
        return None
    return "inf" if np.isinf(value) else float(value)


def _missing(value: float | None) -> bool:
    return value is None or bool(np.isnan(value))


def _cut_from_record(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return None if value is None else float(value)


# ---------------------------------------------------------------------------- the scores


def overdue_ratio(summary: pd.DataFrame, unit_days: float) -> np.ndarray:
    """The overdue ratio from a purchase-day summary (clv.summarise): time since the last purchase
    day (T - t_x) over the mean gap between purchase days (t_x / x), the median of those gaps for
    customers without a repeat purchase; gaps below one day count as one day."""
    x = summary["x"].to_numpy(dtype="float64")
    t_x, T = summary["t_x"].to_numpy(dtype="float64"), summary["T"].to_numpy(dtype="float64")
    own_gap = np.where(x > 0, t_x / np.where(x > 0, x, 1.0), np.nan)
    population_gap = np.nanmedian(own_gap) if np.any(x > 0) else np.nan
    gap = np.maximum(np.where(np.isnan(own_gap), population_gap, own_gap), 1.0 / unit_days)
    return (T - t_x) / gap


def p_no_purchase(params: Any, summary: pd.DataFrame, horizon: float) -> np.ndarray:
    """Probability of no purchase in (T, T + horizon] given (x, t_x, T) under the purchase model
    whose parameters ``params`` are (clv_models.PURCHASE_MODELS; for BG/NBD: gone, or alive with a
    Gamma(r + x, alpha + T) posterior purchase rate that yields no purchase in ``horizon``)."""
    x, t_x, T = (summary[c].to_numpy(dtype="float64") for c in ("x", "t_x", "T"))
    return clv_models.model_of(params).p_no_purchase(params, x, t_x, T, horizon)


def model_scores(params: Any, summary: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """P(alive), P(no purchase in ``horizon``) and expected purchases in ``horizon`` of every
    customer of ``summary`` (horizon in the summary's time unit) under the purchase model whose
    parameters ``params`` are."""
    x, t_x, T = (summary[c].to_numpy(dtype="float64") for c in ("x", "t_x", "T"))
    model = clv_models.model_of(params)
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "p_alive": model.p_alive(params, x, t_x, T),
            "p_no_purchase": p_no_purchase(params, summary, horizon),
            "expected_purchases_ahead": model.expected_purchases(params, x, t_x, T, horizon),
        }
    )


def risk_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Each candidate as a score where higher means riskier, from a table with ``overdue_ratio``,
    ``p_alive``, ``p_no_purchase`` and ``expected_purchases_ahead``."""
    return pd.DataFrame(
        {
            "overdue": table["overdue_ratio"],
            "p_alive": 1.0 - table["p_alive"],
            "p_no_purchase": table["p_no_purchase"],
            "expected_purchases": -table["expected_purchases_ahead"],
        },
        index=table.index,
    )


# ---------------------------------------------------------------------------- the choice


def model_exclusions(
    future: clv_stage.FutureValue,
    overdue: pd.Series,
    settings: Mapping[str, Any],
    clv_settings: Mapping[str, Any],
) -> dict[str, str]:
    """Model candidates that may not be used, each with its reason in plain words.

    ``overdue`` is the overdue ratio of the customers of ``future.summary`` (same order);
    ``settings`` the churn_risk parameters.
    """
    model = ("p_alive", "p_no_purchase", "expected_purchases")
    repeat_buyers = future.gamma_gamma.n_customers
    if repeat_buyers < clv_settings["min_repeat_buyers"]:
        return dict.fromkeys(model, f"only {repeat_buyers:,} customers bought more than once")
    if not (future.purchase.converged and future.holdout.fit.converged):
        return dict.fromkeys(model, "the model's fit did not converge")
    excluded: dict[str, str] = {}
    params = future.purchase.params
    dropout = clv_models.model_of(params).mean_dropout(params)
    if dropout < MIN_MEAN_DROPOUT:
        excluded["p_alive"] = (
            f"the model sees almost no customer leaving (mean dropout {dropout:.2%} per purchase), "
            "which a log this short cannot tell apart from customers who simply buy rarely"
        )
        return excluded
    x = future.summary["x"].to_numpy()
    alive = (
        future.values.set_index("customer_id")["p_alive"].reindex(future.summary["customer_id"]).to_numpy()
    )
    late = (x > 0) & (overdue.to_numpy() > settings["high_ratio"])
    active = (x > 0) & (overdue.to_numpy() <= settings["medium_ratio"])
    if late.sum() and active.sum():
        gap = float(np.median(alive[active]) - np.median(alive[late]))
        if gap < MIN_P_ALIVE_SEPARATION:
            excluded["p_alive"] = (
                "it barely tells long-overdue repeat buyers from active ones "
                f"(median chance still active {np.median(alive[late]):.0%} against "
                f"{np.median(alive[active]):.0%})"
            )
    return excluded


def holdout_scores(future: clv_stage.FutureValue, time_unit: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Every candidate score of the calibration customers at the split, and whether each bought
    nothing in the holdout (1) or bought again (0).

    The calibration fit (``future.holdout.fit``) scores the calibration customers with the holdout
    length as horizon; only those who bought in the window before the split are kept (those the
    rule scores at the period's end: the model may also see customers who bought only earlier).
    """
    check = future.holdout
    calibration = check.customers
    unit_days = clv.TIME_UNIT_DAYS[time_unit]
    table = model_scores(check.fit.params, calibration, check.holdout_length).assign(
        overdue_ratio=overdue_ratio(calibration, unit_days)
    )
    scores, lapsed = risk_scores(table), (calibration["actual"].to_numpy() == 0).astype(int)
    if future.window_start is None:
        return scores, lapsed
    # only customers who bought in the window before the split: those the rule will score at the end
    days_in_window = (check.calibration_end - future.window_start).days
    in_window = ((calibration["T"] - calibration["t_x"]) * unit_days <= days_in_window).to_numpy()
    return scores[in_window].reset_index(drop=True), lapsed[in_window]


def holdout_auc(scores: pd.DataFrame, lapsed: np.ndarray) -> dict[str, float]:
    """AUC of every candidate against "bought nothing in the holdout": the chance that a random
    customer who lapsed scores higher than a random one who bought again. NaN when fewer than
    :data:`MIN_OUTCOMES` customers are on either side."""
    if min(lapsed.sum(), len(lapsed) - lapsed.sum()) < MIN_OUTCOMES:
        return dict.fromkeys(SCORES, float("nan"))
    return {name: float(roc_auc_score(lapsed, scores[name].to_numpy())) for name in SCORES}


def calibrated_cuts(
    score: np.ndarray, lapsed: np.ndarray, medium_lift: float, high_lift: float
) -> tuple[float, float, float]:
    """Cut-offs on ``score`` from which the calibrated lapse rate reaches ``medium_lift`` and
    ``high_lift`` times the average (inf when it never does), and the lapse rate of the customers
    at or above the high cut (NaN when none is).

    The calibration is isotonic (lapse rate non-decreasing in the score), so "calibrated rate >= t"
    is "score >= the cut"."""
    iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(score, lapsed)
    base = lapsed.mean()

    def cut(lift: float) -> float:
        reached = iso.X_thresholds_[iso.y_thresholds_ >= lift * base]
        return float(reached.min()) if reached.size else float("inf")

    medium, high = cut(medium_lift), cut(high_lift)
    above = score >= high
    return medium, high, float(lapsed[above].mean()) if above.any() else float("nan")


def choose(auc: Mapping[str, float], excluded: Mapping[str, str], forced: str = "auto") -> str:
    """The score to use: ``forced`` unless "auto"; else the eligible score with the highest AUC;
    the overdue rule when it is within :data:`TIE_MARGIN` of the best, when the best is below
    :data:`MIN_AUC` (no better than chance) or when nothing could be scored."""
    if forced != "auto":
        return forced
    eligible = {name: value for name, value in auc.items() if name not in excluded and not np.isnan(value)}
    if not eligible or "overdue" not in eligible:
        return "overdue"
    best = max(eligible, key=lambda name: (eligible[name], name == "overdue"))
    if eligible[best] < MIN_AUC or eligible["overdue"] >= eligible[best] - TIE_MARGIN:
        return "overdue"
    return best


def decide(
    future: clv_stage.FutureValue, settings: Mapping[str, Any], clv_settings: Mapping[str, Any]
) -> ChurnRule:
    """The run's :class:`ChurnRule` from stage 05's fitted model and its holdout check."""
    time_unit = clv_settings["time_unit"]
    unit_days = clv.TIME_UNIT_DAYS[time_unit]
    overdue = pd.Series(overdue_ratio(future.summary, unit_days))
    excluded = model_exclusions(future, overdue, settings, clv_settings)
    scores, lapsed = holdout_scores(future, time_unit)
    auc = holdout_auc(scores, lapsed)
    forced = settings["score"]
    if forced in excluded:
        excluded = {k: v for k, v in excluded.items() if k != forced}  # the consultant's explicit choice
    score = choose(auc, excluded, forced)
    cuts: tuple[float | None, float | None, float | None] = (None, None, None)
    if not np.isnan(auc[score]):
        cuts = calibrated_cuts(
            scores[score].to_numpy(), lapsed, settings["medium_lift"], settings["high_lift"]
        )
    return ChurnRule(
        score=score,
        horizon_days=round(future.holdout.holdout_length * unit_days, 6),
        auc=auc,
        excluded=excluded,
        holdout_customers=len(lapsed),
        holdout_lapsed=int(lapsed.sum()),
        medium_cut=cuts[0],
        high_cut=cuts[1],
        high_lapse_rate=cuts[2],
    )


# ---------------------------------------------------------------------------- levels


def levels(table: pd.DataFrame, rule: ChurnRule, settings: Mapping[str, Any]) -> pd.Series:
    """low / medium / high for every customer of ``table`` under ``rule``.

    A calibrated rule compares the chosen score with its cut-offs. Otherwise fixed thresholds:
    overdue: above ``medium_ratio`` medium, above ``high_ratio`` high. p_alive: below
    ``medium_p_alive`` medium, below ``high_p_alive`` high. p_no_purchase: from ``medium_p_none``
    medium, from ``high_p_none`` high. expected_purchases: the same probability thresholds read as
    exp(-E) (the chance of no purchase if purchases were Poisson with mean E). A customer the model
    does not see (no positive purchase day) falls back to the overdue levels.
    """
    overdue_level = np.select(
        [
            table["overdue_ratio"] <= settings["medium_ratio"],
            table["overdue_ratio"] <= settings["high_ratio"],
        ],
        ["low", "medium"],
        default="high",
    )
    if rule.calibrated:
        score = risk_scores(table)[rule.score]
        level = np.select(
            [score >= rule.high_cut, score >= rule.medium_cut], ["high", "medium"], default="low"
        )
        return pd.Series(np.where(score.isna(), overdue_level, level), index=table.index, name="churn_risk")
    if rule.score == "overdue":
        return pd.Series(overdue_level, index=table.index, name="churn_risk")
    if rule.score == "p_alive":
        gone = 1.0 - table["p_alive"]
        medium, high = 1.0 - settings["medium_p_alive"], 1.0 - settings["high_p_alive"]
    elif rule.score == "p_no_purchase":
        gone = table["p_no_purchase"]
        medium, high = settings["medium_p_none"], settings["high_p_none"]
    else:
        gone = np.exp(-table["expected_purchases_ahead"])
        medium, high = settings["medium_p_none"], settings["high_p_none"]
    level = np.select([gone >= high, gone >= medium], ["high", "medium"], default="low")
    level = np.where(gone.isna(), overdue_level, level)
    return pd.Series(level, index=table.index, name="churn_risk")


def score_customers(
    scored: pd.DataFrame,
    future: clv_stage.FutureValue,
    rule: ChurnRule,
    settings: Mapping[str, Any],
    time_unit: str,
) -> pd.DataFrame:
    """The ``churn_risk.parquet`` table: every scored customer (stage 02, positive spend) with the
    overdue ratio, the model's scores over the rule's horizon, the chosen score and the level."""
    model_columns = ("p_alive", "p_no_purchase", "expected_purchases_ahead")
    overdue = kpi.churn_risk(scored.drop(columns=[c for c in model_columns if c in scored.columns]), settings)
    horizon = rule.horizon_days / clv.TIME_UNIT_DAYS[time_unit]
    model = model_scores(future.purchase.params, future.summary, horizon)
    table = overdue.merge(model, on="customer_id", how="left")
    table["risk_score"] = risk_scores(table)[rule.score]
    table["churn_risk"] = levels(table, rule, settings)
    return table[list(ARTIFACT_COLUMNS)].sort_values("customer_id", ignore_index=True)


def _ahead(rule: ChurnRule) -> str:
    weeks = rule.horizon_days / 7
    return f"the next {weeks:.0f} weeks" if weeks >= 3 else f"the next {rule.horizon_days:.0f} days"


# score -> (the condition "score >= cut" in the client's words, the cut-off alone); {x} is the
# cut-off in the unit said: 1 - cut for p_alive, -cut for expected purchases, else the cut itself.
CUT_WORDS = {
    "overdue": (
        "the time since their last order is at least {x:.1f} times their usual gap between orders",
        "{x:.1f} times",
    ),
    "p_alive": (
        "the purchase model gives them at most a {x:.0%} chance of still being a customer",
        "a {x:.0%} chance",
    ),
    "p_no_purchase": (
        "the purchase model puts their chance of buying nothing in {ahead} at {x:.0%} or more",
        "{x:.0%}",
    ),
    "expected_purchases": (
        "the purchase model expects at most {x:.1f} purchases from them in {ahead}",
        "{x:.1f} purchases",
    ),
}


def _cut_words(rule: ChurnRule, cut: float, short: bool = False) -> str:
    """The cut-off of the chosen score, as a condition (or alone with ``short``), in the client's words."""
    x = 1 - cut if rule.score == "p_alive" else -cut if rule.score == "expected_purchases" else cut
    return CUT_WORDS[rule.score][short].format(x=x, ahead=_ahead(rule))


def rule_sentence(rule: ChurnRule, settings: Mapping[str, Any]) -> str:
    """The rule in one or two plain sentences for the client."""
    if rule.calibrated:
        if np.isinf(rule.high_cut):
            return (
                f"Churn risk is read from {SCORES[rule.score]}; no group of customers stood out as clearly "
                f"more likely than average to stop buying, so no customer is marked high risk"
                + (
                    f", and customers with {_cut_words(rule, rule.medium_cut)} are marked medium."
                    if np.isfinite(rule.medium_cut)
                    else "."
                )
            )
        return f"A customer is at high risk when {_cut_words(rule, rule.high_cut)}" + (
            f" (medium risk from {_cut_words(rule, rule.medium_cut, short=True)})."
            if rule.medium_cut < rule.high_cut
            else "."
        )
    if rule.score == "overdue":
        return (
            "A customer is at high risk when the time since their last order is more than "
            f"{settings['high_ratio']:g} times their usual gap between orders (medium risk above "
            f"{settings['medium_ratio']:g} times)."
        )
    if rule.score == "p_alive":
        return (
            "A customer is at high risk when the purchase model gives them less than a "
            f"{settings['high_p_alive']:.0%} chance of still being a customer (medium risk below "
            f"{settings['medium_p_alive']:.0%})."
        )
    return (
        "A customer is at high risk when the purchase model, which weighs how often and how recently "
        f"they bought, puts their chance of buying nothing in {_ahead(rule)} at "
        f"{settings['high_p_none']:.0%} or "
        f"more (medium risk from {settings['medium_p_none']:.0%})."
    )


def evidence_sentence(rule: ChurnRule) -> str:
    """Why this rule, in plain words: it best picked out who did not come back in the holdout."""
    if np.isnan(rule.auc.get(rule.score, np.nan)):
        return (
            f"Too few customers ({rule.holdout_lapsed:,} of {rule.holdout_customers:,}) stopped "
            "buying in the "
            "second part of the period to test the candidate rules against what customers did next, so the "
            "simplest rule is used."
        )
    valid = [v for k, v in rule.auc.items() if k not in rule.excluded and not np.isnan(v)]
    text = (
        f"Tested at the middle of the period, {rule.base_lapse_rate:.0%} of the customers bought "
        "nothing in the "
        f"following {rule.horizon_days / 7:.0f} weeks"
    )
    if rule.high_lapse_rate is not None and not np.isnan(rule.high_lapse_rate):
        text += f", against {rule.high_lapse_rate:.0%} of those this rule would have marked high risk"
    if max(valid) < MIN_AUC:
        return text + (
            "; no candidate rule picked them out much better than chance, so the simplest rule is used: read "
            "the risk levels with care."
        )
    return text + "; of the rules tried, this one picked out the customers who did not come back best."


def assess(
    orders: Any, customers: pd.DataFrame, period: Period, params: RunParams, earlier: Any = None
) -> tuple[ChurnRule, pd.DataFrame, clv_stage.FutureValue]:
    """Stage 05's model, the churn rule it supports and the ``churn_risk.parquet`` table of one
    period, from its orders (Ibis, Arrow or pandas table), its stage 02 customers and the orders
    before its window (``earlier``, the same kinds: the model's earlier history; None: none).
    Notebook 05 computes its stage with it."""
    clv_settings, settings = params.get("clv"), params.get("churn_risk")
    table = orders if isinstance(orders, ir.Table) else ibis.memtable(orders)
    history = earlier if earlier is None or isinstance(earlier, ir.Table) else ibis.memtable(earlier)
    future = clv_stage.future_value(table, period.window_start, period.as_of, clv_settings, history)
    rule = decide(future, settings, clv_settings)
    scored = score_customers(rfm.scored_only(customers), future, rule, settings, clv_settings["time_unit"])
    return rule, scored, future
