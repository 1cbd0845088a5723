"""Stage 05's values (analysis_utils.clv_value): value net of cost on hand-made orders, the rule for
non-positive values, and the coverage of the bootstrap intervals on simulated logs."""

from __future__ import annotations

from datetime import datetime

import ibis
import numpy as np
import pandas as pd
import pytest

from analysis_utils import clv, clv_stage, clv_value, config, outlook, paths
from analysis_utils import clv_models as models

CDNOW_LIKE = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # published CDNOW fit, weeks
SPEND_LIKE = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
SETTINGS = config.load_yaml(paths.DEFAULTS_FILE)["clv"]
BGNBD = models.PURCHASE_MODELS["bgnbd"]

# (customer, order date, amount, cost): margins A +40 then +60; B -20 then -10; C +6
COSTED_ORDERS = [
    ("A", "2024-01-01", 100.0, 60.0),
    ("A", "2024-01-15", 80.0, 20.0),
    ("B", "2024-01-02", 30.0, 50.0),
    ("B", "2024-01-20", 20.0, 30.0),
    ("C", "2024-01-10", 10.0, 4.0),
]
START, END = datetime(2024, 1, 1), datetime(2024, 2, 1)


def _costed(with_cost: bool = True) -> ibis.Table:
    frame = pd.DataFrame(COSTED_ORDERS, columns=["customer_id", "order_date", "amount", "cost"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    return ibis.memtable(frame if with_cost else frame.drop(columns="cost"))


def test_values_are_on_margin_when_every_order_seen_carries_cost():
    assert clv.value_basis(_costed()) == "margin"
    assert clv.value_basis(_costed(False)) == "revenue"
    earlier_without_cost = _costed(False).filter(lambda t: t.customer_id == "nobody")
    assert clv.value_basis(_costed(), earlier_without_cost) == "revenue"
    summary = clv.summarise(clv.purchase_occasions(_costed(), START, END), END, "weeks").set_index(
        "customer_id"
    )
    assert summary["mean_repeat_spend"].to_dict() == pytest.approx(
        {"A": 60.0, "B": -10.0, "C": np.nan}, nan_ok=True
    )
    assert summary["mean_spend"].to_dict() == {"A": 50.0, "B": -15.0, "C": 6.0}
    revenue = clv.summarise(clv.purchase_occasions(_costed(False), START, END), END, "weeks")
    assert revenue.set_index("customer_id")["mean_spend"].to_dict() == {"A": 90.0, "B": 25.0, "C": 10.0}


def test_a_customer_whose_own_mean_value_is_not_positive_is_valued_at_zero():
    summary = pd.DataFrame(
        {"x": [1, 1, 0], "mean_repeat_spend": [60.0, -10.0, np.nan], "mean_spend": [50.0, -15.0, 0.0]}
    )
    with_model = clv_value.value_per_purchase(SPEND_LIKE, summary, spend_model=True)
    assert with_model[1] == 0.0
    assert with_model[0] == pytest.approx(
        float(clv.expected_spend(SPEND_LIKE, np.array([1.0]), np.array([60.0]))[0])
    )
    assert with_model[2] == pytest.approx(SPEND_LIKE.population_mean_spend)  # no repeat: the population mean
    assert clv_value.value_per_purchase(SPEND_LIKE, summary, spend_model=False).tolist() == [50.0, 0.0, 0.0]


def test_the_stage_on_margin_excludes_negative_margins_from_the_spend_fit_and_values_them_at_zero():
    result = clv_stage.future_value(_costed(), START, END, SETTINGS | {"calibration_end": "2024-01-16"})
    assert result.basis == "margin" and result.gamma_gamma.n_customers == 1  # A only: B's mean is -10
    values = result.values.set_index("customer_id")
    assert values.loc["B", "expected_spend"] == 0.0 and values.loc["B", "clv"] == 0.0
    assert sorted(values.index) == ["A", "B", "C"]  # nobody dropped
    record = result.model_record()
    assert record["value_basis"] == "margin" and record["nonpositive_value_customers"] == 1


def test_eighty_percent_intervals_cover_the_true_values_about_eighty_percent_of_the_time():
    probes = pd.DataFrame(
        {
            "customer_id": ["new", "regular", "lapsed", "one-time"],
            "x": [1, 6, 4, 0],
            "t_x": [2.0, 30.0, 8.0, 0.0],
            "T": [5.0, 32.0, 40.0, 30.0],
            "mean_repeat_spend": [10.0, 10.0, 10.0, np.nan],
            "mean_spend": 10.0,
        }
    )
    truth = clv_value.customer_values(BGNBD, CDNOW_LIKE, SPEND_LIKE, probes, SETTINGS, False, False)
    covered = []
    for replication in range(20):  # independent logs: coverage is a frequency over replications
        T = np.random.default_rng(replication).integers(26 * 7, 52 * 7, 1000) / 7
        summary = clv.simulate_bgnbd(CDNOW_LIKE, T, seed=1000 + replication).assign(customer_id="c")
        fit = clv.fit_bgnbd(summary)
        draws = clv_value.parameter_draws(BGNBD, fit, None, summary, 40, seed=replication)
        bounds, _ = clv_value.value_intervals(BGNBD, draws, SPEND_LIKE, probes, SETTINGS)
        for name in ("expected_purchases", "clv"):
            covered += list((bounds[f"{name}_low"] <= truth[name]) & (truth[name] <= bounds[f"{name}_high"]))
        repeat = probes["x"] > 0  # a one-time buyer's P(alive) is 1 under BG/NBD: no interval to cover
        alive = truth["p_alive"][repeat]
        covered += list((bounds["p_alive_low"][repeat] <= alive) & (alive <= bounds["p_alive_high"][repeat]))
    assert 0.65 <= np.mean(covered) <= 0.93


def test_segment_totals_are_summed_per_draw_and_bracket_the_point_totals():
    T = np.random.default_rng(3).integers(26 * 7, 52 * 7, 2000) / 7
    summary = clv.simulate_bgnbd(CDNOW_LIKE, T, seed=4)
    summary = summary.assign(customer_id=np.arange(2000).astype(str), mean_repeat_spend=20.0, mean_spend=20.0)
    fit = clv.fit_bgnbd(summary)
    draws = clv_value.parameter_draws(BGNBD, fit, None, summary, 40, seed=5)
    groups = pd.Series(np.where(summary["x"] > 2, "frequent", "rare"))
    per_customer, by_group = clv_value.value_intervals(BGNBD, draws, SPEND_LIKE, summary, SETTINGS, groups)
    points = clv_value.customer_values(BGNBD, fit.params, SPEND_LIKE, summary, SETTINGS, False)
    totals = points.groupby(groups.to_numpy())["clv"].sum()
    table = by_group.set_index("group")
    assert table["customers"].sum() == 2000
    for group, total in totals.items():
        assert table.loc[group, "clv_low"] <= total <= table.loc[group, "clv_high"]
    # a total's interval is narrower than the sum of its customers' bounds (the draws are shared)
    assert (
        table["clv_high"].sum() - table["clv_low"].sum()
        <= (per_customer["clv_high"] - per_customer["clv_low"]).sum()
    )


def test_the_segment_sentence_warns_when_the_interval_is_narrower_than_the_models_miss():
    table = pd.DataFrame(
        {
            "segment": ["Champions"],
            "customers": [800],
            "clv": [4.46e6],
            "clv_low": [4.42e6],
            "clv_high": [4.5e6],
        }
    )
    narrow = outlook.segment_interval_sentence(table, 12, "GBP", holdout_error=-0.26)
    assert narrow.startswith("Champions are worth 4.4m-4.5m GBP over the next 12 months (80% interval")
    assert (
        "narrower than the model's own miss on the second part of the period (26% too few purchases)"
        in narrow
    )
    held = outlook.segment_interval_sentence(table, 12, "GBP", holdout_error=0.005)
    assert "narrower" not in held and held.startswith("Champions are worth")
    assert outlook.segment_interval_sentence(None, 12, "GBP") == ""


def test_group_sums_add_each_groups_customers_and_leave_empty_groups_at_zero():
    values = np.array([[1.0, 2.0, 4.0, 8.0], [10.0, 20.0, 40.0, 80.0]])  # two rows, four customers
    codes = np.array([2, 0, 2, 0])
    assert clv_value.group_sums(values, codes, 4).tolist() == [[10.0, 0.0, 5.0, 0.0], [100.0, 0.0, 50.0, 0.0]]
    assert clv_value.group_sums(values[:, :0], codes[:0], 2).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_group_sums_agree_with_summing_each_group_alone():
    rng = np.random.default_rng(7)
    values, codes = rng.gamma(2.0, 50.0, size=(3, 5, 20_000)), rng.integers(0, 9, size=20_000)
    sums = clv_value.group_sums(values, codes, 10)
    expected = np.stack([values[..., codes == g].sum(axis=-1) for g in range(10)], axis=-1)
    np.testing.assert_allclose(sums, expected, rtol=1e-12)
    assert (sums[..., 9] == 0).all()
