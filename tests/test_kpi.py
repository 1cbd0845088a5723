"""Period KPIs, customer history and churn risk on small tables with every number worked by hand."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest
from helpers import lines, prep_params

from analysis_utils.config import Period
from analysis_utils.kpi import churn_risk, margin_kpis, period_kpis, risk_by_segment
from analysis_utils.prep import PrepResult, prepare_orders
from analysis_utils.rfm import customer_frame

PERIOD = Period("feb", as_of=dt.datetime(2024, 3, 1), window_days=29)  # [2024-02-01, 2024-03-01)
DATA = {"columns": {"order_date": "Date", "amount": "Amount"}, "date_format": "%Y-%m-%d"}


def run_prep(table: ibis.Table, period: Period, data: dict = DATA) -> PrepResult:
    """Stage 01 on hand-made lines with the default prep parameters."""
    return prepare_orders(table, prep_params(), data, period, "t")


def run_history(table: ibis.Table, period: Period) -> pd.DataFrame:
    """Stage 01's customer history for hand-made lines."""
    return run_prep(table, period).history.to_pandas()


def test_history_gives_first_order_and_previous_window_orders():
    table = lines(
        ("a", "1", "2023-12-15", "X", 1, 5.0),  # before the previous window
        ("a", "2", "2024-01-10", "X", 1, 5.0),  # previous window [2024-01-03, 2024-02-01)
        ("a", "3", "2024-02-05", "X", 1, 5.0),
        ("b", "4", "2024-02-10", "X", 1, 5.0),
        ("c", "5", "2024-01-20", "X", 1, 5.0),
        ("c", "6", "2024-01-25", "X", 1, 5.0),
    )
    history = run_history(table, PERIOD).set_index("customer_id")
    assert history.loc["a", "first_order_date"] == pd.Timestamp("2023-12-15")
    assert history["previous_window_orders"].to_dict() == {"a": 1, "b": 0, "c": 2}


def test_kpis_new_returning_churned_and_repurchase():
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "d"], "frequency": [3, 1, 2], "monetary": [60.0, 10.0, 30.0]}
    )
    history = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "first_order_date": pd.to_datetime(["2023-12-15", "2024-02-10", "2024-01-20", "2024-02-01"]),
            "previous_window_orders": [1, 0, 2, 0],
        }
    )
    kpis = period_kpis(customers, history, PERIOD)
    assert kpis == {
        "active_customers": 3,
        "new_customers": 2,  # b and d start inside the period (d on its first day)
        "returning_customers": 1,
        "previous_customers": 2,  # a and c bought in the previous window
        "churned_customers": 1,  # c did not come back
        "churn_rate": 0.5,
        "repurchase_rate": round(2 / 3, 6),
        "orders": 6,
        "revenue": 100.0,
        "aov": round(100 / 6, 6),
        "orders_per_customer": 2.0,
        "revenue_per_customer": round(100 / 3, 6),
    }


def test_kpis_that_need_a_comparison_are_none_without_a_window():
    customers = pd.DataFrame({"customer_id": ["a"], "frequency": [1], "monetary": [5.0]})
    kpis = period_kpis(
        customers, pd.DataFrame(columns=["customer_id"]), Period("all", dt.datetime(2024, 3, 1))
    )
    assert kpis["new_customers"] is None and kpis["churn_rate"] is None and kpis["active_customers"] == 1


MONEY_DATA = {
    "columns": {"order_date": "Date", "amount": "Amount", "discount": "Rabatt", "cost": "EK"},
    "date_format": "%Y-%m-%d",
}


def test_discount_and_margin_kpis_with_a_return_netted():
    # a: order 1 = X (2 units, list 20.00, discount 2.00, net 18.00, cost 10.00) + Y (10.00, cost
    # 4.00); one X comes back (net 9.00, discount 1.00, cost 5.00). b: order 2 = X, 20.00, cost 12.00.
    table = lines(
        ("a", "1", "2024-02-01", "X", 2, 18.0, 2.0, 10.0),
        ("a", "1", "2024-02-01", "Y", 1, 10.0, 0.0, 4.0),
        ("a", "R1", "2024-02-05", "X", -1, -9.0, 1.0, 5.0),
        ("b", "2", "2024-02-03", "X", 1, 20.0, 0.0, 12.0),
        money=("discount", "cost"),
    )
    result = run_prep(table, PERIOD, MONEY_DATA)
    orders = ibis.memtable(result.orders)
    customers = customer_frame(orders, PERIOD.as_of, PERIOD.window_days)
    kpis = period_kpis(customers, result.history.to_pandas(), PERIOD, orders=orders)
    # revenue R = 19 + 20 = 39, discount D = 2 + 0 - 1 = 1, cost C = 10 + 4 - 5 + 12 = 21
    assert kpis["revenue"] == 39.0
    assert kpis["average_discount_rate"] == 0.025  # D / (R + D) = 1 / 40
    assert kpis["gross_margin"] == 18.0  # R - C
    assert kpis["gross_margin_rate"] == round(18 / 39, 6)  # 0.461538
    assert kpis["active_customers"] == 2 and kpis["new_customers"] == 2  # the others are unchanged
    # orders as Arrow or pandas give the same numbers
    assert margin_kpis(result.orders, PERIOD) == margin_kpis(result.orders.to_pandas(), PERIOD)
    assert margin_kpis(result.orders, PERIOD) == {
        "average_discount_rate": 0.025,
        "gross_margin": 18.0,
        "gross_margin_rate": 0.461538,
    }


def test_margin_kpis_count_only_orders_inside_the_window():
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "order_date": pd.to_datetime(["2024-01-31 23:00", "2024-02-01 00:00", "2024-03-01 00:00"]),
            "amount": [100.0, 30.0, 50.0],
            "discount": [100.0, 10.0, 50.0],
            "cost": [0.0, 12.0, 0.0],
        }
    )
    # only the order of 2024-02-01 is in [2024-02-01, 2024-03-01): 10 / 40, margin 18, 18 / 30
    assert margin_kpis(orders, PERIOD) == {
        "average_discount_rate": 0.25,
        "gross_margin": 18.0,
        "gross_margin_rate": 0.6,
    }


def test_margin_kpis_are_none_when_the_orders_lack_the_columns():
    table = lines(("a", "1", "2024-02-02", "X", 1, 10.0))
    result = run_prep(table, PERIOD)
    customers = customer_frame(ibis.memtable(result.orders), PERIOD.as_of, PERIOD.window_days)
    history = result.history.to_pandas()
    with_orders = period_kpis(customers, history, PERIOD, orders=result.orders)
    without = period_kpis(customers, history, PERIOD)
    assert {k: with_orders[k] for k in ("average_discount_rate", "gross_margin", "gross_margin_rate")} == {
        "average_discount_rate": None,
        "gross_margin": None,
        "gross_margin_rate": None,
    }
    assert with_orders == without | with_orders and "gross_margin" not in without  # nothing else changes
    discount_only = result.orders.to_pandas().assign(discount=[2.5])
    assert margin_kpis(discount_only, PERIOD) == {
        "average_discount_rate": 0.2,  # 2.50 / (10.00 + 2.50)
        "gross_margin": None,
        "gross_margin_rate": None,
    }


def test_churn_risk_against_own_rhythm_or_the_population_median():
    customers = pd.DataFrame(
        {
            "customer_id": ["steady", "late", "gone", "once_recent", "once_old"],
            "recency_days": [10, 40, 100, 20, 90],
            "mean_interpurchase_days": [10.0, 20.0, 30.0, None, None],
            "segment": ["A", "A", "B", "B", "B"],
            "monetary": [100.0, 50.0, 80.0, 5.0, 7.0],
        }
    )
    scored = churn_risk(customers, {"medium_ratio": 1.5, "high_ratio": 3.0}).set_index("customer_id")
    # own gaps 10, 20, 30; one-purchase customers take the median gap, 20 days
    assert scored["expected_gap_days"].tolist() == [10.0, 20.0, 30.0, 20.0, 20.0]
    assert scored["overdue_ratio"].tolist() == [1.0, 2.0, 100 / 30, 1.0, 4.5]
    assert scored["churn_risk"].tolist() == ["low", "medium", "high", "low", "high"]
    table = risk_by_segment(scored.reset_index()).set_index("segment")
    assert table.loc["B", ["customers_high", "revenue_high", "customers_low"]].tolist() == [2, 87.0, 1]
    assert table.loc["A", "revenue_medium"] == 50.0


def test_ratio_exactly_at_a_threshold_is_the_lower_level():
    customers = pd.DataFrame({"recency_days": [15, 30], "mean_interpurchase_days": [10.0, 10.0]})
    assert churn_risk(customers, {"medium_ratio": 1.5, "high_ratio": 3.0})["churn_risk"].tolist() == [
        "low",
        "medium",
    ]


@pytest.mark.parametrize("medium, high", [(3.0, 1.5), (0.0, 2.0)])
def test_churn_thresholds_are_validated(params_for, medium, high):
    from analysis_utils.errors import ConfigError

    with pytest.raises(ConfigError, match="churn_risk.medium_ratio must be positive and below"):
        params_for(overrides=(f"churn_risk.medium_ratio={medium}", f"churn_risk.high_ratio={high}"))


def test_cohort_retention_by_month_of_first_order():
    import ibis

    from analysis_utils.kpi import cohort_retention

    history = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "first_order_date": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-03", "2023-11-01"]),
            "previous_window_orders": [0, 0, 0, 1],
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c", "c", "d"],
            "order_date": pd.to_datetime(
                [
                    "2024-01-05",
                    "2024-02-11",
                    "2024-01-20",
                    "2024-03-02",
                    "2024-02-03",
                    "2024-03-09",
                    "2024-02-14",
                ]
            ),
        }
    )
    table = cohort_retention(ibis.memtable(orders), ibis.memtable(history))
    # cohort 2024-01 (a, b): month 0 both, month 1 only a, month 2 only b; cohort 2024-02 (c): 0 and 1
    assert table.index.tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    assert table.loc["2024-01-01"].tolist() == [1.0, 0.5, 0.5]
    assert table.loc["2024-02-01"].tolist()[:2] == [1.0, 1.0]
    assert pd.isna(table.loc["2024-02-01", 2])  # April is after the last order: not observed, not 0%


def test_cohort_retention_by_quarter_counts_quarters_since_the_first():
    import ibis

    from analysis_utils.kpi import cohort_retention

    history = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "first_order_date": pd.to_datetime(["2024-01-05", "2024-03-20", "2024-04-03"]),
            "previous_window_orders": [0, 0, 0],
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "order_date": pd.to_datetime(
                ["2024-01-05", "2024-07-11", "2024-03-20", "2024-04-02", "2024-04-03"]
            ),
        }
    )
    table = cohort_retention(ibis.memtable(orders), ibis.memtable(history), unit="quarter")
    # Q1 cohort (a, b): Q1 both, Q2 only b (2 days later, but the next quarter), Q3 only a.
    # Q2 cohort (c): Q2 only; Q3 observed (the last order falls in Q3) and empty.
    assert table.index.tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")]
    assert table.loc[pd.Timestamp("2024-01-01")].tolist() == [1.0, 0.5, 0.5]
    assert table.loc[pd.Timestamp("2024-04-01")].tolist()[:2] == [1.0, 0.0]
    assert pd.isna(table.loc[pd.Timestamp("2024-04-01"), 2])  # Q4 2024: after the last order
