"""The points model: data-scaled and stepwise points, regularity, capped event points, ranks and
tiers, by hand and as properties (tier shares on heavy-tailed spend, the wholesale case)."""

from __future__ import annotations

import datetime as dt
import math

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis_utils import paths, ranking
from analysis_utils.config import load_yaml
from analysis_utils.errors import ConfigError

SPEND = [{"from": 50, "points": 10}, {"from": 150, "points": 25}]
REGULARITY = {"min_order_days": 3, "tiers": [{"max_cv": 0.5, "points": 30}, {"max_cv": 1.0, "points": 15}]}
EVENTS = {"referral": {"points": 25, "cap": 50}, "review": {"points": 5, "cap": 100}}
TIERS = [
    {"name": "Gold", "top_share": 0.25, "min_points": 60},
    {"name": "Silver", "top_share": 0.5, "min_points": 20},
    {"name": "Bronze", "top_share": 1.0, "min_points": 0},
]
RANKING = {  # scale fixed: today's currency steps
    "scale": "fixed",
    "data_points": {"spend": 100, "margin": 50},
    "spend_tiers": SPEND,
    "margin_tiers": [{"from": 20, "points": 5}],
    "regularity": REGULARITY,
    "events": EVENTS,
    "tier_by": "share",
    "tiers": TIERS,
}
DATA_RANKING = {**RANKING, "scale": "data"}
DEFAULT_RANKING = load_yaml(paths.DEFAULTS_FILE)["ranking"]
HAND = pd.DataFrame(  # the worked example of docs/methodology.md, section 12.3
    {
        "customer_id": ["a", "b", "c", "d"],
        "monetary": [200.0, 60.0, 10.0, 60.0],
        "margin": [30.0, 5.0, 0.0, 25.0],
        "order_days": [6, 3, 1, 3],
        "gap_cv": [0.2, 0.8, np.nan, 2.0],
        "events_referral": [1, 0, 0, 0],
        "events_review": [0, 4, 0, 0],
    }
)


def test_step_points_take_the_highest_step_reached_and_nothing_below_the_first():
    values = pd.Series([0.0, 49.99, 50.0, 149.0, 150.0, 1e6, np.nan, -5.0])
    assert ranking.step_points(values, SPEND).tolist() == [0, 0, 10, 10, 25, 25, 0, 0]


def test_share_points_are_the_top_points_times_the_share_of_customers_who_spent_no_more():
    spend = pd.Series([200.0, 60.0, 10.0, 60.0])
    # 200: all 4 spent no more -> 100; 60: b, c, d -> 3/4 -> 75 (ties take the highest share); 10: 1/4
    assert ranking.share_points(spend, 100).tolist() == [100.0, 75.0, 25.0, 75.0]


def test_share_points_give_nothing_to_zero_negative_or_missing_values_but_count_them():
    values = pd.Series([0.0, -5.0, np.nan, 30.0, 30.0, 90.0])
    # six customers: -5 < 0 = missing (0) < 30 = 30 < 90; 30 -> 5/6 x 50 = 41.666667
    points = ranking.share_points(values, 50)
    assert points.tolist() == [0.0, 0.0, 0.0, 41.666667, 41.666667, 50.0]
    assert ranking.share_points(pd.Series([], dtype="float64"), 100).empty


def test_share_points_do_not_depend_on_currency_or_scale():
    rng = np.random.default_rng(7)
    spend = pd.Series(rng.lognormal(6, 2, 500).round(2))
    points = ranking.share_points(spend, 100)
    assert ranking.share_points(spend * 1000, 100).equals(points)  # pence, yen, wholesale
    assert ranking.share_points(spend / 7, 100).equals(points)
    ordered = pd.DataFrame({"spend": spend, "points": points}).sort_values("spend")
    assert ordered["points"].is_monotonic_increasing and points.max() == 100


def test_regularity_points_need_enough_purchase_days_and_a_low_coefficient_of_variation():
    cv = pd.Series([0.0, 0.5, 0.51, 1.0, 1.2, 0.1, np.nan])
    days = pd.Series([3, 5, 5, 5, 5, 2, 1])
    assert ranking.regularity_points(cv, days, REGULARITY).tolist() == [30, 30, 15, 15, 0, 0, 0]


def test_gap_cv_is_population_std_over_mean_of_the_gaps():
    gaps = pd.DataFrame({"gaps": [3, 2, 0], "gap_sum": [30, 20, 0], "gap_squares": [300, 250, 0]})
    # gaps 10, 10, 10 -> cv 0; gaps 5, 15 -> mean 10, std 5 -> cv 0.5; no gaps -> NaN
    cv = ranking.gap_cv(gaps)
    assert cv.iloc[:2].tolist() == [0.0, 0.5] and np.isnan(cv.iloc[2])


def test_purchase_gaps_count_distinct_purchase_days_of_the_orders():
    orders = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "a", "a", "b"],
                "order_date": pd.to_datetime(
                    ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-06", "2024-01-21", "2024-01-03"],
                    format="ISO8601",
                ),
            }
        )
    )
    gaps = ranking.purchase_gaps(orders).to_pandas().sort_values("customer_id")
    assert gaps.to_dict("records") == [{"customer_id": "a", "gaps": 2, "gap_sum": 20, "gap_squares": 250}]


def test_event_points_are_capped_per_type():
    counts = pd.DataFrame({"events_referral": [0, 1, 3], "events_review": [2, 0, np.nan]})
    points = ranking.event_points(counts, EVENTS)
    assert points.to_dict("list") == {"points_referral": [0, 25, 50], "points_review": [10, 0, 0]}


def test_points_table_with_data_scale_by_hand():
    points = ranking.points_table(HAND, DATA_RANKING).set_index("customer_id")
    # spend 200, 60, 10, 60 -> 4/4, 3/4, 1/4, 3/4 of 100; margin 30, 5, 0, 25 -> 4/4, 2/4, 0, 3/4 of 50
    assert points["points_spend"].tolist() == [100, 75, 25, 75]
    assert points["points_margin"].tolist() == [50, 25, 0, 37.5]
    # a: 100 + 50 + 30 + referral 25 = 205; b: 75 + 25 + 15 + reviews 20 = 135; c: 25; d: 75 + 37.5
    assert points["points_total"].tolist() == [205, 135, 25, 112.5]
    assert points["rank"].tolist() == [1, 2, 4, 3]
    assert points["tier"].astype(str).tolist() == ["Gold", "Silver", "Bronze", "Bronze"]


def test_points_table_with_fixed_scale_by_hand():
    points = ranking.points_table(HAND, RANKING).set_index("customer_id")
    # a: spend 25 + margin 5 + regularity 30 + referral 25 = 85
    # b: spend 10 + regularity 15 + reviews 4 x 5 = 45; c: 0; d: spend 10 + margin 5 = 15
    assert points["points_total"].tolist() == [85, 45, 0, 15]
    assert points["rank"].tolist() == [1, 2, 4, 3]
    assert points.loc[
        "a", ["points_spend", "points_margin", "points_regularity", "points_referral"]
    ].tolist() == [
        25,
        5,
        30,
        25,
    ]
    # top 25 % of 4 customers = 1 (Gold), top 50 % = 2 (Silver)
    assert points["tier"].astype(str).tolist() == ["Gold", "Silver", "Bronze", "Bronze"]


def test_without_margin_or_events_those_criteria_are_absent():
    behaviour = pd.DataFrame(
        {"customer_id": ["a"], "monetary": [60.0], "order_days": [1], "gap_cv": [np.nan]}
    )
    points = ranking.points_table(behaviour, RANKING)
    assert [c for c in points.columns if c.startswith("points_")] == [
        "points_spend",
        "points_regularity",
        "points_total",
    ]


def test_a_tie_at_a_tier_limit_is_split_by_spend_while_both_keep_the_best_rank():
    behaviour = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "monetary": [80.0, 90.0, 50.0, 20.0],
            "order_days": [1, 1, 1, 1],
            "gap_cv": [np.nan] * 4,
            "events_referral": [0, 0, 0, 0],
            "events_review": [2, 2, 1, 0],  # totals 10, 10, 5, 0 with no spend points
        }
    )
    model = {**RANKING, "spend_tiers": [{"from": 1000, "points": 100}]}
    points = ranking.points_table(behaviour, model).set_index("customer_id")
    assert points["rank"].tolist() == [1, 1, 3, 4]
    # Gold holds ceil(0.25 x 4) = 1 customer: b, who spent more than a
    assert points["tier"].astype(str).tolist() == ["Silver", "Gold", "Bronze", "Bronze"]


def test_tier_order_breaks_ties_by_spend_then_customer_id_as_text():
    total = pd.Series([10.0, 10.0, 10.0, 20.0, 10.0])
    spend = pd.Series([5.0, 7.0, 5.0, 1.0, np.nan])
    ids = pd.Series(["9", "2", "10", "4", "1"])
    # 20 first; then the 10s: spend 7, then spend 5 by id "10" < "9", then missing spend last
    assert ranking.tier_order(total, spend, ids).tolist() == [4, 2, 3, 1, 5]


def test_a_rank_with_ties_keeps_tied_customers_in_one_tier():
    total = pd.Series([10.0, 10.0, 5.0, 1.0])
    rank = total.rank(method="min", ascending=False).astype(int)
    assert rank.tolist() == [1, 1, 3, 4]
    assert ranking.assign_tiers(total, rank, TIERS, "share").astype(str).tolist() == [
        "Gold",
        "Gold",
        "Bronze",
        "Bronze",
    ]


def test_tiers_by_points_use_the_thresholds():
    total = pd.Series([100.0, 60.0, 59.5, 20.0, 0.0])
    tiers = ranking.assign_tiers(total, total.rank(ascending=False), TIERS, "points")
    assert tiers.astype(str).tolist() == ["Gold", "Gold", "Silver", "Silver", "Bronze"]


@given(st.lists(st.integers(0, 300), min_size=1, max_size=60))
def test_every_customer_gets_one_tier_and_tiers_follow_points(totals):
    total = pd.Series(totals, dtype="float64")
    spend = pd.Series(np.arange(len(totals)) % 3, dtype="float64")
    place = ranking.tier_order(total, spend, pd.Series(range(len(totals))).astype(str))
    assert sorted(place) == list(range(1, len(totals) + 1))
    tiers = ranking.assign_tiers(total, place, TIERS, "share")
    assert tiers.notna().all()
    # the tiers up to each one hold exactly its cumulative limit ceil(top_share x n)
    codes = tiers.cat.codes
    assert [int((codes <= k).sum()) for k in range(len(TIERS))] == [
        math.ceil(round(t["top_share"] * len(totals), 9)) for t in TIERS
    ]
    ordered = pd.DataFrame({"total": total, "code": tiers.cat.codes}).sort_values(
        ["total", "code"], ascending=[False, True]
    )
    assert ordered["code"].is_monotonic_increasing  # more points never means a worse tier


def test_tier_table_says_which_criteria_drive_each_tier():
    ranked = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "points_spend": [30.0, 10.0, 0.0],
            "points_referral": [10.0, 0.0, 0.0],
            "points_total": [40.0, 10.0, 0.0],
            "tier": pd.Categorical(["Gold", "Silver", "Silver"], categories=["Gold", "Silver"], ordered=True),
        }
    )
    table = ranking.tier_table(ranked).set_index("tier")
    assert table.loc["Gold", ["share_points_spend", "share_points_referral"]].tolist() == [0.75, 0.25]
    assert table.loc["Silver", "customers"] == 2 and table.loc["Silver", "mean_points"] == 5.0
    sentence = ranking.tier_sentence(table.reset_index())
    assert "**Gold**: 1 customer (33%), 40-40 points, earned mostly for spend;" in sentence
    assert "**Silver**: 2 customers (67%), 0-10 points, earned mostly for spend." in sentence


def test_tier_sentence_speaks_the_clients_language():
    ranked = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "points_spend": [100.0, 20.0, 10.0, 0.0],
            "points_regularity": [30.0, 30.0, 0.0, 0.0],
            "points_referral": [0.0, 0.0, 25.0, 0.0],
            "points_total": [130.0, 50.0, 35.0, 0.0],
            "tier": pd.Categorical(
                ["Gold", "Silver", "Bronze", "Bronze"], categories=["Gold", "Silver", "Bronze"]
            ),
        }
    )
    sentence = ranking.tier_sentence(ranking.tier_table(ranked), scale="data")
    assert sentence == (
        "**Gold**: 1 customer (25%), 130-130 points, earned mostly for spend compared with the other "
        "customers; **Silver**: 1 customer (25%), 50-50 points, earned mostly for buying at a steady "
        "rhythm; **Bronze**: 2 customers (50%), 0-35 points, earned mostly for referring new customers."
    )
    assert "points_" not in sentence and "_" not in sentence
    neutral = ranking.tier_sentence(ranking.tier_table(ranked))  # fixed scale, or scale not given
    assert "earned mostly for spend;" in neutral
    odd = pd.DataFrame(
        {
            "tier": ["Gold"],
            "customers": [1_250],
            "share_customers": [0.2],
            "min_points": [183.64],
            "max_points": [1250.0],
            "share_points_app_review": [1.0],
        }
    )
    assert ranking.tier_sentence(odd) == (
        "**Gold**: 1,250 customers (20%), 183.6-1,250 points, earned mostly for app review events."
    )


def test_behaviour_table_adds_margin_when_orders_carry_cost():
    orders = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "b"],
                "order_id": ["1", "2", "3"],
                "order_date": pd.to_datetime(["2024-01-02", "2024-02-01", "2023-06-01"]),
                "amount": [10.0, 30.0, 99.0],
                "cost": [4.0, 20.0, 1.0],
            }
        )
    )
    customers = pd.DataFrame({"customer_id": ["a"], "monetary": [40.0], "order_days": [2]})
    behaviour = ranking.behaviour_table(customers, orders, dt.datetime(2024, 3, 1), 60)
    assert behaviour["margin"].tolist() == pytest.approx([16.0])  # b's order is before the window


def today_points_table(behaviour: pd.DataFrame, model: dict) -> pd.DataFrame:
    """The points model before ``ranking.scale``: currency steps, and tiers by the tied (min) rank."""
    points = pd.DataFrame({"customer_id": behaviour["customer_id"]})
    points["points_spend"] = ranking.step_points(behaviour["monetary"], model["spend_tiers"])
    if "margin" in behaviour.columns:
        points["points_margin"] = ranking.step_points(behaviour["margin"], model["margin_tiers"])
    points["points_regularity"] = ranking.regularity_points(
        behaviour["gap_cv"], behaviour["order_days"], model["regularity"]
    )
    if any(c.startswith("events_") for c in behaviour.columns):
        points = points.join(ranking.event_points(behaviour, model["events"]))
    criteria = [c for c in points.columns if c.startswith("points_")]
    points["points_total"] = points[criteria].sum(axis=1)
    points["rank"] = points["points_total"].rank(method="min", ascending=False).astype("int64")
    points["tier"] = ranking.assign_tiers(
        points["points_total"], points["rank"], model["tiers"], model["tier_by"]
    )
    return points.sort_values("customer_id", ignore_index=True)


def random_behaviour(seed: int, customers: int, distribution: str, tie_share: float) -> pd.DataFrame:
    """Customers with heavy-tailed spend (lognormal or Pareto), a share of them on a few round
    amounts (many exact ties), margins, purchase days, gap cvs and event counts."""
    rng = np.random.default_rng(seed)
    if distribution == "lognormal":
        spend = rng.lognormal(mean=6.0, sigma=1.8, size=customers)
    else:
        spend = 50.0 * (1.0 + rng.pareto(1.1, size=customers))
    tied = rng.random(customers) < tie_share
    spend[tied] = rng.choice([0.0, 20.0, 100.0, 1000.0], size=int(tied.sum()))
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in rng.permutation(customers)],
            "monetary": spend.round(2),
            "margin": (spend * rng.uniform(-0.1, 0.5, customers)).round(2),
            "order_days": rng.integers(1, 12, customers),
            "gap_cv": rng.choice([0.2, 0.7, 1.5, np.nan], size=customers),
            "events_referral": rng.poisson(0.3, customers),
            "events_club_login": rng.poisson(4.0, customers),
            "events_review": rng.poisson(0.5, customers),
            "events_online_purchase": rng.poisson(2.0, customers),
            "events_newsletter_read": rng.poisson(3.0, customers),
        }
    )


HEAVY_TAILS = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(100, 3000),
    st.sampled_from(["lognormal", "pareto"]),
    st.sampled_from([0.0, 0.3, 0.8]),
)


@given(HEAVY_TAILS, st.sampled_from(["data", "fixed"]))
def test_tiers_by_share_hold_the_declared_shares_within_one_point_on_heavy_tailed_spend(case, scale):
    behaviour = random_behaviour(*case)
    points = ranking.points_table(behaviour, {**DEFAULT_RANKING, "scale": scale})
    declared = np.diff([0.0, *(t["top_share"] for t in DEFAULT_RANKING["tiers"])])
    measured = points["tier"].value_counts(normalize=True, sort=False).to_numpy()
    assert np.abs(measured - declared).max() <= 0.01
    # a better tier never has fewer points than a worse one
    ranges = points.groupby("tier", observed=True)["points_total"].agg(["min", "max"])
    assert (ranges["min"].to_numpy()[:-1] >= ranges["max"].to_numpy()[1:]).all()


@given(HEAVY_TAILS)
def test_data_scale_points_follow_spend_and_tie_only_on_equal_inputs(case):
    behaviour = random_behaviour(*case).drop(columns="margin")
    behaviour = behaviour.drop(columns=[c for c in behaviour.columns if c.startswith("events_")])
    behaviour["gap_cv"] = np.nan  # spend points alone
    points = ranking.points_table(behaviour, DEFAULT_RANKING).merge(behaviour, on="customer_id")
    by_spend = points.sort_values("monetary")
    assert by_spend["points_spend"].is_monotonic_increasing
    positive = points[points["monetary"] > 0]
    assert positive.groupby("points_spend")["monetary"].nunique().max() == 1  # one spend, one points value
    assert points.loc[points["monetary"] <= 0, "points_spend"].eq(0).all()
    assert points["points_spend"].max() == DEFAULT_RANKING["data_points"]["spend"]


@given(HEAVY_TAILS)
def test_fixed_scale_reproduces_the_currency_step_model_exactly(case):
    behaviour = random_behaviour(*case)
    model = {**DEFAULT_RANKING, "scale": "fixed"}
    now, before = ranking.points_table(behaviour, model), today_points_table(behaviour, model)
    columns = [c for c in before.columns if c != "tier"]
    pd.testing.assert_frame_equal(now[columns], before[columns])
    # tiers: identical for every customer whose total no one else has; a tied customer at a tier
    # limit may now fall one tier lower (the tie is split instead of overfilling the better tier)
    alone = ~before["points_total"].duplicated(keep=False)
    assert now.loc[alone, "tier"].equals(before.loc[alone, "tier"])
    assert (now["tier"].cat.codes >= before["tier"].cat.codes).all()


def test_fixed_scale_on_the_worked_example_is_unchanged():
    pd.testing.assert_frame_equal(ranking.points_table(HAND, RANKING), today_points_table(HAND, RANKING))


def wholesale_log() -> pd.DataFrame:
    """570 wholesale customers spending 1,000 to 279,801 (all different) among 1,500 customers."""
    rng = np.random.default_rng(2011)
    big = np.geomspace(1_000.0, 279_801.02, 570).round(2)
    small = rng.uniform(10.0, 999.0, 930).round(2)
    spend = rng.permutation(np.concatenate([big, small]))
    return pd.DataFrame(
        {
            "customer_id": [f"{12346 + i}" for i in range(len(spend))],
            "monetary": spend,
            "order_days": 5,
            "gap_cv": 0.3,  # every customer equally steady: spend decides
        }
    )


def test_the_wholesale_failure_of_fixed_steps_and_its_cure_with_data_scale():
    behaviour = wholesale_log()
    fixed = ranking.points_table(behaviour, {**DEFAULT_RANKING, "scale": "fixed"}).merge(behaviour)
    # fixed currency steps: every customer above 1,000 earns the top step and all 570 tie at rank 1
    assert (fixed["rank"] == 1).sum() == 570
    before = today_points_table(behaviour, {**DEFAULT_RANKING, "scale": "fixed"})
    assert before["tier"].value_counts(normalize=True)["Platinum"] == 0.38  # declared: 0.05
    data = ranking.points_table(behaviour, DEFAULT_RANKING).merge(behaviour)
    assert data["rank"].value_counts().max() <= 3  # no rank shared by more than a handful
    top = data.loc[data["monetary"].idxmax()]
    assert top["rank"] == 1 and top["tier"] == "Platinum" and top["points_spend"] == 100
    by_spend = data.sort_values("monetary")
    assert by_spend["points_total"].is_monotonic_increasing
    assert by_spend["tier"].cat.codes.is_monotonic_decreasing  # more spend, never a worse tier
    shares = data["tier"].value_counts(normalize=True, sort=False)
    assert shares.round(4).tolist() == [0.05, 0.15, 0.3, 0.5]


def test_data_scale_is_the_default_with_the_weights_of_the_fixed_steps():
    assert DEFAULT_RANKING["scale"] == "data"
    assert DEFAULT_RANKING["data_points"] == {
        "spend": DEFAULT_RANKING["spend_tiers"][-1]["points"],
        "margin": DEFAULT_RANKING["margin_tiers"][-1]["points"],
    }


def test_scale_and_data_points_are_validated_with_one_line_naming_the_parameter(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(ranking={"scale": "percentile", "data_points": {"spend": -1, "margin": 50}})
    message = str(raised.value)
    assert "ranking.scale must be one of data, fixed, got 'percentile'" in message
    assert "ranking.data_points.spend must be a number >= 0, got -1" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"unknown parameter ranking\.data_points\.revenue"):
        params_for(ranking={"data_points": {"revenue": 10}})
    with pytest.raises(ConfigError, match=r"ranking\.data_points\.margin must be a number"):
        params_for(ranking={"data_points": {"margin": "lots"}})
    params = params_for(ranking={"scale": "fixed", "data_points": {"spend": 80}})
    assert params.get("ranking.scale") == "fixed"
    assert params.get("ranking.data_points") == {"spend": 80, "margin": 50.0}
