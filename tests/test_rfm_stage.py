"""Stage-02 glue: scorer from parameters, saved thresholds, definitions text, grids, ground truth."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from analysis_utils import ground_truth, rfm, rfm_scorer, rfm_views
from analysis_utils.errors import ConfigError
from analysis_utils.loader import load_params

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(10)],
        "recency_days": [1, 3, 5, 10, 20, 40, 80, 160, 320, 640],
        "frequency": [9, 7, 5, 4, 3, 2, 1, 1, 1, 1],
        "monetary": [900.0, 700, 500, 400, 300, 200, 100, 50, 25, 10],
    }
)


def test_scorer_from_default_params_learns_quantile_edges(params_for):
    scorer = rfm_scorer.scorer_from_params(params_for().get("rfm")).fit(CUSTOMERS)
    scored = scorer.transform(CUSTOMERS)
    assert scored.loc[0, "cell"] == "555" and scored.loc[9, "cell"] == "111"


def test_fixed_recency_thresholds_from_params_score_by_business_rule(params_for):
    params = params_for(
        overrides=("rfm.strategy={recency: fixed}", "rfm.thresholds={recency: [7, 30, 90, 365]}")
    )
    scored = rfm_scorer.scorer_from_params(params.get("rfm")).fit(CUSTOMERS).transform(CUSTOMERS)
    # <=7 days -> 5, 8..30 -> 4, 31..90 -> 3, 91..365 -> 2, >365 -> 1
    assert scored["r_score"].tolist() == [5, 5, 5, 4, 4, 3, 3, 2, 2, 1]


def test_saved_thresholds_file_reproduces_the_earlier_scores(params_for, tmp_path):
    fitted = rfm_scorer.scorer_from_params(params_for().get("rfm")).fit(CUSTOMERS)
    saved = tmp_path / "rfm_thresholds.json"
    saved.write_text(json.dumps(fitted.to_dict()))
    later = CUSTOMERS.assign(recency_days=CUSTOMERS["recency_days"] + 30)
    params = params_for(overrides=("rfm.strategy=saved", f"rfm.saved_thresholds={saved}"))
    reused = rfm_scorer.scorer_from_params(params.get("rfm"))
    pd.testing.assert_frame_equal(reused.transform(later), fitted.transform(later))


def test_saved_strategy_without_file_is_a_parameter_problem(params_for, tmp_path):
    with pytest.raises(ConfigError, match="rfm.saved_thresholds must name a thresholds file"):
        params_for(overrides=("rfm.strategy=saved",))
    params = params_for(overrides=("rfm.strategy=saved", f"rfm.saved_thresholds={tmp_path / 'nope.json'}"))
    with pytest.raises(ConfigError, match="nope.json: saved RFM thresholds not found"):
        rfm_scorer.scorer_from_params(params.get("rfm"))


def test_rfm_parameters_are_validated_together(client_file):
    with pytest.raises(ConfigError) as raised:
        load_params(
            client_file(), ["rfm.n_bins=11", "rfm.strategy={recency: median}", "rfm.weights=[1, -1, 1]"]
        )
    message = str(raised.value)
    assert "rfm.n_bins must be between 3 and 10, got 11" in message
    assert "rfm.strategy.recency must be one of quantile, fixed, saved, got 'median'" in message
    assert "rfm.weights must be three non-negative numbers" in message


def test_definitions_state_window_order_and_total_spend():
    text = rfm_views.describe_definitions(
        dt.datetime(2025, 1, 1), 366, has_order_ids=False, currency="EUR", n_bins=5
    )
    assert "orders dated from 2024-01-01 (inclusive) to 2025-01-01 (exclusive), a window of 366 days" in text
    assert "calendar day (the export has no order id)" in text
    assert "**total** net spend in the period (EUR)" in text
    assert "all orders before 2025-01-01" in rfm_views.describe_definitions(
        dt.datetime(2025, 1, 1), None, True, "EUR", 5
    )


def test_rf_grid_counts_customers_with_recent_rows_first():
    scored = rfm_scorer.RFMScorer(n_bins=3).fit_transform(CUSTOMERS)
    counts = rfm_views.rf_grid(scored, "customers")
    assert counts.index.tolist() == [3, 2, 1]
    assert counts.fillna(0).to_numpy().sum() == 10
    means = rfm_views.rf_grid(scored, "mean_monetary")
    assert means.loc[3, 3] == pytest.approx(scored.query("r_score == 3 and f_score == 3")["monetary"].mean())


def test_unscored_customers_are_kept_with_their_own_segment():
    scored = rfm_scorer.RFMScorer().fit_transform(CUSTOMERS).assign(segment="x")
    nonpositive = pd.DataFrame(
        {"customer_id": ["a0"], "recency_days": [3], "frequency": [2], "monetary": [-5.0]}
    )
    combined = rfm.with_unscored(scored, nonpositive)
    assert combined["customer_id"].tolist()[0] == "a0"
    assert combined.loc[0, "segment"] == "No net spend" and pd.isna(combined.loc[0, "r_score"])
    assert len(combined) == 11 and str(combined["r_score"].dtype) == "Int64"


def test_agreement_counts_only_types_with_an_expected_label():
    labels = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "segment": ["A", "B", "A", "C"]})
    truth = pd.DataFrame(
        {"customer_id": ["1", "2", "3", "4", "5"], "planted_type": ["a", "a", "b", "z", "a"]}
    )
    expected = {"a": "A", "b": "B", "z": None}
    # customers 1, 2 (type a, expect A: one right) and 3 (type b, expect B: wrong) count; 4 has none; 5 absent
    assert ground_truth.agreement(labels, truth, "segment", expected) == pytest.approx(1 / 3)
    table = ground_truth.confusion(labels, truth, "segment")
    assert table.loc["a", "A"] == 1 and table.loc["a", "B"] == 1 and table.loc["z", "C"] == 1


def test_truth_file_is_found_beside_the_data_file(tmp_path):
    assert ground_truth.planted_types(tmp_path / "lines.csv") is None
    (tmp_path / "customer_types.csv").write_text("customer_id,planted_type\n007,champions\n")
    assert ground_truth.planted_types(tmp_path / "lines.csv").to_dict("records") == [
        {"customer_id": "007", "planted_type": "champions"}
    ]


def test_methodology_worked_example():
    """docs/methodology.md section 4, recomputed from orders."""
    import ibis

    from analysis_utils import segments

    orders = pd.DataFrame(
        {
            "customer_id": ["007"] * 3,
            "order_id": ["A", "B", "C"],
            "order_date": pd.to_datetime(["2024-03-10 11:00", "2024-06-02 09:30", "2024-12-30 16:45"]),
            "amount": [40.0, 20.0, 60.0],
        }
    )
    customer = rfm.customer_frame(ibis.memtable(orders), dt.datetime(2025, 1, 1), 366).iloc[0]
    assert (customer["recency_days"], customer["frequency"], customer["monetary"]) == (2, 3, 120.0)
    assert (customer["aov"], customer["tenure_days"], customer["mean_interpurchase_days"]) == (
        40.0,
        297,
        147.5,
    )
    edges = {
        "recency": [16, 34, 90, 254],
        "frequency": [1, 3, 5, 8],
        "monetary": [20.95, 64.51, 162.63, 394.9],
    }
    scored = (
        rfm_scorer.RFMScorer(strategy="saved", thresholds=edges)
        .fit(pd.DataFrame())
        .transform(customer.to_frame().T)
    )
    assert scored.iloc[0][["cell", "fm_score"]].tolist() == ["523", 3]
    assert scored.iloc[0]["rfm_score"] == pytest.approx(10 / 3)
    assert segments.load_segment_map().assign(scored, n_bins=5).tolist() == ["Loyal"]
