"""Stage 05's choice of purchase model on the holdout (analysis_utils.clv_choice): the scores on a
hand-made table, the rule, and the generating model picked on simulated logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_utils import clv, clv_choice, loader
from analysis_utils import clv_models as models
from analysis_utils.errors import ConfigError

BGNBD_LIKE = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # CDNOW, weeks
MBGNBD_EARLY_LOSS = models.MBGNBDParams(r=0.8, alpha=4.0, a=1.5, b=2.0)  # 43% gone after the first purchase
PARETO_CDNOW = models.ParetoNBDParams(r=0.553, alpha=10.578, s=0.606, beta=11.669)
HOLDOUT = 26.0


def calibration_customers(simulated: pd.DataFrame) -> pd.DataFrame:
    """A simulator's output as clv_holdout.holdout_customers gives it: times in weeks of whole days."""
    days = np.floor(simulated[["t_x", "T", "holdout_last"]] * 7) / 7
    return days.assign(
        customer_id=np.arange(len(simulated)).astype(str),
        x=simulated["x"],
        actual=simulated["holdout_purchases"],
    )


def test_the_summary_at_the_end_adds_the_holdout_purchases():
    customers = pd.DataFrame(
        {"x": [0, 2], "t_x": [0.0, 5.0], "T": [10.0, 12.0], "actual": [0, 3], "holdout_last": [np.nan, 20.0]}
    )
    ends = clv_choice.end_summary(customers, 13.0)
    assert ends.to_dict("list") == {"x": [0, 5], "t_x": [0.0, 20.0], "T": [23.0, 25.0]}


def test_scores_by_hand_and_the_holdout_likelihood_is_the_log_density_of_the_holdout():
    customers = pd.DataFrame(
        {"x": [0, 2], "t_x": [0.0, 5.0], "T": [10.0, 12.0], "actual": [1, 0], "holdout_last": [15.0, np.nan]}
    )
    fit = clv.Fit(BGNBD_LIKE, 0.0, True, 2)
    report = models.ConvergenceReport(fit, fit, True, 0.0, 0.0)
    row, predicted = clv_choice.score_model("bgnbd", report, customers, 13.0)
    x, t_x, T = customers["x"], customers["t_x"], customers["T"]
    assert predicted == pytest.approx(clv.expected_purchases(BGNBD_LIKE, x, t_x, T, 13.0))
    error = predicted - np.array([1.0, 0.0])
    assert row["mae"] == pytest.approx(np.abs(error).mean())
    assert row["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert row["msle"] == pytest.approx(((np.log1p(predicted) - np.log1p([1.0, 0.0])) ** 2).mean())
    assert row["relative_error"] == pytest.approx(predicted.sum() - 1.0)
    after = clv.bgnbd_log_likelihood(
        BGNBD_LIKE, np.array([1, 2]), np.array([15.0, 5.0]), np.array([23.0, 25.0])
    )
    before = clv.bgnbd_log_likelihood(BGNBD_LIKE, x, t_x, T)
    assert row["holdout_log_likelihood"] == pytest.approx(np.mean(after - before))
    assert row["eligible"] and row["why_not_eligible"] == ""


def test_the_rule_takes_the_best_likelihood_prefers_the_simpler_within_the_margin_and_skips_the_ineligible():
    scores = pd.DataFrame(
        {
            "model": ["bgnbd", "mbgnbd", "paretonbd"],
            "eligible": [True, True, True],
            "holdout_log_likelihood": [-2.0, -1.9, -1.9004],
        }
    )
    assert clv_choice.ranked(scores) == ["mbgnbd", "paretonbd", "bgnbd"]
    scores.loc[1, "holdout_log_likelihood"] = -1.9003  # within 0.001 of Pareto/NBD, and simpler
    assert clv_choice.ranked(scores)[0] == "mbgnbd"
    scores.loc[1, "eligible"] = False
    assert clv_choice.ranked(scores) == ["paretonbd", "bgnbd"]
    assert clv_choice.ranked(scores, "bgnbd") == ["bgnbd"]


@pytest.mark.parametrize(
    ("generating", "simulate", "params"),
    [
        ("bgnbd", clv.simulate_bgnbd, BGNBD_LIKE),
        ("mbgnbd", models.simulate_mbgnbd, MBGNBD_EARLY_LOSS),
        ("paretonbd", models.simulate_pareto_nbd, PARETO_CDNOW),
    ],
)
def test_the_holdout_choice_picks_the_generating_model(generating, simulate, params):
    T = np.random.default_rng(7).integers(26 * 7, 52 * 7, 4000) / 7
    customers = calibration_customers(simulate(params, T, seed=8, holdout=HOLDOUT))
    scores, reports, _ = clv_choice.compare_models(customers, HOLDOUT)
    assert clv_choice.ranked(scores)[0] == generating, scores.to_string()
    assert scores["eligible"].all()


def test_an_unknown_model_is_a_one_line_parameter_error_naming_it():
    with pytest.raises(
        ConfigError, match=r"clv.model must be one of auto, bgnbd, mbgnbd, paretonbd, got 'prophet'"
    ):
        loader.load_params("params/clients/sample.yaml", ["clv.model=prophet"])
    with pytest.raises(ConfigError, match="clv.interval_draws must be a whole number in 0..10000, got -1"):
        loader.load_params("params/clients/sample.yaml", ["clv.interval_draws=-1"])


def test_the_sentence_says_why_a_model_ranked_higher_was_passed_over():
    scores = pd.DataFrame(
        {
            "model": ["bgnbd", "mbgnbd"],
            "label": ["BG/NBD", "MBG/NBD"],
            "eligible": [True, True],
            "holdout_log_likelihood": [-2.0, -2.0004],
            "predicted": [90.0, 91.0],
            "actual": [100.0, 100.0],
        }
    )
    fit = clv.Fit(BGNBD_LIKE, 0.0, True, 2)
    sound = models.ConvergenceReport(fit, fit, True, 0.0, 0.0)
    sentence = clv_choice.choice_sentence(scores, "mbgnbd", "auto", sound, ["bgnbd"])
    assert sentence.startswith("MBG/NBD is used: fitted on the first part of the period, it predicted 91")
    assert (
        "BG/NBD ranked higher on that test, but on the whole period did not reach a clear optimum" in sentence
    )
    assert "simpler model is preferred" not in sentence
    tie = clv_choice.choice_sentence(scores, "bgnbd", "auto", sound)  # 0.0004 apart: within the margin
    assert "MBG/NBD explained those purchases about as well" in tie and "simpler model is preferred" in tie
    scores.loc[1, "holdout_log_likelihood"] = -2.01
    plain = clv_choice.choice_sentence(scores, "bgnbd", "auto", sound)
    assert "higher likelihood than MBG/NBD, the next best (-2.000 against -2.010 per customer)" in plain
