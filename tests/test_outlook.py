"""Future value in words and tables (analysis_utils.outlook), on hand-made numbers."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from analysis_utils import clv_holdout, outlook, privacy

VALUABLE = ["Champions", "At Risk"]
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["001", "002", "003", "004"],
        "segment": ["Champions", "At Risk", "At Risk", "Lost"],
        "p_alive": [0.9, 0.2, 0.1, 0.05],
        "expected_purchases": [6.0, 0.5, 0.2, 0.1],
        "expected_spend": [50.0, 40.0, 30.0, 20.0],
        "clv": [300.0, 20.0, 6.0, 2.0],
        "clv_if_active": [333.3, 100.0, 60.0, 40.0],
        "churn_risk": ["low", "high", "high", "high"],
    }
)


def test_with_values_replaces_earlier_model_columns_and_keeps_every_customer():
    earlier = CUSTOMERS[["customer_id", "segment", "clv"]].assign(clv=-1.0)
    values = CUSTOMERS.drop(columns="segment").iloc[:3]
    joined = outlook.with_values(earlier, values)
    assert list(joined["customer_id"]) == ["001", "002", "003", "004"]
    assert list(joined["clv"].iloc[:3]) == [300.0, 20.0, 6.0] and np.isnan(joined.loc[3, "clv"])


def test_value_at_risk_sentences_name_the_amounts_and_the_segment():
    text = outlook.value_at_risk_sentences(CUSTOMERS, VALUABLE, 12, "GBP")
    # 002 and 003: valuable and at high risk; won back they would bring 100 + 60
    assert text.startswith("2 customers of valuable segments are at high churn risk.")
    assert "would bring about 160 GBP over the next 12 months" in text
    assert "Most of it is in At Risk (160 GBP)" in text
    calm = CUSTOMERS.assign(churn_risk="low")
    assert outlook.value_at_risk_sentences(calm, VALUABLE, 12, "GBP") == (
        "No customer of the valuable segments is at high churn risk."
    )


def test_top_by_value_is_pseudonymised_and_ordered():
    top = outlook.top_by_value(CUSTOMERS, "salt", 2)
    assert list(top["customer"]) == list(privacy.pseudonymise(pd.Series(["001", "002"]), "salt"))
    assert list(top["clv"]) == [300.0, 20.0]
    assert not set(top["customer"]) & set(CUSTOMERS["customer_id"])
    assert "p_alive" not in outlook.top_by_value(CUSTOMERS, "salt", 2, with_p_alive=False).columns


def test_value_by_segment_sums_clv():
    table = outlook.value_by_segment(CUSTOMERS).set_index("segment")
    assert table.loc["At Risk", "customers"] == 2 and table.loc["At Risk", "clv"] == 26.0
    assert table.index[0] == "Champions"


def test_holdout_and_spend_sentences():
    check = clv_holdout.HoldoutCheck(
        calibration_end=datetime(2024, 7, 1),
        holdout_length=26.0,
        fit=None,
        customers=pd.DataFrame({"predicted": [60.0, 50.0], "actual": [40, 60]}),
        by_frequency=pd.DataFrame(),
        tracking=pd.DataFrame(),
    )
    assert outlook.holdout_sentences(check, "weeks") == (
        "Fitted only on orders before 2024-07-01, the model predicted 110 purchases in the 26 weeks "
        "after it; 100 happened (+10.0%), close to the truth. Customer by customer, predicted and actual "
        "purchases correlate at -1.00; the prediction is off by 15.00 purchases on average."
    )
    assert "a weak link" in outlook.spend_check_sentence(0.12)
    assert "a marked link" in outlook.spend_check_sentence(-0.5)
    assert outlook.spend_check_sentence(float("nan")).startswith("Too few repeat buyers")
