"""Stage 04: quadrant assignment at and around the split points, ties on the median included."""

import pandas as pd
import pytest

from analysis_utils.errors import ConfigError, DataError
from analysis_utils.value_matrix import ValueMatrix, quadrant_summary

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": list("abcdefg"),
        "aov": [10.0, 20.0, 30.0, 30.0, 30.0, 50.0, 90.0],  # median 30
        "frequency": [1, 1, 1, 2, 5, 1, 8],  # median 1
        "monetary": [10.0, 20.0, 30.0, 60.0, 150.0, 50.0, 720.0],
    }
)


def test_median_split_and_ties_count_as_low():
    placed = ValueMatrix().fit_transform(CUSTOMERS)
    assert ValueMatrix().fit(CUSTOMERS).aov_split_ == 30.0
    assert dict(zip(placed["customer_id"], placed["quadrant"], strict=True)) == {
        "a": "Uncertain",  # below both
        "b": "Uncertain",
        "c": "Uncertain",  # AOV exactly at the median: low; one order = the median: low
        "d": "Frequent",  # AOV at the median (low), 2 orders > 1
        "e": "Frequent",
        "f": "Spenders",  # AOV above, one order
        "g": "Best",
    }


def test_mean_split():
    matrix = ValueMatrix(split="mean").fit(CUSTOMERS)
    assert matrix.aov_split_ == pytest.approx(260 / 7)
    assert matrix.frequency_split_ == pytest.approx(19 / 7)
    placed = matrix.transform(CUSTOMERS).set_index("customer_id")
    assert placed.loc["e", "quadrant"] == "Frequent" and placed.loc["d", "quadrant"] == "Uncertain"


def test_fixed_thresholds_and_reuse_on_another_period():
    matrix = ValueMatrix(split="fixed", aov_threshold=25, frequency_threshold=1).fit(CUSTOMERS)
    later = pd.DataFrame(
        {"customer_id": ["x", "y"], "aov": [25.0, 25.01], "frequency": [1, 2], "monetary": [25.0, 50.02]}
    )
    assert matrix.transform(later)["quadrant"].tolist() == ["Uncertain", "Best"]


def test_summary_keeps_every_quadrant_in_order_with_shares():
    summary = quadrant_summary(ValueMatrix().fit_transform(CUSTOMERS)).set_index("quadrant")
    assert summary.index.tolist() == ["Best", "Spenders", "Frequent", "Uncertain"]
    assert summary["customers"].tolist() == [1, 1, 2, 3]
    assert summary.loc["Best", "share_revenue"] == pytest.approx(720 / 1040)
    assert summary.loc["Uncertain", "median_aov"] == 20.0


def test_bad_split_and_missing_columns_are_named():
    with pytest.raises(ConfigError, match="value_matrix.split must be one of median, mean, fixed"):
        ValueMatrix(split="mode").fit(CUSTOMERS)
    with pytest.raises(DataError, match="no column aov"):
        ValueMatrix().fit(CUSTOMERS.drop(columns="aov"))
