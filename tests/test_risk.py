"""One churn-risk rule per run (analysis_utils.risk): the scores by hand, the choice, the trust checks
on simulated logs with and without dropout, and the behaviour that matters: customers marked high
risk buy again far less often than those marked low."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import ibis
import numpy as np
import pandas as pd
import pytest

from analysis_utils import clv, clv_stage, config, paths, risk

DEFAULTS = config.load_yaml(paths.DEFAULTS_FILE)
CLV_SETTINGS = DEFAULTS["clv"]
RISK_SETTINGS = DEFAULTS["churn_risk"]
START, END = datetime(2024, 1, 1), datetime(2024, 12, 30)  # 364 days, 52 weeks
FUTURE_DAYS = 182


# ---------------------------------------------------------------------------- scores by hand


def test_overdue_ratio_from_the_purchase_day_summary():
    summary = pd.DataFrame({"x": [2, 0, 1], "t_x": [4.0, 0.0, 1.0], "T": [10.0, 5.0, 9.0]})
    # own gaps 2 and 1 weeks; the one-time buyer takes their median, 1.5
    np.testing.assert_allclose(risk.overdue_ratio(summary, 7.0), [6 / 2, 5 / 1.5, 8 / 1])


def test_p_no_purchase_of_a_one_time_buyer_is_the_gamma_mixture_of_no_arrival():
    params = clv.BGNBDParams(r=0.5, alpha=4.0, a=0.8, b=2.4)
    summary = pd.DataFrame({"x": [0], "t_x": [0.0], "T": [10.0]})
    # alive for sure (no repeat purchase); no purchase in 13 weeks: ((alpha+T)/(alpha+T+13))^r
    expected = (14 / 27) ** 0.5
    assert risk.p_no_purchase(params, summary, 13.0)[0] == pytest.approx(expected)


def test_p_no_purchase_adds_the_chance_of_being_gone():
    params = clv.BGNBDParams(r=0.5, alpha=4.0, a=0.8, b=2.4)
    summary = pd.DataFrame({"x": [3], "t_x": [2.0], "T": [30.0]})
    alive = clv.p_alive(params, np.array([3.0]), np.array([2.0]), np.array([30.0]))[0]
    quiet = (34 / 47) ** 3.5
    assert risk.p_no_purchase(params, summary, 13.0)[0] == pytest.approx(1 - alive + alive * quiet)


def test_levels_follow_the_chosen_score_and_its_thresholds():
    table = pd.DataFrame(
        {
            "overdue_ratio": [1.0, 2.0, 4.0, 4.0],
            "p_alive": [0.9, 0.5, 0.2, np.nan],
            "p_no_purchase": [0.3, 0.6, 0.85, np.nan],
            "expected_purchases_ahead": [2.0, 0.5, 0.1, np.nan],
        }
    )

    def levels(score):
        return list(risk.levels(table, risk.ChurnRule(score, 182.0, {}), RISK_SETTINGS))

    assert levels("overdue") == ["low", "medium", "high", "high"]
    assert levels("p_alive") == ["low", "medium", "high", "high"]  # the unseen customer: overdue level
    assert levels("p_no_purchase") == ["low", "medium", "high", "high"]
    # exp(-2) = 0.14 low, exp(-0.5) = 0.61 medium, exp(-0.1) = 0.90 high
    assert levels("expected_purchases") == ["low", "medium", "high", "high"]


@pytest.mark.parametrize(
    ("auc", "excluded", "forced", "expected"),
    [
        (
            {"overdue": 0.63, "p_alive": 0.33, "p_no_purchase": 0.70, "expected_purchases": 0.72},
            {},
            "auto",
            "expected_purchases",
        ),
        (
            {"overdue": 0.70, "p_alive": 0.9, "p_no_purchase": 0.703, "expected_purchases": 0.6},
            {"p_alive": "collapsed"},
            "auto",
            "overdue",
        ),  # p_alive excluded; the rest within the tie margin
        (
            {"overdue": 0.50, "p_alive": 0.52, "p_no_purchase": 0.53, "expected_purchases": 0.54},
            {},
            "auto",
            "overdue",
        ),  # nothing much better than chance
        (dict.fromkeys(risk.SCORES, float("nan")), {}, "auto", "overdue"),  # nothing could be scored
        (
            {"overdue": 0.9, "p_alive": 0.2, "p_no_purchase": 0.5, "expected_purchases": 0.5},
            {},
            "p_alive",
            "p_alive",
        ),  # the consultant's explicit choice
    ],
)
def test_the_choice_takes_the_best_eligible_auc(auc, excluded, forced, expected):
    assert risk.choose(auc, excluded, forced) == expected


def test_calibrated_cuts_mark_where_the_lapse_rate_reaches_its_multiples_of_the_average():
    score = np.arange(1.0, 11.0)
    lapsed = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])  # average 0.5; isotonic: 0,0,0,0,.5,.5,1,1,1,1
    medium, high, high_rate = risk.calibrated_cuts(score, lapsed, medium_lift=1.0, high_lift=1.5)
    assert (medium, high, high_rate) == (5.0, 7.0, 1.0)
    never = risk.calibrated_cuts(score, np.array([0, 1] * 5), medium_lift=1.0, high_lift=3.0)
    assert np.isinf(never[1]) and np.isnan(never[2])


def test_a_calibrated_rule_levels_by_its_cuts_and_says_so():
    table = pd.DataFrame(
        {
            "overdue_ratio": [0.5, 1.3, 2.0, 9.0],
            "p_alive": [0.9, 0.5, 0.2, np.nan],
            "p_no_purchase": [0.3, 0.6, 0.85, np.nan],
            "expected_purchases_ahead": [2.0, 0.5, 0.1, np.nan],
        }
    )
    rule = risk.ChurnRule(
        "overdue", 182.0, {"overdue": 0.7}, {}, 100, 30, medium_cut=1.2, high_cut=1.9, high_lapse_rate=0.6
    )
    assert list(risk.levels(table, rule, RISK_SETTINGS)) == ["low", "medium", "high", "high"]
    text = risk.rule_sentence(rule, RISK_SETTINGS) + " " + risk.evidence_sentence(rule)
    assert text.startswith(
        "A customer is at high risk when the time since their last order is at least 1.9 times"
    )
    assert "(medium risk from 1.2 times)" in text and "30% of the customers bought nothing" in text
    assert "against 60% of those this rule would have marked high risk" in text


def test_a_rule_survives_its_record():
    rule = risk.ChurnRule(
        "p_no_purchase", 182.0, {"overdue": 0.6, "p_alive": float("nan")}, {"p_alive": "why"}, 100, 40
    )
    assert risk.ChurnRule.from_record(rule.record()).record() == rule.record()
    unreachable = risk.ChurnRule(
        "overdue", 182.0, {"overdue": 0.6}, {}, 100, 40, 1.0, float("inf"), float("nan")
    )
    back = risk.ChurnRule.from_record(json.loads(json.dumps(unreachable.record())))
    assert np.isinf(back.high_cut) and back.medium_cut == 1.0


# ---------------------------------------------------------------------------- simulated logs


def simulated_orders(
    n: int, r: float, alpha: float, a: float, b: float, seed: int, spend_follows_rate: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """Orders of ``n`` customers in [START, END) under BG/NBD (rates per day), acquired over the first
    half of the year, and each customer's purchases in the FUTURE_DAYS after END (the outcome)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    clock = rng.uniform(0, 182, n)  # first purchase day
    horizon = (END - START).days + FUTURE_DAYS
    spend_level = 20 + 400 * rate / rate.mean() if spend_follows_rate else rng.gamma(4, 15, n)
    rows, future = [], np.zeros(n, dtype=int)
    active = np.arange(n)
    first = True
    while active.size:
        inside = active[clock[active] < horizon]
        past = inside[clock[inside] < (END - START).days]
        later = inside[clock[inside] >= (END - START).days]
        future[later] += 1
        rows.append(
            pd.DataFrame(
                {
                    "customer": past,
                    "day": clock[past].astype(int),
                    "amount": spend_level[past] * rng.gamma(6, 1 / 6, past.size),
                }
            )
        )
        stays = inside if first else inside[rng.random(inside.size) >= dropout[inside]]
        first = False
        clock[stays] += rng.exponential(1 / rate[stays])
        active = stays
    orders = pd.concat(rows, ignore_index=True)
    table = pd.DataFrame(
        {
            "customer_id": orders["customer"].map("{:05d}".format),
            "order_date": [START + timedelta(days=int(d), hours=10) for d in orders["day"]],
            "amount": orders["amount"].round(2),
        }
    )
    outcome = pd.Series(future, index=[f"{i:05d}" for i in range(n)], name="future_purchases")
    return table, outcome


def rule_on(orders: pd.DataFrame) -> tuple[clv_stage.FutureValue, risk.ChurnRule]:
    future = clv_stage.future_value(ibis.memtable(orders), START, END, CLV_SETTINGS)
    return future, risk.decide(future, RISK_SETTINGS, CLV_SETTINGS)


@pytest.fixture(scope="module")
def with_dropout():
    orders, outcome = simulated_orders(4000, r=0.6, alpha=25.0, a=0.8, b=2.5, seed=1)
    return orders, outcome, *rule_on(orders)


@pytest.fixture(scope="module")
def without_dropout():
    orders, outcome = simulated_orders(4000, r=0.6, alpha=25.0, a=0.001, b=100.0, seed=2)
    return orders, outcome, *rule_on(orders)


def test_with_dropout_p_alive_is_eligible_and_every_candidate_ranks_the_lapsed(with_dropout):
    _, _, future, rule = with_dropout
    assert "p_alive" not in rule.excluded
    assert rule.auc["p_no_purchase"] > 0.6 and rule.auc["overdue"] > 0.6
    eligible = {k: v for k, v in rule.auc.items() if k not in rule.excluded}
    assert rule.auc[rule.score] >= max(eligible.values()) - risk.TIE_MARGIN


def test_without_dropout_p_alive_is_not_trusted_for_churn_risk(without_dropout):
    _, _, future, rule = without_dropout
    assert "p_alive" in rule.excluded and "almost no customer leaving" in rule.excluded["p_alive"]
    assert rule.score != "p_alive"


@pytest.mark.parametrize("log", ["with_dropout", "without_dropout"])
def test_high_risk_customers_buy_again_far_less_than_low_risk_ones(request, log):
    orders, outcome, future, rule = request.getfixturevalue(log)
    customers = (
        orders.assign(day=orders["order_date"].dt.normalize())
        .groupby("customer_id")
        .agg(monetary=("amount", "sum"), last=("day", "max"), days=("day", "nunique"), first=("day", "min"))
    )
    gap = ((customers["last"] - customers["first"]).dt.days / (customers["days"] - 1)).where(
        customers["days"] > 1
    )
    scored = pd.DataFrame(
        {
            "customer_id": customers.index,
            "segment": "any",
            "monetary": customers["monetary"].to_numpy(),
            "recency_days": (pd.Timestamp(END) - customers["last"]).dt.days.to_numpy(),
            "mean_interpurchase_days": gap.to_numpy(),
        }
    )
    table = risk.score_customers(scored, future, rule, RISK_SETTINGS, CLV_SETTINGS["time_unit"])
    bought_again = outcome.reindex(table["customer_id"]).to_numpy() > 0
    rate = pd.Series(bought_again).groupby(table["churn_risk"].to_numpy()).mean()
    riskiest = "high" if "high" in rate.index else "medium"  # without dropout nobody may reach high
    assert rate[riskiest] < 0.5 * rate["low"], rate


def test_correlated_spend_is_not_trusted_and_independent_spend_is(with_dropout):
    _, _, future, _ = with_dropout
    assert future.spend_trusted, future.spend_reason
    orders, _ = simulated_orders(3000, r=0.6, alpha=25.0, a=0.8, b=2.5, seed=3, spend_follows_rate=True)
    tied = clv_stage.future_value(ibis.memtable(orders), START, END, CLV_SETTINGS)
    assert not tied.spend_trusted
    assert "buy more often also spend more" in tied.spend_reason
    # then each purchase is valued at the customer's own average spend
    own = tied.summary.set_index("customer_id")["mean_spend"]
    np.testing.assert_allclose(tied.values.set_index("customer_id")["expected_spend"], own.to_numpy())


def test_sentences_say_the_rule_in_plain_words(with_dropout):
    _, _, _, rule = with_dropout
    text = risk.rule_sentence(rule, RISK_SETTINGS) + " " + risk.evidence_sentence(rule)
    assert "_" not in text and "AUC" not in text
    few = risk.ChurnRule("overdue", 182.0, dict.fromkeys(risk.SCORES, float("nan")), {}, 500, 7)
    assert risk.evidence_sentence(few).startswith("Too few customers (7 of 500) stopped buying")
