"""Campaign response: Wilson intervals by hand, rates, lift and advice on hand-made contacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis_utils import campaigns, executive


def test_wilson_interval_of_five_in_ten_at_95_percent():
    low, high = campaigns.wilson_interval(np.array([5]), np.array([10]), 0.95)
    assert (low[0], high[0]) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_wilson_interval_at_zero_successes_starts_at_zero():
    low, high = campaigns.wilson_interval(np.array([0]), np.array([20]), 0.95)
    assert low[0] == 0.0 and high[0] == pytest.approx(3.8415 / (20 + 3.8415), abs=1e-4)


@given(
    st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.8, 0.95]),
)
def test_wilson_interval_holds_the_observed_rate_within_zero_and_one(counts, confidence):
    successes, trials = counts
    low, high = campaigns.wilson_interval(np.array([successes]), np.array([trials]), confidence)
    assert 0 <= low[0] <= successes / trials + 1e-12 and successes / trials - 1e-12 <= high[0] <= 1


def test_response_by_segment_gives_rate_lift_and_comparison():
    customers = pd.DataFrame(
        {
            "segment": ["A", "A", "B", "B", "C"],
            "campaigns_targeted": [100, 100, 150, 50, 0],
            "campaigns_responded": [40, 20, 5, 5, 0],
        }
    )
    table = campaigns.response_by(customers, "segment", 0.95).set_index("group")
    overall = 70 / 400
    assert campaigns.overall_rate(customers) == overall
    assert table.loc["A", "response_rate"] == 0.3 and table.loc["A", "lift"] == pytest.approx(0.3 / overall)
    # C: no contacts, left out
    assert table["compared"].to_dict() == {"A": campaigns.ABOVE, "B": campaigns.BELOW}
    text = campaigns.response_sentence(table.reset_index(), overall, valuable=[])
    assert "**Target next time:** A (1.7x the average rate)" in text and "**Contact less:** B (5.0%)" in text


# Hand-made response table: 10% overall; each group's likely range (Wilson, 95 %) lies clearly above,
# clearly below or around it.
RESPONSES = pd.DataFrame(
    {
        "segment": ["Champions", "Can't Lose Them", "At Risk", "Lost", "Hibernating", "Loyal"],
        "campaigns_targeted": [1000, 1000, 1000, 1000, 1000, 1000],
        "campaigns_responded": [300, 20, 30, 10, 25, 215],
    }
)
VALUABLE = ["Champions", "Loyal", "Can't Lose Them", "At Risk", "Need Attention", "Potential Loyalist"]


def advised() -> pd.DataFrame:
    by_segment = campaigns.response_by(RESPONSES, "segment", 0.95)
    return campaigns.advise(by_segment, VALUABLE).set_index("group")


def test_valuable_segments_that_respond_poorly_get_another_offer_never_fewer_contacts():
    table = advised()
    assert (table.loc[["Can't Lose Them", "At Risk"], "compared"] == campaigns.BELOW).all()
    assert table.loc["Can't Lose Them", "advice"] == campaigns.CHANGE_OFFER
    assert table.loc["At Risk", "advice"] == campaigns.CHANGE_OFFER
    assert not (table.loc[table["valuable"], "advice"] == campaigns.CONTACT_LESS).any()


def test_low_value_segments_that_respond_poorly_are_contacted_less():
    table = advised()
    assert table.loc[["Lost", "Hibernating"], "advice"].tolist() == [campaigns.CONTACT_LESS] * 2
    assert table.loc["Champions", "advice"] == campaigns.TARGET  # 30% against 10% overall
    assert table.loc["Loyal", "advice"] == campaigns.TARGET


def test_a_group_neither_clearly_above_nor_below_keeps_its_recommended_campaign():
    by_segment = campaigns.response_by(
        pd.DataFrame(
            {"segment": ["X", "Y"], "campaigns_targeted": [20, 980], "campaigns_responded": [3, 97]}
        ),
        "segment",
        0.95,
    )
    table = campaigns.advise(by_segment, valuable=[]).set_index("group")
    assert table.loc["X", "compared"] == campaigns.AVERAGE and table.loc["X", "advice"] == campaigns.NO_CHANGE


def test_response_sentence_reconciles_response_with_value_and_says_why():
    by_segment = campaigns.response_by(RESPONSES, "segment", 0.95)
    text = campaigns.response_sentence(by_segment, campaigns.overall_rate(RESPONSES), VALUABLE)
    assert text.startswith("Overall, 10.0% of contacts responded.")
    assert "**Target next time:** Champions (3.0x the average rate) and Loyal (2.1x the average rate)" in text
    change = text[text.index("**Change the offer or channel:**") : text.index("**Contact less:**")]
    assert "Can't Lose Them (2.0%) and At Risk (3.0%): valuable customers" in change
    assert "Do not contact them less" in change
    fewer = text[text.index("**Contact less:**") :]
    assert fewer.startswith("**Contact less:** Lost (1.0%) and Hibernating (2.5%): ")
    assert "not among the valuable segments" in fewer
    for valuable in VALUABLE:
        assert valuable not in fewer


def test_without_knowing_value_no_group_is_advised_to_be_contacted_less():
    by_segment = campaigns.response_by(RESPONSES, "segment", 0.95)
    text = campaigns.response_sentence(by_segment, campaigns.overall_rate(RESPONSES))
    assert "Contact less" not in text and "contact less" not in text.replace("Do not contact them less", "")
    assert "Lost (1.0%)" in text[text.index("**Change the offer or channel:**") :]


def test_client_table_puts_the_likely_range_in_words_and_keeps_no_code_column():
    table = campaigns.client_table(advised().reset_index(), "segment").set_index("segment")
    assert table.columns.tolist() == [
        "contacts",
        "responses",
        "response_rate",
        "likely_range",
        "times_average",
        "compared",
        "advice",
    ]
    assert table.loc["Champions", "likely_range"] == "27.2% to 32.9%"
    assert set(table.columns) <= set(executive.COLUMN_LABELS)


def test_customer_response_counts_distinct_campaigns():
    contacts = pd.DataFrame(
        {"customer_id": ["a", "a", "b"], "campaign_id": ["X", "Y", "X"], "responded": [True, False, False]}
    )
    assert campaigns.customer_response(contacts).to_dict("list") == {
        "customer_id": ["a", "b"],
        "campaigns_targeted": [2, 1],
        "campaigns_responded": [1, 0],
    }
