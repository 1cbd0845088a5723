"""What the data covers (analysis_utils.coverage) and the first page's actions (analysis_utils.actions),
on hand-made tables: partial months, the coverage box, the caveats, business accounts."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from analysis_utils import actions, coverage
from analysis_utils.config import Period

PERIOD = Period("h2", as_of=dt.datetime(2011, 12, 10), window_days=192)  # 2011-06-01 .. 2011-12-09
QUALITY = pd.DataFrame(
    {
        "rule": ["input", "missing_customer", "orders"],
        "rows": [1000, 250, 100],
        "amount": [10_000.0, 1_450.0, 8_000.0],
    }
)


def orders_table(
    days: list[str], amounts: list[float], items: list[float], extreme: list[bool]
) -> ibis.Table:
    return ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": [f"c{i % 3}" for i in range(len(days))],
                "order_date": pd.to_datetime(days),
                "amount": amounts,
                "items": items,
                "is_extreme": extreme,
            }
        )
    )


def measured(
    history_start: str, orders: ibis.Table, monetary: list[float], new: int = 2
) -> coverage.Coverage:
    history = pd.DataFrame({"customer_id": ["c0"], "first_order_date": [pd.Timestamp(history_start)]})
    customers = pd.DataFrame({"customer_id": [f"k{i}" for i in range(len(monetary))], "monetary": monetary})
    return coverage.measure(QUALITY, history, orders, customers, PERIOD, new)


CONSUMER = orders_table(
    ["2011-06-05", "2011-07-10", "2011-08-10", "2011-09-10", "2011-10-10", "2011-11-10", "2011-12-05"],
    [100.0, 120.0, 80.0, 90.0, 110.0, 400.0, 50.0],
    [2, 3, 1, 2, 4, 3, 2],
    [False] * 7,
)


def test_months_are_partial_when_observed_on_less_than_nine_tenths_of_their_days():
    cov = measured("2010-12-01", CONSUMER, [100.0] * 10)
    months = cov.monthly.set_index("month")
    assert list(months["observed_days"]) == [30, 31, 31, 30, 31, 30, 9]  # December: 1-9
    assert cov.partial_months == [pd.Timestamp("2011-12-01")]
    assert months["revenue"].sum() == 950.0


def test_the_export_starting_late_makes_the_first_month_partial_and_says_so():
    cov = measured("2011-06-20", CONSUMER, [100.0] * 10)
    assert cov.window_uncovered_days == 19 and cov.look_back_days == 0
    assert pd.Timestamp("2011-06-01") in cov.partial_months  # observed from the 20th: 11 of 30 days
    notes = coverage.caveats(cov, "GBP")
    assert notes[0].startswith("The export starts on 20 June 2011, 19 days into the period")
    assert any("every customer counts as new" in note for note in notes)


def test_caveats_name_the_missing_ids_the_short_look_back_and_the_partial_month():
    cov = measured("2010-12-01", CONSUMER, [100.0] * 10, new=8)
    notes = coverage.caveats(cov, "GBP")
    assert any(
        n.startswith("The export holds only 182 days before the period starts, so many of the 8 customers")
        for n in notes
    )
    assert "250 lines (25% of the export), worth 1,450 GBP, carry no customer id" in " ".join(notes)
    assert any(n.startswith("December 2011 is only partly covered (9 of 31 days)") for n in notes)
    table = coverage.coverage_table(cov, "GBP").set_index("Fact")["Value"]
    assert table["Period"] == "01 Jun 2011 to 09 Dec 2011" and table["Partial months"] == "Dec 2011"
    assert table["Lines without a customer id"] == "250 of 1,000 (1,450 GBP)"
    long = measured("2010-01-01", CONSUMER, [100.0] * 10, new=8)
    assert not any("counted as new" in n for n in coverage.caveats(long, "GBP"))


def test_seasonality_names_the_peak_among_full_months():
    cov = measured("2010-12-01", CONSUMER, [100.0] * 10)
    assert coverage.seasonality_sentence(cov, "GBP") == (
        "Revenue peaks in November 2011 (400 GBP, 3.8 times the median full month) and is lowest in "
        "August 2011 "
        "(80 GBP), a marked seasonal pattern."
    )


def test_partial_month_cells_are_blanked_in_the_cohort_table():
    cov = measured("2010-12-01", CONSUMER, [100.0] * 10)
    retention = pd.DataFrame(
        {0: [1.0, 1.0, 1.0], 1: [0.3, 0.2, np.nan], 2: [0.25, np.nan, np.nan]},
        index=pd.to_datetime(["2011-10-01", "2011-11-01", "2011-12-01"]),
    )
    masked = coverage.mask_partial_months(retention, cov)
    assert np.isnan(masked.loc["2011-10-01", 2]) and np.isnan(masked.loc["2011-11-01", 1])  # December cells
    assert np.isnan(masked.loc["2011-12-01", 0])
    assert masked.loc["2011-10-01", 1] == 0.3


def test_business_accounts_are_detected_from_currency_free_signals():
    consumer = measured("2010-12-01", CONSUMER, list(np.linspace(10, 200, 300)))
    assert consumer.business_signals == [] and coverage.business_sentence(consumer, False) == ""
    trade = orders_table(
        ["2011-06-05", "2011-07-10", "2011-08-10", "2011-09-10"],
        [5_000.0, 4_000.0, 60_000.0, 3_000.0],
        [240, 180, 2_000, 150],
        [False, False, True, False],
    )
    spend = [280_000.0, 130_000.0] + [500.0] * 198  # the top 1% (2 customers) bring 80%
    wholesale = measured("2010-12-01", trade, spend)
    assert wholesale.looks_business and len(wholesale.business_signals) == 3
    text = coverage.business_sentence(wholesale, business_playbook=False)
    assert text.startswith(
        "This customer base looks like business accounts rather than consumers: a typical order"
    )
    assert "the business playbook" in text
    assert coverage.business_sentence(wholesale, business_playbook=True).endswith(
        "written for business accounts."
    )


SCORED = pd.DataFrame(
    {
        "customer_id": list("abcdefgh"),
        "segment": [
            "Champions",
            "Champions",
            "Can't Lose Them",
            "Can't Lose Them",
            "At Risk",
            "New",
            "New",
            "Lost",
        ],
        "monetary": [900.0, 800.0, 700.0, 300.0, 200.0, 40.0, 60.0, 10.0],
        "frequency": [10, 8, 6, 3, 2, 1, 1, 1],
        "aov": [90.0, 100.0, 116.7, 100.0, 100.0, 40.0, 60.0, 10.0],
        "churn_risk": ["low", "low", "high", "high", "high", "low", "medium", "high"],
    }
)
PLAYBOOK = pd.DataFrame(
    {
        "campaign": [
            "VIP programme.",
            "Account-manager call.",
            "Win-back e-mail.",
            "Onboarding series.",
            "Last try.",
        ]
    },
    index=["Champions", "Can't Lose Them", "At Risk", "New", "Lost"],
)


def test_three_actions_by_money_at_stake_each_with_its_segment_campaign():
    chosen = actions.prioritised(SCORED, PLAYBOOK, ["Champions", "Can't Lose Them", "At Risk"])
    assert [(a.kind, a.group, a.customers, a.at_stake) for a in chosen] == [
        ("protect", "Champions", 2, 1700.0),
        ("win_back", "Can't Lose Them", 2, 1000.0),  # Lost is not valuable; At Risk holds less
        ("second_order", "One-time buyers", 2, 100.0),  # the high-risk one-time buyer (Lost) is not counted
    ]
    text = actions.action_markdown(chosen, 3010.0, "EUR")
    assert text.splitlines()[1] == (
        "2. **Win back 2 Can't Lose Them customers at high risk.** They spent 1,000 EUR in the "
        "period (33% of "
        "revenue), all at stake if they go. What to do: Account-manager call."
    )
    assert text.startswith("1. **Keep and grow Champions: 2 customers**")


def test_an_export_starting_with_the_period_says_every_customer_counts_as_new():
    cov = measured("2011-06-01", CONSUMER, [100.0] * 10, new=10)
    notes = coverage.caveats(cov, "GBP")
    assert notes[0].startswith("The export holds no orders before the period, so every customer counts as")
    assert not any("holds only 0 days" in note for note in notes)
