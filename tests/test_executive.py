"""The client report's numbers and sentences, on small tables worked by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis_utils import executive, kpi, rfm
from analysis_utils.comparison import PeriodTables
from analysis_utils.config import Period, previous_period

Y2023 = {"name": "2023", "as_of": "2024-01-01", "window_days": 365}
Y2024 = {"name": "2024", "as_of": "2025-01-01", "window_days": 366}
PERIOD = Period("feb", as_of=dt.datetime(2024, 3, 1), window_days=29)  # [2024-02-01, 2024-03-01)


@pytest.mark.parametrize(
    ("declared", "period", "expected"),
    [
        ([Y2023, Y2024], "2024", "2023"),  # the year before, ending exactly where 2024 starts
        ([Y2024, Y2023], "2024", "2023"),  # declaration order does not matter
        ([Y2023, Y2024], "2023", None),  # nothing ends by 2023-01-01
        ([Y2023, {"name": "all", "as_of": "2025-01-01"}], "all", None),  # all history: no window
        (  # overlapping periods are not "previous"; the latest one that ends in time is
            [
                {"name": "h1", "as_of": "2024-07-01", "window_days": 182},
                {"name": "rolling", "as_of": "2024-10-01", "window_days": 365},
                Y2023,
                Y2024,
            ],
            "2024",
            "2023",
        ),
    ],
)
def test_previous_period_is_the_latest_declared_period_ending_by_the_start(
    params_for, declared, period, expected
):
    params = params_for(periods=declared)
    previous = previous_period(params.periods, params.period(period))
    assert (previous.name if previous else None) == expected


def figures(customers: pd.DataFrame, history: pd.DataFrame, params, orders=None) -> executive.PeriodFigures:
    if orders is None:  # one order per customer and day is enough where no margin is asked for
        orders = pd.DataFrame({"order_date": pd.to_datetime(["2024-02-10"]), "amount": [1.0]})
    at_risk = kpi.churn_risk(rfm.scored_only(customers), params.get("churn_risk"))  # the overdue rule
    return executive.period_figures(PeriodTables(PERIOD, customers, history, orders), params, at_risk)


CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "recency_days": [2, 40, 10, 5, 20],
        "frequency": [3, 2, 1, 1, 1],
        "monetary": [60.0, 30.0, 10.0, 50.0, -5.0],
        "mean_interpurchase_days": [4.0, 10.0, None, None, None],
        "segment": ["Champions", "At Risk", "New", "New", "No net spend"],
    }
)
HISTORY = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "first_order_date": pd.to_datetime(
            ["2023-12-01", "2024-01-05", "2024-02-03", "2024-02-10", "2024-01-10", "2024-01-02"]
        ),
        "previous_window_orders": [1, 2, 0, 0, 1, 1],
    }
)


def test_headline_numbers_by_hand(params_for):
    numbers = executive.headline_numbers(figures(CUSTOMERS, HISTORY, params_for()))
    # active: 5 (e too: an order, though no net spend); revenue 60 + 30 + 10 + 50 - 5 = 145.
    # Top 20 % of the 4 scored customers: round(0.8) = 1 customer, 60 of 150 = 0.4.
    # Previous window: a, b, e, f; f did not buy: churn 1 / 4.
    # Gaps: a own 4 -> 2 / 4 = 0.5 low; b own 10 -> 40 / 10 = 4 high; c, d the median own gap
    # (4 + 10) / 2 = 7 -> 10 / 7 = 1.43 low, 5 / 7 low. At risk: b's 30.
    assert numbers == {
        "customers": 5,
        "revenue": 145.0,
        "top_revenue_share": pytest.approx(0.4),
        "churn_rate": 0.25,
        "revenue_at_risk": 30.0,
    }


NOW = {"customers": 110, "revenue": 90.0, "top_revenue_share": 0.5, "churn_rate": 0.2, "revenue_at_risk": 5.0}
BEFORE = {
    "customers": 100,
    "revenue": 80.0,
    "top_revenue_share": 0.4,
    "churn_rate": 0.25,
    "revenue_at_risk": 4.0,
}


def test_headline_table_gives_relative_change_and_points_for_shares():
    now, before = NOW, {**BEFORE, "revenue": 0.0, "churn_rate": None}
    table = executive.headline_table(now, before).set_index("measure")
    assert table.loc["customers", "change"] == pytest.approx(0.10)
    assert pd.isna(table.loc["revenue", "change"])  # no relative change from zero
    assert table.loc["top_revenue_share", "change"] == pytest.approx(0.10)  # 10 points
    assert pd.isna(table.loc["churn_rate", "change"])
    assert table.loc["revenue_at_risk", "change"] == pytest.approx(0.25)
    assert executive.headline_table(now, None)["change"].isna().all()
    assert executive.format_change(0.1, "share") == "+10.0 pts"
    assert executive.format_change(-0.0421, "count") == "-4.2%"
    assert executive.format_value(12345.6, "money", "EUR") == "12,346 EUR"
    assert executive.format_value(None, "share", "EUR") == "-"


def test_a_card_carries_its_caveat_escaped():
    now = {
        "customers": 10,
        "revenue": 90.0,
        "top_revenue_share": 0.5,
        "churn_rate": 0.2,
        "revenue_at_risk": 9.0,
    }
    cards = executive.headline_cards(
        executive.headline_table(now, None), "GBP", None, 0.2, {"churn_rate": "rests on <b>9</b> days"}
    )
    assert cards.count("class='kpi-note'") == 1 and "rests on &lt;b&gt;9&lt;/b&gt; days" in cards


def test_revenue_at_risk_is_not_compared_across_different_churn_rules(params_for):
    previous = figures(CUSTOMERS, HISTORY, params_for())
    assert executive.comparable_numbers(previous, True)["revenue_at_risk"] is not None
    assert executive.comparable_numbers(previous, False)["revenue_at_risk"] is None
    notes = executive.card_notes(previous, "2023", same_churn_rule=False)
    assert notes["revenue_at_risk"] == "not compared with 2023, whose risk rests on another rule"


def test_headline_cards_show_each_number_and_its_change():
    now, before = NOW, BEFORE
    cards = executive.headline_cards(executive.headline_table(now, before), "GBP", "2023", 0.2)
    assert cards.count("class='kpi-card'") == 5
    assert "Revenue from the top 20%" in cards and "+10.0% vs 2023" in cards and "-5.0 pts vs 2023" in cards
    assert "90 GBP" in cards and "50.0%" in cards


def test_headline_sentences_state_the_numbers(params_for):
    params = params_for()
    current = figures(CUSTOMERS, HISTORY, params)
    previous = figures(CUSTOMERS.iloc[:2], HISTORY, params)  # 2 customers, revenue 90
    text = executive.headline_sentences(current, previous, "GBP", 0.2)
    assert text.startswith("In feb, 5 customers bought for 145 GBP (150% more customers and 61% more revenue")
    assert "The top 20% of customers brought 40% of the revenue." in text
    assert "Of the 4 customers who bought in the window before, 1 (25%) did not buy again" in text
    assert (
        "1 customer is at high risk of not buying again" in text
        and "with 30 GBP of this period's revenue" in text
    )


def test_segment_quadrant_and_cluster_sentences_name_the_leaders():
    summary = pd.DataFrame(
        {
            "segment": ["Champions", "Hibernating"],
            "customers": [10, 30],
            "share_customers": [0.25, 0.75],
            "share_revenue": [0.7, 0.3],
        }
    )
    playbook = pd.DataFrame({"campaign": ["VIP programme."]}, index=pd.Index(["Champions"], name="segment"))
    assert executive.segment_sentences(summary, playbook) == (
        "Champions bring the largest share of revenue: 70% from 25% of the customers. The largest segment "
        "is Hibernating (75% of the customers, 30% of the revenue). Recommended for Champions: VIP programme."
    )
    profile = pd.DataFrame(
        {
            "cluster": [0, 1],
            "cluster_name": ["Top value", "Occasional"],
            "customers": [5, 15],
            "share_customers": [0.25, 0.75],
            "share_revenue": [0.6, 0.4],
            "mean_monetary": [120.0, 26.7],
        }
    )
    assert 'most valuable, "Top value", is 25% of the customers and brings 60%' in (
        executive.cluster_sentences(profile)
    )
    quadrants = pd.DataFrame(
        {
            "quadrant": ["Best", "Spenders", "Frequent", "Uncertain"],
            "share_customers": [0.1, 0.2, 0.3, 0.4],
            "share_revenue": [0.5, 0.2, 0.2, 0.1],
        }
    )
    assert executive.quadrant_sentences(quadrants, playbook).startswith(
        "Best customers (high order value and frequent) are 10% of the customers and bring 50% of the "
        "revenue; 40% are Uncertain"
    )


def test_risk_sentences_point_at_the_segment_with_most_revenue_at_risk():
    by_segment = pd.DataFrame(
        {
            "segment": ["At Risk", "Champions"],
            "customers_low": [1, 8],
            "customers_medium": [1, 1],
            "customers_high": [6, 2],
            "revenue_low": [10.0, 800.0],
            "revenue_medium": [10.0, 100.0],
            "revenue_high": [300.0, 500.0],
        }
    )
    assert executive.risk_sentences(by_segment, "GBP").endswith(
        "Most of that revenue is in Champions (2 customers, 500 GBP)."
    )
    text = executive.risk_sentences(by_segment, "GBP", ["Champions"])
    assert text.startswith("8 of the 19 customers with a net purchase (42%) are at high risk")
    assert "They spent 800 GBP in this period." in text
    assert "Most of that revenue is in Champions (2 customers, 500 GBP): the first place to act." in text
    elsewhere = executive.risk_sentences(by_segment, "GBP", ["At Risk"])
    assert elsewhere.endswith(
        "Most of that revenue is in Champions (2 customers, 500 GBP); among the valuable segments, At Risk "
        "holds the most (6 customers, 300 GBP): the first place to act."
    )


def test_cohort_sentences_average_over_the_cohorts_observed():
    retention = pd.DataFrame({0: [1.0, 1.0], 1: [0.2, 0.4], 3: [0.1, None]})
    assert executive.cohort_sentences(retention, "quarter").startswith("On average 30% of a quarter's new")
    assert executive.cohort_sentences(retention) == (
        "On average 30% of a month's new customers bought again in the following month, and 10% 3 months "
        "later (mean over the cohorts observed that long)."
    )


def test_top_customers_at_risk_are_the_high_risk_big_spenders_under_pseudonyms(params_for):
    scored = figures(CUSTOMERS, HISTORY, params_for()).at_risk
    more = scored.assign(customer_id=["x1", "x2", "x3", "x4"], churn_risk=["high", "high", "low", "high"])
    top = executive.top_customers_at_risk(more, salt="s", n=2)
    assert top["spend_in_period"].tolist() == [60.0, 50.0]  # x1 and x4, highest spend first; x3 is low risk
    assert top["customer"].str.fullmatch(r"C[0-9a-f]{16}").all()
    assert not set(top["customer"]) & set(more["customer_id"])


def test_labelled_tables_carry_readable_headings_with_units():
    table = pd.DataFrame({"segment": ["Loyal"], "share_revenue": [0.25], "mean_monetary": [1234.5]})
    html = executive.labelled(table, "EUR").to_html()
    assert "Share of revenue" in html and "Spend per customer (EUR)" in html
    assert "25.0%" in html and "1,234" in html and "share_revenue" not in html


def test_headline_sentences_add_margin_and_discount_when_the_export_has_them(params_for):
    orders = pd.DataFrame(
        {
            "order_date": pd.to_datetime(["2024-02-03", "2024-02-20", "2024-01-15"]),  # the last: before
            "amount": [90.0, 10.0, 500.0],
            "discount": [10.0, 0.0, 50.0],
            "cost": [60.0, 5.0, 100.0],
        }
    )
    current = figures(CUSTOMERS, HISTORY, params_for(), orders)
    # R = 100, D = 10, C = 65: margin 35 = 35% of revenue; discount 10 / 110 = 9.1% of list price.
    assert current.kpis["gross_margin"] == 35.0
    text = executive.headline_sentences(current, None, "GBP", 0.2)
    assert (
        "The gross margin was 35 GBP (35% of the revenue). Discounts gave away 9.1% of the list price."
        in text
    )
    assert "gross margin" not in executive.headline_sentences(
        figures(CUSTOMERS, HISTORY, params_for()), None, "GBP", 0.2
    )


def test_previous_window_coverage_warns_when_the_export_starts_inside_it(params_for):
    # PERIOD: [2024-02-01, 2024-03-01), 29 days; the window before: [2024-01-03, 2024-02-01).
    assert kpi.previous_window_coverage(HISTORY, PERIOD) == 1.0  # data from 2023-12-01
    late = HISTORY.assign(first_order_date=HISTORY["first_order_date"].clip(lower=pd.Timestamp("2024-01-18")))
    assert kpi.previous_window_coverage(late, PERIOD) == pytest.approx(14 / 29)  # 2024-01-18 on
    assert kpi.previous_window_coverage(HISTORY, Period("all", as_of=dt.datetime(2024, 3, 1))) == 0.0
    text = executive.headline_sentences(figures(CUSTOMERS, late, params_for()), None, "GBP", 0.2)
    assert "The export covers only 48% of that window, so read the churn rate with care" in text
    assert "read the churn rate" not in executive.headline_sentences(
        figures(CUSTOMERS, HISTORY, params_for()), None, "GBP", 0.2
    )
