"""BG/NBD, Gamma-Gamma and CLV (analysis_utils.clv): hand-computed likelihoods, the models' known
properties, parameter recovery on simulated data, and the customer summary on hand-made orders."""

from __future__ import annotations

import math
from datetime import datetime

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from analysis_utils import clv, clv_holdout, clv_stage, clv_value, config, paths
from analysis_utils import clv_models as models
from analysis_utils.errors import ConfigError

CDNOW_LIKE = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # published CDNOW fit, weeks
SPEND_LIKE = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)  # published CDNOW spend fit
SETTINGS = config.load_yaml(paths.DEFAULTS_FILE)["clv"] | {"valuable_segments": ["Champions", "At Risk"]}

positive = st.floats(min_value=0.05, max_value=20, allow_nan=False)


# ---------------------------------------------------------------------------- likelihoods by hand


def test_bgnbd_log_likelihood_without_repeat_is_r_log_alpha_over_alpha_plus_T():
    params = clv.BGNBDParams(r=0.5, alpha=2.0, a=1.5, b=3.0)
    value = clv.bgnbd_log_likelihood(params, np.array([0]), np.array([0.0]), np.array([5.0]))
    assert value[0] == pytest.approx(0.5 * math.log(2 / 7))


def test_bgnbd_log_likelihood_of_a_repeat_buyer_by_hand():
    # r=0.5, alpha=2, a=1.5, b=3; x=2, t_x=3, T=5:
    # lnG(2.5) - lnG(0.5) + 0.5 ln 2 + lnG(4.5) + lnG(5) - lnG(3) - lnG(6.5)
    #   + ln(7^-2.5 + 1.5/4 * 5^-2.5)
    lg = math.lgamma
    by_hand = (
        lg(2.5)
        - lg(0.5)
        + 0.5 * math.log(2)
        + lg(4.5)
        + lg(5)
        - lg(3)
        - lg(6.5)
        + math.log(7**-2.5 + 1.5 / 4 * 5**-2.5)
    )
    params = clv.BGNBDParams(r=0.5, alpha=2.0, a=1.5, b=3.0)
    value = clv.bgnbd_log_likelihood(params, np.array([2]), np.array([3.0]), np.array([5.0]))
    assert value[0] == pytest.approx(by_hand, rel=1e-12)
    assert value[0] == pytest.approx(-4.9040, abs=1e-4)  # -0.6649 + ln(0.014422)


def test_gamma_gamma_density_of_one_purchase_by_hand():
    # x = 1: f(m) = G(p+q)/(G(p)G(q)) gamma^q m^(p-1) / (gamma+m)^(p+q); p=2, q=3, gamma=4, m=5:
    # 24/2 * 64 * 5 / 9^5 = 3840 / 59049
    params = clv.GammaGammaParams(p=2.0, q=3.0, gamma=4.0)
    value = clv.gamma_gamma_log_likelihood(params, np.array([1.0]), np.array([5.0]))
    assert value[0] == pytest.approx(math.log(3840 / 59049), rel=1e-12)


@pytest.mark.parametrize("x", [1, 3, 8])
def test_gamma_gamma_density_integrates_to_one(x):
    params = clv.GammaGammaParams(p=2.5, q=3.5, gamma=20.0)
    total, _ = integrate.quad(
        lambda m: math.exp(clv.gamma_gamma_log_likelihood(params, np.array([x]), np.array([m]))[0]), 0, np.inf
    )
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("log_params", [np.log([0.3, 4.0, 0.8, 2.5]), np.log([2.0, 0.5, 5.0, 40.0])])
def test_bgnbd_objective_is_the_weighted_likelihood_with_its_exact_gradient(log_params):
    x = np.array([0, 0, 1, 3, 7, 20.0])
    t_x = np.array([0, 0, 2.5, 10, 30, 31.0])
    T = np.array([5, 40, 12, 30, 38, 32.0])
    counts = np.array([3, 1, 2, 5, 1, 4.0])
    value, gradient = clv.bgnbd_objective(x, t_x, T, counts)(log_params)
    per_customer = clv.bgnbd_log_likelihood(clv.BGNBDParams(*np.exp(log_params)), x, t_x, T)
    assert value == pytest.approx(-(counts @ per_customer) / counts.sum(), rel=1e-12)
    numeric = optimize.approx_fprime(log_params, lambda v: clv.bgnbd_objective(x, t_x, T, counts)(v)[0], 1e-7)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("log_params", [np.log([2.0, 3.0, 10.0]), np.log([0.5, 40.0, 2000.0])])
def test_gamma_gamma_objective_is_the_mean_likelihood_with_its_exact_gradient(log_params):
    x = np.array([1, 1, 2, 5, 9.0])
    m = np.array([12.0, 40.0, 25.5, 18.0, 60.0])
    value, gradient = clv.gamma_gamma_objective(x, m)(log_params)
    per_customer = clv.gamma_gamma_log_likelihood(clv.GammaGammaParams(*np.exp(log_params)), x, m)
    assert value == pytest.approx(-per_customer.mean(), rel=1e-12)
    numeric = optimize.approx_fprime(log_params, lambda v: clv.gamma_gamma_objective(x, m)(v)[0], 1e-7)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------- known properties


def test_a_customer_without_repeat_purchase_is_alive():
    alive = clv.p_alive(CDNOW_LIKE, np.array([0, 0]), np.array([0.0, 0.0]), np.array([1.0, 80.0]))
    np.testing.assert_array_equal(alive, [1.0, 1.0])


@settings(max_examples=60, deadline=None)
@given(
    r=positive,
    alpha=positive,
    a=positive,
    b=positive,
    x=st.integers(1, 40),
    T=st.floats(1, 200),
    early=st.floats(0, 1),
    late=st.floats(0, 1),
)
def test_p_alive_falls_as_the_last_purchase_recedes(r, alpha, a, b, x, T, early, late):
    params = clv.BGNBDParams(r, alpha, a, b)
    t_early, t_late = sorted((early * T, late * T))
    p_early, p_late = clv.p_alive(params, np.array([x, x]), np.array([t_early, t_late]), np.array([T, T]))
    assert 0 <= p_early <= p_late <= 1


@settings(max_examples=60, deadline=None)
@given(
    r=positive,
    alpha=positive,
    a=st.floats(1.1, 20),
    b=positive,
    x=st.integers(0, 30),
    T=st.floats(1, 100),
    share=st.floats(0, 1),
    h1=st.floats(0, 100),
    h2=st.floats(0, 100),
)
def test_expected_purchases_grow_with_the_horizon_from_zero(r, alpha, a, b, x, T, share, h1, h2):
    params = clv.BGNBDParams(r, alpha, a, b)
    t_x = share * T if x else 0.0
    short, long = sorted((h1, h2))
    values = clv.expected_purchases(
        params, np.full(3, x), np.full(3, t_x), np.full(3, T), np.array([0.0, short, long])
    )
    assert values[0] == pytest.approx(0.0, abs=1e-9)
    assert 0 <= values[1] <= values[2] * (1 + 1e-9) + 1e-12


def test_a_customer_just_acquired_expects_the_unconditional_number():
    conditional = clv.expected_purchases(CDNOW_LIKE, np.array([0]), np.array([0.0]), np.array([1e-9]), 39.0)
    assert conditional[0] == pytest.approx(clv.expected_purchases_new(CDNOW_LIKE, 39.0), rel=1e-6)


def test_expected_spend_shrinks_towards_the_population_mean():
    params = clv.GammaGammaParams(p=6.0, q=4.0, gamma=15.0)  # population mean 6 * 15 / 3 = 30
    spend = clv.expected_spend(params, np.array([0, 1, 50]), np.array([np.nan, 100.0, 100.0]))
    assert spend[0] == pytest.approx(30.0)
    assert 30 < spend[1] < spend[2] < 100  # more purchases: closer to the customer's own mean
    assert spend[1] == pytest.approx(6 * (15 + 100) / (6 + 4 - 1))


# ---------------------------------------------------------------------------- simulated data


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """30,000 customers from the CDNOW-like parameters, 26-52 weeks observed, 39 weeks of holdout."""
    T = np.random.default_rng(11).uniform(26, 52, 30_000)
    customers = clv.simulate_bgnbd(CDNOW_LIKE, T, seed=12, holdout=39.0)
    repeat = customers["x"] > 0
    spend = np.full(len(customers), np.nan)
    spend[repeat.to_numpy()] = clv.simulate_gamma_gamma(SPEND_LIKE, customers.loc[repeat, "x"], seed=13)
    return customers.assign(customer_id=[f"{i:05d}" for i in range(len(customers))], mean_repeat_spend=spend)


def test_bgnbd_fit_recovers_the_parameters(simulated):
    fit = clv.fit_bgnbd(simulated)
    assert fit.converged and fit.n_customers == 30_000
    for name, true in vars(CDNOW_LIKE).items():
        assert getattr(fit.params, name) == pytest.approx(true, rel=0.10), name


def test_gamma_gamma_fit_recovers_the_parameters(simulated):
    fit = clv.fit_gamma_gamma(simulated)
    assert fit.converged and fit.n_customers == int((simulated["x"] > 0).sum())
    for name, true in vars(SPEND_LIKE).items():
        assert getattr(fit.params, name) == pytest.approx(true, rel=0.15), name


def test_expected_purchases_match_the_simulated_holdout(simulated):
    predicted = clv.expected_purchases(CDNOW_LIKE, simulated["x"], simulated["t_x"], simulated["T"], 39.0)
    assert predicted.sum() == pytest.approx(simulated["holdout_purchases"].sum(), rel=0.03)
    by_x = simulated.assign(predicted=predicted).groupby(simulated["x"].clip(upper=4))
    means = by_x[["predicted", "holdout_purchases"]].mean()
    np.testing.assert_allclose(means["predicted"], means["holdout_purchases"], rtol=0.08)


def test_clv_is_discounted_expected_purchases_times_spend(simulated):
    head = simulated.head(200).assign(T=lambda frame: frame["T"].round(0))  # shared (x, T) pairs
    bgnbd = models.PURCHASE_MODELS["bgnbd"]
    undiscounted = clv_value.customer_values(
        bgnbd, CDNOW_LIKE, SPEND_LIKE, head, SETTINGS | {"annual_discount_rate": 0.0}
    )
    horizon = 12 * clv.DAYS_PER_MONTH / 7
    purchases = clv.expected_purchases(CDNOW_LIKE, head["x"], head["t_x"], head["T"], horizon)
    spend = clv.expected_spend(SPEND_LIKE, head["x"], head["mean_repeat_spend"])
    np.testing.assert_allclose(undiscounted["clv"], purchases * spend, rtol=1e-9)
    np.testing.assert_allclose(
        undiscounted["clv"], undiscounted["clv_if_active"] * undiscounted["p_alive"], rtol=1e-9
    )
    np.testing.assert_allclose(
        undiscounted["p_no_purchase_horizon"],
        models.bgnbd_p_no_purchase(CDNOW_LIKE, head["x"], head["t_x"], head["T"], horizon),
        rtol=1e-12,
    )
    discounted = clv_value.customer_values(bgnbd, CDNOW_LIKE, SPEND_LIKE, head, SETTINGS)
    assert (discounted["clv"] < undiscounted["clv"]).all()
    assert (
        discounted["clv"] > undiscounted["clv"] / 1.1
    ).all()  # no month is discounted by a full year's rate


# ---------------------------------------------------------------------------- summary on hand-made orders


def _orders(rows: list[tuple[str, str, str, float]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    return ibis.memtable(frame.assign(order_date=pd.to_datetime(frame["order_date"])))


HAND_ORDERS = [
    ("A", "1", "2024-01-01 09:00", 10.0),
    ("A", "2", "2024-01-01 17:00", 5.0),  # same day: one purchase occasion of 15
    ("A", "3", "2024-01-08 10:00", 30.0),
    ("A", "4", "2024-01-15 10:00", 0.0),  # fully returned: no occasion
    ("A", "5", "2024-01-22 10:00", 20.0),
    ("B", "6", "2024-01-15 12:00", 40.0),
    ("C", "7", "2023-12-20 12:00", 99.0),  # before the start
    ("C", "8", "2024-01-28 23:59", 12.0),
    ("D", "9", "2024-01-29 00:00", 50.0),  # at the exclusive end
]


def test_summary_counts_purchase_days_in_the_window():
    start, end = datetime(2024, 1, 1), datetime(2024, 1, 29)
    summary = clv.summarise(clv.purchase_occasions(_orders(HAND_ORDERS), start, end), end, "weeks")
    assert list(summary["customer_id"]) == ["A", "B", "C"]
    assert list(summary["x"]) == [2, 0, 0]
    np.testing.assert_allclose(summary["t_x"], [3.0, 0.0, 0.0])
    np.testing.assert_allclose(summary["T"], [4.0, 2.0, 1 / 7])
    assert summary.loc[0, "mean_repeat_spend"] == pytest.approx(25.0)
    assert summary["mean_repeat_spend"].iloc[1:].isna().all()
    in_days = clv.summarise(clv.purchase_occasions(_orders(HAND_ORDERS), start, end), end, "days")
    np.testing.assert_allclose(in_days["t_x"], [21.0, 0.0, 0.0])


def test_unknown_time_unit_is_a_parameter_error():
    end = datetime(2024, 1, 29)
    with pytest.raises(ConfigError, match="clv.time_unit"):
        clv.summarise(clv.purchase_occasions(_orders(HAND_ORDERS), None, end), end, "months")


def test_holdout_customers_count_what_happened_after_the_split():
    start, split, end = datetime(2024, 1, 1), datetime(2024, 1, 10), datetime(2024, 1, 29)
    occasions = clv.purchase_occasions(_orders(HAND_ORDERS), start, end)
    customers = clv_holdout.holdout_customers(occasions, split, end, "days").set_index("customer_id")
    assert customers["actual"].to_dict() == {"A": 1}  # A bought on the 22nd; B and C arrived after the split
    assert customers.loc["A", "holdout_last"] == 21  # 22 January, 21 days after A's first purchase
    tracking = clv_holdout.tracking(occasions, customers.reset_index(), np.zeros_like, start, split, end, 1.0)
    assert tracking["actual"].iloc[-1] == 2  # A's repeats on the 8th and the 22nd
    assert tracking["holdout"].sum() == 19


def test_the_stage_checks_every_model_and_uses_the_chosen_ones_check():
    start, split, end = datetime(2024, 1, 1), datetime(2024, 1, 10), datetime(2024, 1, 29)
    result = clv_stage.future_value(
        _orders(HAND_ORDERS), start, end, SETTINGS | {"calibration_end": "2024-01-10"}
    )
    assert set(result.choice.checks) == {"bgnbd", "mbgnbd", "paretonbd"}
    assert result.holdout is result.choice.checks[result.model]
    assert result.holdout.holdout_length == 19 / 7 and result.holdout.calibration_end == split
    assert list(result.values.columns) == ["customer_id", *clv.VALUE_COLUMNS]


def test_calibration_end_defaults_to_the_middle_of_the_window_and_is_checked():
    start, end = datetime(2024, 1, 1), datetime(2025, 1, 1)
    assert clv_stage.calibration_end(SETTINGS, start, end, start) == datetime(2024, 7, 2)
    assert clv_stage.calibration_end(
        SETTINGS | {"calibration_end": "2024-10-01"}, start, end, start
    ) == datetime(2024, 10, 1)
    with pytest.raises(ConfigError, match="clv.calibration_end 2025-02-01"):
        clv_stage.calibration_end(SETTINGS | {"calibration_end": "2025-02-01"}, start, end, start)


def test_a_window_starting_before_the_data_is_split_in_the_middle_of_what_the_data_cover():
    """A trailing year over an export of five months (a monthly snapshot early in a client's log):
    the split falls in the middle of those months, never before the first order, where no customer
    would be in the calibration part (the holdout tracking then failed on an empty calibration)."""
    start, end, first_order = datetime(2022, 6, 1), datetime(2023, 6, 1), datetime(2023, 1, 1, 9, 30)
    assert clv_stage.calibration_end(SETTINGS, start, end, first_order) == datetime(2023, 3, 17)
    with pytest.raises(
        ConfigError, match="clv.calibration_end 2022-12-01 must fall inside the period's data"
    ):
        clv_stage.calibration_end(SETTINGS | {"calibration_end": "2022-12-01"}, start, end, first_order)


# ---------------------------------------------------------------------------- trust and risk


def test_the_model_is_not_trusted_with_too_few_repeat_buyers():
    start, end = datetime(2024, 1, 1), datetime(2024, 1, 29)
    result = clv_stage.future_value(_orders(HAND_ORDERS), start, end, SETTINGS)
    assert not result.trusted
    assert "only 1 customers bought more than once" in result.reason
    assert result.model_record()["repeat_buyers"] == 1


def test_value_at_risk_is_the_value_of_high_risk_customers_of_valuable_segments():
    customers = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4"],
            "segment": ["Champions", "At Risk", "Lost", "At Risk"],
            "churn_risk": ["high", "high", "high", "low"],
            "clv_if_active": [100.0, 50.0, 20.0, 100.0],
        }
    )
    risky = clv_stage.value_at_risk(customers, ["Champions", "At Risk"])
    assert list(risky["customer_id"]) == ["1", "2"]  # 3 is not a valuable segment, 4 is at low risk
    np.testing.assert_allclose(risky["value_at_risk"], [100.0, 50.0])


def test_the_time_unit_rescales_alpha_only(simulated):
    in_weeks = clv.fit_bgnbd(simulated.head(5000))
    in_days = clv.fit_bgnbd(simulated.head(5000).assign(t_x=lambda f: f["t_x"] * 7, T=lambda f: f["T"] * 7))
    assert in_days.params.alpha == pytest.approx(7 * in_weeks.params.alpha, rel=1e-3)
    for name in ("r", "a", "b"):
        assert getattr(in_days.params, name) == pytest.approx(getattr(in_weeks.params, name), rel=1e-3)


def test_a_likelihood_that_rises_to_a_limit_still_gives_finite_parameters():
    # every customer buys steadily and none drops out: a and b would grow without bound
    steady = pd.DataFrame({"x": np.arange(1, 41), "t_x": np.arange(1, 41) * 1.0, "T": np.full(40, 41.0)})
    fit = clv.fit_bgnbd(steady)
    assert fit.converged and np.isfinite(fit.log_likelihood)
    assert fit.params.a / (fit.params.a + fit.params.b) < 0.05 and fit.params.b < 1e8


def test_expected_purchases_over_a_vanishing_horizon_are_zero_not_negative():
    """Found by hypothesis: a horizon of 2.2e-16 gave -9.9e-17 (rounding of 1 - a number near 1)."""
    params = clv.BGNBDParams(1.0, 1.0, 2.0, 1.0)
    values = clv.expected_purchases(
        params, np.array([2]), np.array([0.0]), np.array([1.0]), 2.220446049250313e-16
    )
    assert 0 <= values[0] < 1e-12


def test_with_earlier_history_the_clock_starts_at_the_first_purchase_in_the_export():
    """Left truncation: a customer who bought before the window is not acquired at their first
    purchase in it, and a customer who bought only before it counts in the fit."""
    window = [
        ("a", "1", "2024-02-01", 10.0), ("a", "2", "2024-02-15", 10.0),
        ("b", "3", "2024-02-08", 20.0), ("b", "4", "2024-02-22", 20.0),
    ]  # fmt: skip
    earlier = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": ["a", "c"],
                "order_date": pd.to_datetime(["2024-01-04", "2024-01-11"]),
                "amount": [5.0, 7.0],
            }
        )
    )
    start, end = datetime(2024, 2, 1), datetime(2024, 2, 29)
    settings = SETTINGS | {"min_repeat_buyers": 1}
    windowed = clv_stage.future_value(_orders(window), start, end, settings)
    whole = clv_stage.future_value(_orders(window), start, end, settings, earlier)
    a_window = windowed.summary.set_index("customer_id").loc["a"]
    a_whole = whole.summary.set_index("customer_id").loc["a"]
    assert (a_window["x"], a_window["T"]) == (1, 4.0)  # 2024-02-01 .. 2024-02-29: 28 days
    assert (a_whole["x"], a_whole["T"]) == (2, 8.0)  # from 2024-01-04: 56 days, one more repeat
    assert "c" in set(whole.summary["customer_id"]) and "c" not in set(windowed.summary["customer_id"])
    assert whole.window_start == start and whole.holdout.calibration_end == windowed.holdout.calibration_end
