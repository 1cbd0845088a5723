"""The points model: stepwise points, regularity, capped event points, ranks and tiers, by hand."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis_utils import ranking

SPEND = [{"from": 50, "points": 10}, {"from": 150, "points": 25}]
REGULARITY = {"min_order_days": 3, "tiers": [{"max_cv": 0.5, "points": 30}, {"max_cv": 1.0, "points": 15}]}
EVENTS = {"referral": {"points": 25, "cap": 50}, "review": {"points": 5, "cap": 100}}
TIERS = [
    {"name": "Gold", "top_share": 0.25, "min_points": 60},
    {"name": "Silver", "top_share": 0.5, "min_points": 20},
    {"name": "Bronze", "top_share": 1.0, "min_points": 0},
]
RANKING = {
    "spend_tiers": SPEND,
    "margin_tiers": [{"from": 20, "points": 5}],
    "regularity": REGULARITY,
    "events": EVENTS,
    "tier_by": "share",
    "tiers": TIERS,
}


def test_step_points_take_the_highest_step_reached_and_nothing_below_the_first():
    values = pd.Series([0.0, 49.99, 50.0, 149.0, 150.0, 1e6, np.nan, -5.0])
    assert ranking.step_points(values, SPEND).tolist() == [0, 0, 10, 10, 25, 25, 0, 0]


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


def test_points_table_by_hand():
    behaviour = pd.DataFrame(
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
    points = ranking.points_table(behaviour, RANKING).set_index("customer_id")
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


def test_tied_customers_share_rank_and_tier():
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
    rank = total.rank(method="min", ascending=False)
    tiers = ranking.assign_tiers(total, rank, TIERS, "share")
    assert tiers.notna().all()
    ordered = pd.DataFrame({"total": total, "code": tiers.cat.codes}).sort_values("total", ascending=False)
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
    assert "**Gold**: 1 customers (33%), 40-40 points, most of it from spend" in ranking.tier_sentence(
        table.reset_index()
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
