"""MBG/NBD, Pareto/NBD and the convergence report (analysis_utils.clv_models): published values of
the closed forms, likelihoods against numerical integration, parameter recovery on simulated data."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special

from analysis_utils import clv
from analysis_utils import clv_models as models

BGNBD_CDNOW = clv.BGNBDParams(r=0.2426, alpha=4.4136, a=0.7929, b=2.4259)  # Fader, Hardie and Lee 2005
PARETO_CDNOW = models.ParetoNBDParams(r=0.553, alpha=10.578, s=0.606, beta=11.669)  # Fader and Hardie 2005
MBGNBD_LIKE = models.MBGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


# ---------------------------------------------------------------------------- published values


def test_bgnbd_conditional_expectation_of_the_published_example():
    value = clv.expected_purchases(BGNBD_CDNOW, np.array([2]), np.array([30.43]), np.array([38.86]), 39.0)
    assert value[0] == pytest.approx(1.226, abs=5e-4)


def test_bgnbd_expected_purchases_of_a_new_customer_as_published():
    values = clv.expected_purchases_new(BGNBD_CDNOW, np.array([1.0, 3.0, 32.0, 78.0]))
    np.testing.assert_allclose(values[:3], [0.0532, 0.1506, 1.0437], atol=1e-4)
    # 1.8576 as quoted; the closed form and the sum over P(X(78) = x) below both give 1.85802
    assert values[3] == pytest.approx(1.8576, abs=5e-4)
    counts = np.arange(20_000)
    by_sum = counts @ models.bgnbd_probability_of_purchases(BGNBD_CDNOW, counts, 78.0)
    assert by_sum == pytest.approx(values[3], rel=1e-10)


def test_bgnbd_probability_of_no_purchase_of_a_new_customer():
    none = models.bgnbd_probability_of_purchases(BGNBD_CDNOW, np.array([0]), 39.0)
    assert none[0] == pytest.approx(0.574, abs=5e-4)
    assert none[0] == pytest.approx((4.4136 / 43.4136) ** 0.2426, rel=1e-12)
    assert models.bgnbd_probability_of_purchases(BGNBD_CDNOW, np.arange(5000), 39.0).sum() == pytest.approx(
        1.0
    )


def test_pareto_nbd_p_alive_and_expectation_of_the_published_example():
    x, t_x, T = np.array([26]), np.array([30.86]), np.array([31.0])
    assert models.pareto_nbd_p_alive(PARETO_CDNOW, x, t_x, T)[0] == pytest.approx(0.9979, abs=5e-5)
    assert models.pareto_nbd_expected_purchases(PARETO_CDNOW, x, t_x, T, 52.0)[0] == pytest.approx(
        25.46, abs=5e-3
    )


# ---------------------------------------------------------------------------- likelihoods


def _gamma_density(value: float, shape: float, rate: float) -> float:
    if value <= 0:
        return 0.0
    return math.exp(
        shape * math.log(rate) + (shape - 1) * math.log(value) - rate * value - math.lgamma(shape)
    )


def _beta_density(value: float, a: float, b: float) -> float:
    if not 0 < value < 1:
        return 0.0
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return math.exp((a - 1) * math.log(value) + (b - 1) * math.log1p(-value) - log_beta)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 5.0), (3, 2.0, 6.0), (1, 4.5, 4.5)])
def test_mbgnbd_log_likelihood_is_the_integral_over_rate_and_dropout(x, t_x, T):
    params = models.MBGNBDParams(r=0.7, alpha=3.0, a=1.3, b=2.5)

    def individual(rate: float, p: float) -> float:  # x + 1 dropout draws survived, or gone after the last
        alive = (1 - p) ** (x + 1) * rate**x * math.exp(-rate * T)
        gone = p * (1 - p) ** x * rate**x * math.exp(-rate * t_x)
        likelihood = alive + gone
        return likelihood * _gamma_density(rate, 0.7, 3.0) * _beta_density(p, 1.3, 2.5)

    integral, _ = integrate.dblquad(individual, 0, 1, 0, np.inf, epsabs=0, epsrel=1e-9)
    value = models.mbgnbd_log_likelihood(params, np.array([x]), np.array([t_x]), np.array([T]))
    assert value[0] == pytest.approx(math.log(integral), rel=1e-6)


def test_mbgnbd_log_likelihood_by_hand():
    # r=0.5, alpha=2, a=1.5, b=3; x=0, T=5: ln[(2/7)^0.5 (b/(a+b)) + a/(a+b)]: alive or gone at once
    params = models.MBGNBDParams(r=0.5, alpha=2.0, a=1.5, b=3.0)
    value = models.mbgnbd_log_likelihood(params, np.array([0]), np.array([0.0]), np.array([5.0]))
    assert value[0] == pytest.approx(math.log((2 / 7) ** 0.5 * 3 / 4.5 + 1.5 / 4.5), rel=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        models.ParetoNBDParams(r=0.6, alpha=5.0, s=0.8, beta=12.0),  # alpha < beta
        models.ParetoNBDParams(r=1.2, alpha=9.0, s=1.5, beta=2.0),  # alpha > beta
        models.ParetoNBDParams(r=0.9, alpha=4.0, s=0.7, beta=4.0),  # alpha = beta
    ],
)
@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 6.0), (2, 3.0, 8.0), (5, 7.9, 8.0)])
def test_pareto_nbd_log_likelihood_is_the_integral_over_both_rates(params, x, t_x, T):
    def individual(rate: float, death: float) -> float:  # active at T, or gone in (t_x, T]
        total = rate + death
        likelihood = rate**x * math.exp(-total * T) + death / total * rate**x * (
            math.exp(-total * t_x) - math.exp(-total * T)
        )
        return (
            likelihood
            * _gamma_density(rate, params.r, params.alpha)
            * _gamma_density(death, params.s, params.beta)
        )

    integral, _ = integrate.dblquad(individual, 0, np.inf, 0, np.inf, epsabs=0, epsrel=1e-9)
    value = models.pareto_nbd_log_likelihood(params, np.array([x]), np.array([t_x]), np.array([T]))
    assert value[0] == pytest.approx(math.log(integral), rel=1e-5)


def test_pareto_nbd_log_likelihood_is_continuous_through_alpha_equal_beta():
    x, t_x, T = np.array([0, 4]), np.array([0.0, 3.0]), np.array([10.0, 10.0])
    equal = models.pareto_nbd_log_likelihood(models.ParetoNBDParams(0.9, 4.0, 0.7, 4.0), x, t_x, T)
    for beta in (4.0 * (1 - 1e-7), 4.0 * (1 + 1e-7)):
        near = models.pareto_nbd_log_likelihood(models.ParetoNBDParams(0.9, 4.0, 0.7, beta), x, t_x, T)
        np.testing.assert_allclose(near, equal, rtol=1e-6)


@pytest.mark.parametrize("log_params", [np.log([0.3, 4.0, 0.8, 2.5]), np.log([2.0, 0.5, 5.0, 40.0])])
def test_mbgnbd_objective_is_the_weighted_likelihood_with_its_exact_gradient(log_params):
    x = np.array([0, 0, 1, 3, 7, 20.0])
    t_x = np.array([0, 0, 2.5, 10, 30, 31.0])
    T = np.array([5, 40, 12, 30, 38, 32.0])
    counts = np.array([3, 1, 2, 5, 1, 4.0])
    value, gradient = models.mbgnbd_objective(x, t_x, T, counts)(log_params)
    per_customer = models.mbgnbd_log_likelihood(models.MBGNBDParams(*np.exp(log_params)), x, t_x, T)
    assert value == pytest.approx(-(counts @ per_customer) / counts.sum(), rel=1e-12)
    numeric = optimize.approx_fprime(
        log_params, lambda v: models.mbgnbd_objective(x, t_x, T, counts)(v)[0], 1e-7
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


def test_pareto_nbd_objective_gradient_matches_finite_differences():
    x, t_x, T = np.array([0, 2, 9.0]), np.array([0, 3.0, 20.0]), np.array([10.0, 12.0, 25.0])
    counts = np.array([4.0, 2.0, 1.0])
    objective = models.pareto_nbd_objective(x, t_x, T, counts)
    log_params = np.log([0.6, 5.0, 0.8, 12.0])
    _, gradient = objective(log_params)
    numeric = optimize.approx_fprime(log_params, lambda v: objective(v)[0], 1e-7)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------- P(alive), no purchase


def test_mbgnbd_one_time_buyers_may_be_gone():
    x, t_x, T = np.array([0, 0]), np.array([0.0, 0.0]), np.array([1.0, 80.0])
    alive = models.mbgnbd_p_alive(MBGNBD_LIKE, x, t_x, T)
    assert (alive < 1).all() and alive[1] < alive[0]
    # at T = 0 only the dropout draw at the first purchase has happened: P(alive) = E[1 - p]
    at_start = models.mbgnbd_p_alive(MBGNBD_LIKE, np.array([0]), np.array([0.0]), np.array([0.0]))
    assert at_start[0] == pytest.approx(MBGNBD_LIKE.b / (MBGNBD_LIKE.a + MBGNBD_LIKE.b))
    np.testing.assert_array_equal(clv.p_alive(BGNBD_CDNOW, x, t_x, T), [1.0, 1.0])  # unlike BG/NBD


CUSTOMERS = (np.array([0, 1, 4, 12.0]), np.array([0.0, 2.0, 20.0, 30.0]), np.array([10.0, 25.0, 30.0, 31.0]))


@pytest.mark.parametrize(
    ("params", "log_likelihood", "p_no_purchase"),
    [
        (BGNBD_CDNOW, clv.bgnbd_log_likelihood, models.bgnbd_p_no_purchase),
        (MBGNBD_LIKE, models.mbgnbd_log_likelihood, models.mbgnbd_p_no_purchase),
        (PARETO_CDNOW, models.pareto_nbd_log_likelihood, models.pareto_nbd_p_no_purchase),
    ],
)
def test_no_purchase_ahead_is_the_likelihood_of_a_longer_silence(params, log_likelihood, p_no_purchase):
    """P(no purchase in (T, T+t] | x, t_x, T) = L(x, t_x, T+t) / L(x, t_x, T): observing the same
    purchases over a longer window means exactly that nothing was bought in between."""
    x, t_x, T = CUSTOMERS
    for horizon in (1.0, 13.0, 52.0):
        ratio = np.exp(log_likelihood(params, x, t_x, T + horizon) - log_likelihood(params, x, t_x, T))
        np.testing.assert_allclose(p_no_purchase(params, x, t_x, T, horizon), ratio, rtol=1e-9)


def test_bgnbd_no_purchase_ahead_is_the_risk_score():
    x, t_x, T = CUSTOMERS
    alive = clv.p_alive(BGNBD_CDNOW, x, t_x, T)
    by_formula = 1 - alive + alive * ((4.4136 + T) / (4.4136 + T + 39.0)) ** (0.2426 + x)
    np.testing.assert_allclose(
        models.bgnbd_p_no_purchase(BGNBD_CDNOW, x, t_x, T, 39.0), by_formula, rtol=1e-12
    )


def test_pareto_nbd_expectation_is_continuous_at_s_equal_one():
    x, T = np.array([3.0]), np.array([20.0])
    at_one = models.pareto_nbd_expected_purchases_if_alive(
        models.ParetoNBDParams(0.5, 8.0, 1.0, 6.0), x, T, 26.0
    )
    near = models.pareto_nbd_expected_purchases_if_alive(
        models.ParetoNBDParams(0.5, 8.0, 1.0 + 1e-8, 6.0), x, T, 26.0
    )
    assert at_one[0] == pytest.approx(near[0], rel=1e-6)
    assert at_one[0] == pytest.approx(3.5 / 28 * 26 * math.log(52 / 26), rel=1e-12)


# ---------------------------------------------------------------------------- simulated data


@pytest.fixture(scope="module")
def simulated_mbgnbd() -> pd.DataFrame:
    """20,000 customers from MBG/NBD, 52-104 weeks observed, 26 weeks of holdout."""
    T = np.random.default_rng(41).uniform(52, 104, 20_000)
    return models.simulate_mbgnbd(MBGNBD_LIKE, T, seed=42, holdout=26.0)


@pytest.fixture(scope="module")
def simulated_pareto() -> pd.DataFrame:
    """8,000 customers from the CDNOW Pareto/NBD parameters, 52-104 weeks observed, 26 of holdout."""
    T = np.random.default_rng(51).uniform(52, 104, 8_000)
    return models.simulate_pareto_nbd(PARETO_CDNOW, T, seed=52, holdout=26.0)


def test_mbgnbd_fit_recovers_the_parameters_and_reports_convergence(simulated_mbgnbd):
    report = models.convergence_report("mbgnbd", simulated_mbgnbd)
    assert report.converged and not report.flagged and report.fit.n_customers == 20_000
    assert (
        report.gradient_norm < models.GRADIENT_TOLERANCE and report.likelihood_gap < models.RESTART_TOLERANCE
    )
    assert report.restart_change < 0.01 and report.prediction_change < 0.01  # well identified here
    for name, true in vars(MBGNBD_LIKE).items():
        assert getattr(report.fit.params, name) == pytest.approx(true, rel=0.10), name
    assert models.fit_mbgnbd(simulated_mbgnbd) == report.fit


def test_pareto_nbd_fit_recovers_the_parameters(simulated_pareto):
    fit = models.fit_pareto_nbd(simulated_pareto)
    assert fit.converged and fit.n_customers == 8_000
    for name, true in vars(PARETO_CDNOW).items():
        assert getattr(fit.params, name) == pytest.approx(true, rel=0.15), name


@pytest.mark.parametrize(
    ("fixture", "params", "expected", "p_no_purchase"),
    [
        ("simulated_mbgnbd", MBGNBD_LIKE, models.mbgnbd_expected_purchases, models.mbgnbd_p_no_purchase),
        (
            "simulated_pareto",
            PARETO_CDNOW,
            models.pareto_nbd_expected_purchases,
            models.pareto_nbd_p_no_purchase,
        ),
    ],
)
def test_predictions_match_the_simulated_holdout(fixture, params, expected, p_no_purchase, request):
    customers = request.getfixturevalue(fixture).head(4000)
    x, t_x, T = (customers[column].to_numpy() for column in ("x", "t_x", "T"))
    predicted = expected(params, x, t_x, T, 26.0)
    assert predicted.sum() == pytest.approx(customers["holdout_purchases"].sum(), rel=0.06)
    quiet = p_no_purchase(params, x, t_x, T, 26.0)
    assert quiet.mean() == pytest.approx((customers["holdout_purchases"] == 0).mean(), abs=0.02)


def test_the_bgnbd_report_is_stage_05s_fit():
    T = np.random.default_rng(61).uniform(26, 52, 5000)
    customers = clv.simulate_bgnbd(BGNBD_CDNOW, T, seed=62)
    report = models.convergence_report("bgnbd", customers)
    assert report.fit == clv.fit_bgnbd(customers)
    assert not report.flagged


def test_a_fit_that_does_not_converge_is_flagged():
    empty = models.convergence_report("mbgnbd", pd.DataFrame({"x": [], "t_x": [], "T": []}))
    assert not empty.converged and empty.flagged

    def rising(log_params: np.ndarray) -> tuple[float, np.ndarray]:  # optimum beyond the bound e^20
        return -1000.0 * log_params[0], np.array([-1000.0, 0.0, 0.0])

    report = models.fit_with_report(rising, np.zeros(3), clv.GammaGammaParams, 1)
    assert not report.converged and report.flagged
    assert report.record()["flagged"] is True


def test_a_flat_ridge_of_the_likelihood_is_reported_but_not_flagged():
    """Customers who barely drop out leave BG/NBD's a and b unidentified (only a/(a+b) ~ 0 matters):
    the two starts stop apart in the parameters, not in likelihood or predictions."""
    T = np.random.default_rng(61).uniform(30, 52, 6_000)
    summary = models.simulate_mbgnbd(models.MBGNBDParams(r=0.8, alpha=10.0, a=0.01, b=15.0), T, seed=62)
    report = models.convergence_report("bgnbd", summary)
    assert report.converged and not report.flagged, report.record()
    assert report.likelihood_gap < models.RESTART_TOLERANCE and report.prediction_change < 0.05


def test_a_second_start_that_ends_far_apart_flags_the_fit(simulated_mbgnbd):
    report = models.convergence_report("mbgnbd", simulated_mbgnbd)
    worse = dataclasses.replace(report.restart, log_likelihood=report.fit.log_likelihood - 2.0)
    moved = dataclasses.replace(report, restart=worse)
    assert moved.flagged and moved.likelihood_gap == pytest.approx(2.0)


def test_pareto_f_stays_finite_where_the_plain_series_overflows():
    """F(u) by Euler's transformation equals the plain series where that one is finite, and stays
    finite for a dropout scale far above the purchase scale (beta >> alpha), at u = 0."""
    x = np.array([0.0, 1.0, 5.0, 26.0])
    u = np.array([0.0, 3.0, 10.0, 30.86])
    for params in (PARETO_CDNOW, models.ParetoNBDParams(r=0.8, alpha=12.0, s=2.5, beta=3.0)):
        r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
        total = r + s + x
        scale, other = max(alpha, beta), min(alpha, beta)
        second = s + 1 if alpha >= beta else r + x
        plain = np.log(special.hyp2f1(total, second, total + 1, (scale - other) / (scale + u)))
        plain -= total * np.log(scale + u)
        assert np.allclose(models._pareto_log_f(params, x, u), plain, rtol=1e-10)
    wide = models.ParetoNBDParams(r=0.513, alpha=3.185, s=167.0, beta=24072.1)  # a draw of sample 2024
    frequent, u = np.array([0.0, 4.0, 26.0]), np.array([0.0, 2.714, 30.86])  # x = 4: the plain 2F1 overflows
    log_f = models._pareto_log_f(wide, frequent, u)
    assert np.isfinite(log_f).all()
    alive = models.pareto_nbd_p_alive(wide, frequent, u, u + 40.0)
    assert np.isfinite(alive).all() and ((alive > 0) & (alive < 1)).all()


@pytest.mark.parametrize(
    ("b", "c", "z"),
    [
        (168.0, 172.5, 0.99975497),  # c - b = 4.5: four steps down from q = 0.5
        (463.8, 465.4, 0.99999485),  # c - b = 1.6, z a few millionths from 1 (a Pareto/NBD fit)
        (5.5, 7.9, 0.99),
        (2.0, 5.5, 0.5),
        (3.0, 3.7, 0.9),  # c - b < 1: betainc directly
    ],
)
def test_the_incomplete_beta_route_of_2f1_with_a_1_agrees_with_the_series(b, c, z):
    fast = models._log_hyp2f1_unit_a(np.array([b]), np.array([c]), np.array([z]))[0]
    assert fast == pytest.approx(models._log_hyp2f1_series(1.0, b, c, z), rel=1e-10)


def test_2f1_with_a_1_near_z_1_is_finite_where_the_series_gives_up_and_matches_the_integral(monkeypatch):
    """2F1(1, 463.8; 465.4; 1 - 4.4e-6): scipy overflows, the series needs more than its 4 million
    terms (it used to cost a client's stage 05 eight minutes, hundreds of such points per fit);
    the incomplete-beta route gives it at once, equal to Euler's integral computed by quadrature."""
    from scipy import integrate

    b, c, z = 463.8, 465.4, 0.9999956068
    assert np.isnan(models._log_hyp2f1_series(1.0, b, c, z))
    monkeypatch.setattr(models, "_log_hyp2f1_series", lambda *point: pytest.fail(f"series at {point}"))
    value = models._log_hyp2f1(np.array([1.0]), np.array([b]), np.array([c]), np.array([z]))[0]
    p, q = c - 1.0, 1.0 - (c - b)  # 2F1 = p z^-p (1-z)^(c-b-1) B_z(p, q); B_z with u = ln(1 - t)
    incomplete, _ = integrate.quad(
        lambda u: np.exp(q * u + (p - 1.0) * np.log1p(-np.exp(u))), np.log1p(-z), 0.0, limit=200
    )
    expected = np.log(p) - p * np.log(z) + (c - b - 1.0) * np.log1p(-z) + np.log(incomplete)
    assert value == pytest.approx(expected, rel=1e-8)


def test_the_hypergeometric_series_takes_over_where_scipy_overflows():
    assert np.exp(models._log_hyp2f1(1.0, 168.0, 172.5, 0.99975497)) == pytest.approx(48.2141, rel=1e-4)
    for a, b, c, z in ((0.5, 0.7, 2.0, 0.6), (3.0, 1.5, 6.2, 0.95), (1.0, 2.0, 3.0, 0.0)):
        assert np.exp(models._log_hyp2f1_series(a, b, c, z)) == pytest.approx(
            special.hyp2f1(a, b, c, z), rel=1e-12
        )
