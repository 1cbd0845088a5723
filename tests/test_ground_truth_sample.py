"""On the planted sample, segments, clusters and the value matrix recover what was planted.

The floors sit a few points below what was measured when the sample was tuned (segments 86.1%
strict agreement, clusters adjusted Rand index shown in notebook 03), so a change that degrades
recovery fails here. Since the sample plants churned customers (generator version 4): 85.7%, ARI 0.40.
The lifetime-value model's P(alive) ranks the planted lapsed repeat buyers below the active ones
with AUC 0.988 in 2024 (0.709 counting every fading type, many of whom bought once and so have
P(alive) = 1 by the model's definition).
"""

from __future__ import annotations

import ibis
import pytest

from analysis_utils import (
    clustering,
    clv_stage,
    comparison,
    ground_truth,
    loader,
    paths,
    prep,
    rfm_stage,
    sample,
    value_matrix,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_2024():
    params = loader.load_params(paths.PROJECT_ROOT / "params/clients/sample.yaml")
    period = params.period("2024")
    orders = prep.prepare(params, period).orders
    result = rfm_stage.run_rfm(ibis.memtable(orders), period.as_of, period.window_days, params.get("rfm"))
    truth = ground_truth.planted_types(params.data_path)
    return params, result.scored, truth


def test_named_segments_recover_the_planted_types(sample_2024):
    _, scored, truth = sample_2024
    share = ground_truth.agreement(scored, truth, "segment", sample.EXPECTED_SEGMENT)
    assert share >= 0.82, f"strict agreement {share:.1%}"
    table = ground_truth.confusion(scored, truth, "segment")
    for planted_type, segment in sample.EXPECTED_SEGMENT.items():
        if segment is not None:
            assert table.loc[planted_type].idxmax() == segment, (
                planted_type,
                table.loc[planted_type].to_dict(),
            )


def test_clusters_recover_planted_types_above_the_floor(sample_2024):
    params, scored, truth = sample_2024
    clusters = clustering.run_clustering(scored, params.get("clustering")).clusters
    ari = ground_truth.rand_agreement(clusters, truth, "cluster")
    assert ari >= 0.35, f"adjusted Rand index {ari:.3f}"


def test_one_time_big_spenders_are_mostly_spenders_in_the_value_matrix(sample_2024):
    _, scored, truth = sample_2024
    placed = value_matrix.ValueMatrix().fit_transform(scored).merge(truth, on="customer_id")
    big = placed.loc[placed["planted_type"] == "one_time_big_spender", "quadrant"].value_counts(
        normalize=True
    )
    assert big.idxmax() == "Spenders" and big["Spenders"] >= 0.8, big.to_dict()
    champions = placed.loc[placed["planted_type"] == "champions", "quadrant"].value_counts(normalize=True)
    assert champions.idxmax() == "Best", champions.to_dict()


def test_churned_customers_of_the_final_year_are_exactly_the_planted_churned(sample_run):
    params = loader.load_params(paths.PROJECT_ROOT / "params/clients/sample.yaml")
    final = comparison.read_period(params.period("2024"), sample_run / "2024")
    truth = ground_truth.planted_types(params.data_path)
    previous = set(final.history.loc[final.history["previous_window_orders"] > 0, "customer_id"])
    churned = previous - set(final.customers["customer_id"])
    assert churned == set(truth.loc[truth["planted_type"] == "churned", "customer_id"])
    kpis = final.kpis()
    assert kpis["churned_customers"] == len(churned) and kpis["churn_rate"] == round(
        len(churned) / len(previous), 6
    )


@pytest.fixture(scope="module")
def future_by_period():
    params = loader.load_params(paths.PROJECT_ROOT / "params/clients/sample.yaml")
    results = {}
    for name in ("2023", "2024"):
        period = params.period(name)
        prepared = prep.prepare(params, period)  # the models see the history before the window
        orders, earlier = ibis.memtable(prepared.orders), ibis.memtable(prepared.earlier)
        settings = params.get("clv")
        results[name] = clv_stage.future_value(orders, period.window_start, period.as_of, settings, earlier)
    return results, ground_truth.planted_types(params.data_path)


def test_p_alive_ranks_planted_lapsed_customers_below_active_ones(future_by_period):
    results, truth = future_by_period
    auc = ground_truth.p_alive_auc(results["2024"].values, truth)
    assert auc["lapsed repeat buyers"] >= 0.95  # measured 0.997 (0.988 on the window alone)
    assert auc["every fading type"] >= 0.65  # measured 0.714


def test_in_2024_the_model_overestimates_the_holdout_and_says_so(future_by_period):
    # Seeing 2023 as history, BG/NBD takes the planted types' switch at the turn of the year for a
    # slower dropout: it predicts 5,369 purchases in the second half of 2024 against 4,336 (+24%;
    # +0.6% when it saw 2024 alone). Its values are then read as indicative, and the report says why.
    result = future_by_period[0]["2024"]
    assert not result.trusted
    assert 0.2 < result.holdout.relative_error < 0.3
    assert "24% more purchases than happened" in result.reason


def test_the_model_is_not_trusted_in_2023_where_the_christmas_peak_falls_in_the_holdout(future_by_period):
    result = future_by_period[0]["2023"]
    assert not result.trusted
    assert "25% fewer purchases than happened" in result.reason  # BG/NBD has no seasonality
