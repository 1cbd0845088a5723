"""Campaign response: Wilson intervals by hand, rates, lift and advice on hand-made contacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis_utils import campaigns


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


def test_response_by_segment_gives_rate_lift_and_advice():
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
    assert table["advice"].to_dict() == {"A": "target", "B": "deprioritise"}  # C: no contacts, left out
    text = campaigns.response_sentence(table.reset_index(), overall)
    assert "**Target next time:** A (1.7x)" in text and "**Contact less:** B" in text


def test_customer_response_counts_distinct_campaigns():
    contacts = pd.DataFrame(
        {"customer_id": ["a", "a", "b"], "campaign_id": ["X", "Y", "X"], "responded": [True, False, False]}
    )
    assert campaigns.customer_response(contacts).to_dict("list") == {
        "customer_id": ["a", "b"],
        "campaigns_targeted": [2, 1],
        "campaigns_responded": [1, 0],
    }
