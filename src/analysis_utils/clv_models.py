"""More buy-till-you-die models beside stage 05's BG/NBD: MBG/NBD and Pareto/NBD, the probability
of no purchase over a horizon for each, and a convergence report per fit.

Definitions: docs/methodology.md, section 11.6. The customer summary (x, t_x, T) is
:func:`analysis_utils.clv.summarise`'s; every model is fitted like BG/NBD, by
:func:`analysis_utils.clv._maximise` (maximum a posteriori over the log-parameters with the weak
Normal(0, 5) prior, in effect maximum likelihood). :data:`PURCHASE_MODELS` names the three models
(BG/NBD included) for stage 05's choice on the holdout (analysis_utils.clv_choice).

MBG/NBD (Batislam, Denizel and Filiztekinoglu 2007)
    BG/NBD in which the customer may also drop out at time 0, right after the first purchase:
    after the first purchase and after each repeat purchase the customer drops out with
    probability p ~ Beta(a, b). A customer without a repeat purchase can therefore be gone.
Pareto/NBD (Schmittlein, Morrison and Colombo 1987)
    While active, purchases are a Poisson process of rate lambda ~ Gamma(r, alpha); the lifetime
    is exponential with rate mu ~ Gamma(s, beta), independent of lambda. Expressions from Fader
    and Hardie, "A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis_utils import clv

GRADIENT_TOLERANCE = 1e-3
"""Largest norm of the gradient of the mean negative log-posterior (over log-parameters) at the
optimum for which a fit counts as at an optimum (:class:`ConvergenceReport`)."""
RESTART_TOLERANCE = 0.5
"""Largest difference of total log-likelihood between the fit and a refit from a second start for
which both count as the same optimum (:class:`ConvergenceReport`): 0.5 is what moving one parameter
by one standard error costs, so two such fits differ by less than the data can tell apart."""
SECOND_START_SHIFT = np.log(3.0)
"""The second start: every log-parameter of the first moved by this, alternately up and down."""


# ---------------------------------------------------------------------------- shared


def grouped_summary(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) of a summary and the number of customers of each."""
    typed = summary.astype({"x": "float64", "t_x": "float64", "T": "float64"})
    triples = typed.groupby(["x", "t_x", "T"], sort=True).size().reset_index(name="customers")
    x, t_x, T, counts = (triples[column].to_numpy(dtype="float64") for column in triples.columns)
    return x, t_x, T, counts


def _arrays(*values: Any) -> list[np.ndarray]:
    return [np.asarray(value, dtype="float64") for value in values]


def _default_start(T: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """clv.fit_bgnbd's start: every parameter 1 except the rate's scale, the mean T."""
    return np.log([1.0, max(float(np.average(T, weights=counts)), 1e-3), 1.0, 1.0])


def _numerical_gradient(value, log_params: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of ``value`` (truncation error of order step^2)."""
    gradient = np.empty(len(log_params))
    for i in range(len(log_params)):
        shift = np.zeros(len(log_params))
        shift[i] = step
        gradient[i] = (value(log_params + shift) - value(log_params - shift)) / (2 * step)
    return gradient


# ---------------------------------------------------------------------------- BG/NBD additions


def bgnbd_p_no_purchase(
    params: clv.BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """BG/NBD P(no purchase in (T, T + t] | x, t_x, T) =
    1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x): gone, or alive with a Gamma(r + x,
    alpha + T) posterior purchase rate that yields no purchase in t."""
    x, t_x, T, horizon = _arrays(x, t_x, T, horizon)
    return _quiet_or_gone(clv.p_alive(params, x, t_x, T), params, x, T, horizon)


def _quiet_or_gone(alive: np.ndarray, params: Any, x: np.ndarray, T: np.ndarray, horizon: np.ndarray):
    """1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x), BG/NBD's and MBG/NBD's P(no purchase)."""
    quiet = np.exp((params.r + x) * np.log((params.alpha + T) / (params.alpha + T + horizon)))
    return 1.0 - alive + alive * quiet


def bgnbd_probability_of_purchases(params: clv.BGNBDParams, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(X(t) = x): probability that a customer just acquired makes x repeat purchases in (0, t]
    (Fader, Hardie and Lee 2005, eq. 8):

    B(a, b+x)/B(a, b) NB(x; r, alpha/(alpha+t))
      + [x>0] B(a+1, b+x-1)/B(a, b) (1 - sum_{j<x} NB(j; r, alpha/(alpha+t))),

    NB the negative binomial probability Gamma(r+j)/(Gamma(r) j!) q^r (1-q)^j. For x = 0 it is
    (alpha/(alpha+t))^r: no dropout before the first repeat purchase.
    """
    r, alpha, a, b = astuple(params)
    x, t = _arrays(x, t)
    q = alpha / (alpha + t)
    log_beta = special.betaln(a, b)
    still = np.exp(special.betaln(a, b + x) - log_beta) * stats.nbinom.pmf(x, r, q)
    repeat = x > 0
    safe = np.where(repeat, b + x - 1, 1.0)
    gone = np.exp(special.betaln(a + 1, safe) - log_beta) * stats.nbinom.sf(x - 1, r, q)
    return still + np.where(repeat, gone, 0.0)


# ---------------------------------------------------------------------------- MBG/NBD


@dataclass(frozen=True)
class MBGNBDParams:
    """MBG/NBD parameters: purchase rate ~ Gamma(shape r, rate alpha [per time unit]); dropout
    probability at the first purchase and after each repeat purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


def mbgnbd_log_likelihood(params: MBGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under MBG/NBD (Batislam et al. 2007):

    ln L = lnG(r+x) - lnG(r) + r ln(alpha) + lnG(a+b) + lnG(b+x+1) - lnG(b) - lnG(a+b+x+1)
           + ln[(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]

    The first term of the bracket: still active at T (x + 1 dropout draws survived); the second:
    gone right after the last purchase (x = 0 included).
    """
    r, alpha, a, b = astuple(params)
    x, t_x, T = _arrays(x, t_x, T)
    gamma_terms = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.gammaln(a + b)
        + special.gammaln(b + x + 1)
        - special.gammaln(b)
        - special.gammaln(a + b + x + 1)
    )
    return gamma_terms + np.logaddexp(-(r + x) * np.log(alpha + T), _mbgnbd_log_gone(params, x, t_x))


def _mbgnbd_log_gone(params: MBGNBDParams, x: np.ndarray, t_x: np.ndarray) -> np.ndarray:
    return np.log(params.a) - np.log(params.b + x) - (params.r + x) * np.log(params.alpha + t_x)


def mbgnbd_p_alive(params: MBGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still active at T | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)): below 1
    for x = 0 too, unlike BG/NBD."""
    x, t_x, T = _arrays(x, t_x, T)
    log_odds_gone = _mbgnbd_log_gone(params, x, t_x) + (params.r + x) * np.log(params.alpha + T)
    return special.expit(-log_odds_gone)


def mbgnbd_expected_purchases_if_alive(
    params: MBGNBDParams, x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """Expected purchases in (T, T + t] of a customer known to be active at T:

    (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))].

    Active at T after x purchases means x + 1 dropout draws survived, one more than in BG/NBD, so
    this is BG/NBD's expression with b + 1 for b (computed by
    :func:`analysis_utils.clv.expected_purchases_if_alive`).
    """
    shifted = clv.BGNBDParams(params.r, params.alpha, params.a, params.b + 1)
    return clv.expected_purchases_if_alive(shifted, x, T, horizon)


def mbgnbd_expected_purchases(
    params: MBGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """Expected purchases in (T, T + t] given (x, t_x, T): if-alive expectation x P(alive)."""
    return mbgnbd_expected_purchases_if_alive(params, x, T, horizon) * mbgnbd_p_alive(params, x, t_x, T)


def mbgnbd_p_no_purchase(
    params: MBGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T) = 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x):
    as in BG/NBD, an active customer only drops out after a purchase, so buying nothing while
    active is the Gamma(r + x, alpha + T) rate yielding no event in t."""
    x, t_x, T, horizon = _arrays(x, t_x, T, horizon)
    return _quiet_or_gone(mbgnbd_p_alive(params, x, t_x, T), params, x, T, horizon)


def mbgnbd_objective(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, counts: np.ndarray):
    """Mean negative MBG/NBD log-likelihood of customers (x, t_x, T) weighted by ``counts``, and its
    analytic gradient, over the logarithms of (r, alpha, a, b).

    With w the share of the "gone" term in the bracket of :func:`mbgnbd_log_likelihood`,
    d/dr = psi(r+x) - psi(r) + ln(alpha) - (1-w) ln(alpha+T) - w ln(alpha+t_x),
    d/dalpha = r/alpha - (r+x) [(1-w)/(alpha+T) + w/(alpha+t_x)],
    d/da = psi(a+b) - psi(a+b+x+1) + w/a,
    d/db = psi(a+b) + psi(b+x+1) - psi(b) - psi(a+b+x+1) - w/(b+x).
    """
    values, index = np.unique(x, return_inverse=True)
    per_x = np.bincount(index, weights=counts)
    total = counts.sum()

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        gamma_terms = (
            special.gammaln(r + values)
            - special.gammaln(r)
            + special.gammaln(a + b)
            + special.gammaln(b + values + 1)
            - special.gammaln(b)
            - special.gammaln(a + b + values + 1)
        )
        log_end, log_last = np.log(alpha + T), np.log(alpha + t_x)
        active = -(r + x) * log_end
        gone = np.log(a) - np.log(b + x) - (r + x) * log_last
        bracket = np.logaddexp(active, gone)
        w = np.exp(gone - bracket)
        value = per_x @ gamma_terms + total * r * np.log(alpha) + counts @ bracket
        d_r = per_x @ (special.digamma(r + values) - special.digamma(r)) + total * np.log(alpha)
        d_r -= counts @ ((1 - w) * log_end + w * log_last)
        d_alpha = total * r / alpha - counts @ ((r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x)))
        d_a = per_x @ (special.digamma(a + b) - special.digamma(a + b + values + 1)) + counts @ w / a
        d_b = per_x @ (
            special.digamma(a + b)
            + special.digamma(b + values + 1)
            - special.digamma(b)
            - special.digamma(a + b + values + 1)
        ) - counts @ (w / (b + x))
        gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -value / total, -gradient / total

    return objective


def fit_mbgnbd(summary: pd.DataFrame) -> clv.Fit:
    """MBG/NBD parameters of a summary (columns x, t_x, T) by clv._maximise with the analytic
    gradient (:func:`mbgnbd_objective`); customers with the same (x, t_x, T) are grouped."""
    return clv._maximise(*_problem("mbgnbd", summary))


def simulate_mbgnbd(params: MBGNBDParams, T: np.ndarray, seed: int, holdout: float = 0.0) -> pd.DataFrame:
    """Draw (x, t_x, T) and ``holdout_purchases`` (purchases in the ``holdout`` time units after T)
    for customers observed ``T`` time units after their first purchase: lambda ~ Gamma(r, 1/alpha),
    p ~ Beta(a, b); a dropout draw at the first purchase and after each later one, exponential gaps."""
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype="float64")
    rate = rng.gamma(params.r, 1 / params.alpha, len(T))
    dropout = rng.beta(params.a, params.b, len(T))
    clock = np.zeros(len(T))
    x = np.zeros(len(T), dtype="int64")
    t_x = np.zeros(len(T))
    later = np.zeros(len(T), dtype="int64")
    last = np.full(len(T), np.nan)
    active = np.flatnonzero(rng.random(len(T)) >= dropout)  # the draw at the first purchase
    while active.size:
        clock[active] += rng.exponential(1 / rate[active])
        bought = active[clock[active] < T[active] + holdout]
        observed = bought[clock[bought] < T[bought]]
        x[observed] += 1
        t_x[observed] = clock[observed]
        in_holdout = bought[clock[bought] >= T[bought]]
        later[in_holdout] += 1
        last[in_holdout] = clock[in_holdout]
        active = bought[rng.random(bought.size) >= dropout[bought]]
    return clv.simulated_summary(x, t_x, T, later, last)


# ---------------------------------------------------------------------------- Pareto/NBD


@dataclass(frozen=True)
class ParetoNBDParams:
    """Pareto/NBD parameters: purchase rate ~ Gamma(shape r, rate alpha [per time unit]); dropout
    rate (exponential lifetime) ~ Gamma(shape s, rate beta [per time unit])."""

    r: float
    alpha: float
    s: float
    beta: float


def pareto_nbd_log_likelihood(
    params: ParetoNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under Pareto/NBD (Fader and Hardie 2005, eq. 22):

    ln L = lnG(r+x) - lnG(r) + r ln(alpha) + s ln(beta)
           + ln[(alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) A0]

    with A0 of :func:`_pareto_log_a0`, the term of a customer gone between t_x and T. Computed in
    logs: the two terms of the bracket by logaddexp, A0 as a difference of logs by log1p.
    """
    x, t_x, T = _arrays(x, t_x, T)
    return _pareto_log_likelihood_given_a0(params, x, T, _pareto_log_a0(params, x, t_x, T))


def _pareto_log_likelihood_given_a0(
    params: ParetoNBDParams, x: np.ndarray, T: np.ndarray, log_a0: np.ndarray
) -> np.ndarray:
    r, alpha, s, beta = astuple(params)
    return (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.logaddexp(_pareto_log_active(params, x, T), _pareto_log_gone(params, x, log_a0))
    )


def _pareto_log_active(params: ParetoNBDParams, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    return -(params.r + x) * np.log(params.alpha + T) - params.s * np.log(params.beta + T)


def _pareto_log_gone(params: ParetoNBDParams, x: np.ndarray, log_a0: np.ndarray) -> np.ndarray:
    return np.log(params.s) - np.log(params.r + params.s + x) + log_a0


def _pareto_log_a0(params: ParetoNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """ln A0, A0 = F(t_x) - F(T) with F of :func:`_pareto_log_f`; -inf when t_x = T (nothing
    between them). With scalar parameters and one-dimensional customers, F is evaluated once per
    distinct (x, u) among the (x, t_x) and (x, T) pairs: customers observed in whole days share
    them, and the hypergeometric function is most of Pareto/NBD's cost (same values either way)."""
    shapes = {np.shape(x), np.shape(t_x), np.shape(T)}
    if any(np.ndim(p) for p in astuple(params)) or len(shapes) > 1 or np.ndim(x) != 1:
        return _log_difference(_pareto_log_f(params, x, t_x), _pareto_log_f(params, x, T))
    pairs = np.concatenate([x, x]) + 1j * np.concatenate([t_x, T])  # (x, u) as one complex key
    codes, distinct = pd.factorize(pairs)
    log_f = _pareto_log_f(params, distinct.real, distinct.imag)[codes]
    return _log_difference(log_f[: len(x)], log_f[len(x) :])


def _log_difference(at_last: np.ndarray, at_end: np.ndarray) -> np.ndarray:
    """ln(e^at_last - e^at_end) for at_end <= at_last, by log1p."""
    with np.errstate(divide="ignore"):
        return at_last + np.log1p(-np.exp(np.minimum(at_end - at_last, 0.0)))


def _pareto_log_f(params: ParetoNBDParams, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """ln F(u) with, for alpha >= beta,

    F(u) = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+u)) / (alpha+u)^(r+s+x),

    and for alpha < beta F(u) = 2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+u)) / (beta+u)^(r+s+x).
    Taking the larger of alpha and beta keeps the argument in [0, 1); alpha = beta gives argument 0
    and F(u) = (alpha+u)^-(r+s+x).

    When the second parameter b exceeds 1 the series diverges as the argument z nears 1 (beta far
    above alpha, u small: the hypergeometric value overflows), so Euler's transformation
    2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) is used, with c - a = 1 and
    ln(1-z) = ln(min(alpha, beta) + u) - ln(max(alpha, beta) + u) exactly; the transformed series
    converges at z = 1."""
    r, alpha, s, beta = astuple(params)
    total = r + s + x
    # elementwise, so that parameters may be arrays (pareto_nbd_p_no_purchase, clv_intervals)
    scale, other = np.maximum(alpha, beta), np.minimum(alpha, beta)
    second = np.where(np.asarray(alpha) >= beta, s + 1, r + x)
    euler = second > 1
    log_scale = np.log(scale + u)
    first_term = np.where(euler, 1.0, total)
    second_term = np.where(euler, total + 1 - second, second)
    factor = np.where(euler, (1 - second) * (np.log(other + u) - log_scale), 0.0)
    argument = (scale - other) / (scale + u)
    log_hypergeometric = _log_hyp2f1(first_term, second_term, total + 1, argument)
    return factor + log_hypergeometric - total * log_scale


SERIES_BLOCK = 65_536  # terms summed at a time by _log_hyp2f1_series
SERIES_TERMS = 4_194_304  # at most; beyond, the value is left NaN


def _log_hyp2f1(a: Any, b: Any, c: Any, z: Any) -> np.ndarray:
    """ln 2F1(a, b; c; z) for a, b, c > 0 and 0 <= z < 1 (arrays broadcast): scipy's hyp2f1, and
    where that is not finite (it overflows for large b and c with z near 1 even when the value is
    moderate: 2F1(1, 168; 172.5; 0.99975) = 48.2, scipy says inf) the incomplete beta function
    when a = 1 (:func:`_log_hyp2f1_unit_a`, Pareto/NBD's case) and the power series itself where
    that does not apply either."""
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (a, b, c, z)))
    with np.errstate(divide="ignore"):
        values = np.log(special.hyp2f1(a, b, c, z))
    failed = ~np.isfinite(values)
    if failed.any():
        values = np.array(values, copy=True)
        unit_a = failed & (a == 1.0)
        values[unit_a] = _log_hyp2f1_unit_a(b[unit_a], c[unit_a], z[unit_a])
        failed = ~np.isfinite(values)
        points = zip(a[failed], b[failed], c[failed], z[failed], strict=True)
        values[failed] = [_log_hyp2f1_series(*point) for point in points]
    return values


def _log_hyp2f1_unit_a(b: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """ln 2F1(1, b; c; z) for 0 < b < c, c > 1 and 0 < z < 1 (one-dimensional arrays), through the
    incomplete beta function B_z(p, q) = integral of t^(p-1) (1-t)^(q-1) over [0, z]:

    2F1(1, b; c; z) = (c-1) z^(1-c) (1-z)^(c-b-1) B_z(c-1, 1-(c-b))

    (Euler's transformation, then B_z(p, q) = z^p/p 2F1(p, 1-q; p+1; z)). For q > 0, B_z is scipy's
    regularised ``betainc`` times B(p, q). For q <= 0 (c - b >= 1: there the power series converges
    like k^-(c-b) and needs millions of terms near z = 1) it comes down from q + n > 0 by parts,
    B_z(p, q) = (z^p (1-z)^q - (p+q) B_z(p, q+1)) / (-q), in log space. NaN where this does not
    apply: outside the domain, q a whole number <= 0, or a step whose two terms agree to 8 digits
    (cancellation); :func:`_log_hyp2f1` then sums the series."""
    p, q = c - 1.0, 1.0 - (c - b)
    valid = (b > 0) & (p > 0) & (q < 1) & (z > 0) & (z < 1) & ~((q <= 0) & (q == np.round(q)))
    steps = np.where(valid & (q <= 0), np.floor(-q) + 1.0, 0.0)  # to a positive q: q + steps
    with np.errstate(all="ignore"):
        upper = q + steps
        log_b = np.log(special.betainc(p, upper, z)) + special.betaln(p, upper)
        log_zp, log_rest = p * np.log(z), np.log1p(-z)
        for step in range(int(steps.max(initial=0.0))):
            down = steps > step
            lower = upper - 1.0
            log_first = log_zp + lower * log_rest  # ln z^p (1-z)^q at the lower q
            ratio = np.exp(np.log(p + lower) + log_b - log_first)
            valid &= ~down | (ratio < 1.0 - 1e-8)
            log_b = np.where(down, log_first + np.log1p(-ratio) - np.log(-lower), log_b)
            upper = np.where(down, lower, upper)
        values = (c - b - 1.0) * log_rest + np.log(p) - log_zp + log_b
    return np.where(valid & np.isfinite(values), values, np.nan)


def _log_hyp2f1_series(a: float, b: float, c: float, z: float) -> float:
    """ln of sum_k (a)_k (b)_k / ((c)_k k!) z^k, summed in log space :data:`SERIES_BLOCK` terms at a
    time until a term is below 1e-17 of the sum and falling; NaN if :data:`SERIES_TERMS` do not get
    there (z too near 1)."""
    log_total = log_term = 0.0  # the k = 0 term is 1
    log_z = np.log(z) if z > 0 else -np.inf
    for start in range(0, SERIES_TERMS, SERIES_BLOCK):
        k = np.arange(start, start + SERIES_BLOCK, dtype="float64")
        logs = log_term + np.cumsum(np.log(a + k) + np.log(b + k) - np.log(c + k) - np.log1p(k) + log_z)
        log_total = float(np.logaddexp(log_total, special.logsumexp(logs)))
        log_term = float(logs[-1])
        if log_term == -np.inf or (log_term < log_total - 40 and logs[-1] <= logs[-2]):
            return log_total
    return float("nan")


def pareto_nbd_p_alive(params: ParetoNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still active at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)."""
    x, t_x, T = _arrays(x, t_x, T)
    log_gone = _pareto_log_gone(params, x, _pareto_log_a0(params, x, t_x, T))
    return special.expit(_pareto_log_active(params, x, T) - log_gone)


def pareto_nbd_expected_purchases_if_alive(
    params: ParetoNBDParams, x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """Expected purchases in (T, T + t] of a customer known to be active at T (lambda ~
    Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T)):

    (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)],

    which for s = 1 is (r+x)/(alpha+T) (beta+T) ln((beta+T+t)/(beta+T))."""
    r, alpha, s, beta = astuple(params)
    x, T, horizon = _arrays(x, T, horizon)
    log_ratio = np.log((beta + T + horizon) / (beta + T))
    unit = np.asarray(s) == 1  # elementwise: parameters may be arrays of draws (clv_intervals)
    safe = np.where(unit, 2.0, s)
    lifetime = np.where(unit, log_ratio, -np.expm1(-(safe - 1) * log_ratio) / (safe - 1))
    return (r + x) / (alpha + T) * (beta + T) * lifetime


def pareto_nbd_expected_purchases(
    params: ParetoNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """Expected purchases in (T, T + t] given (x, t_x, T) (Fader and Hardie 2005, eq. 24 x 25)."""
    return pareto_nbd_expected_purchases_if_alive(params, x, T, horizon) * pareto_nbd_p_alive(
        params, x, t_x, T
    )


def pareto_nbd_p_no_purchase(
    params: ParetoNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T) = 1 - P(alive) + P(alive) Q, Q the probability that
    a customer active at T buys nothing in t: the first of purchase (rate lambda) and dropout (rate
    mu) is a dropout, or neither happens in t. With lambda ~ Gamma(r+x, alpha+T) and mu ~
    Gamma(s, beta+T) given active at T, Q = exp(ln L(0, 0, t)) under parameters
    (r+x, alpha+T, s, beta+T): E[mu/(lambda+mu) + lambda/(lambda+mu) e^-(lambda+mu)t] is the
    likelihood of a customer observed for t without a purchase."""
    r, alpha, s, beta = astuple(params)
    x, t_x, T, horizon = _arrays(x, t_x, T, horizon)
    alive = pareto_nbd_p_alive(params, x, t_x, T)
    posterior = ParetoNBDParams(r + x, alpha + T, s, beta + T)  # per customer (arrays)
    quiet = np.exp(pareto_nbd_log_likelihood(posterior, 0.0, 0.0, horizon))
    return 1.0 - alive + alive * quiet


def pareto_nbd_objective(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, counts: np.ndarray):
    """Mean negative Pareto/NBD log-likelihood of customers (x, t_x, T) weighted by ``counts``, over
    the logarithms of (r, alpha, s, beta), with a *numerical* gradient (central differences,
    :func:`_numerical_gradient`): the derivatives of the hypergeometric terms in their parameters
    have no convenient closed form. F (:func:`_pareto_log_f`) is evaluated once per distinct
    (x, t_x) and (x, T), far fewer than the distinct triples."""
    total = counts.sum()
    ends = np.concatenate([np.column_stack([x, t_x]), np.column_stack([x, T])])
    pairs, index = np.unique(ends, axis=0, return_inverse=True)
    index = index.reshape(-1)
    at_last, at_end = index[: len(x)], index[len(x) :]

    def value(log_params: np.ndarray) -> float:
        params = ParetoNBDParams(*np.exp(log_params))
        with np.errstate(all="ignore"):
            log_f = _pareto_log_f(params, pairs[:, 0], pairs[:, 1])
            log_a0 = _log_difference(log_f[at_last], log_f[at_end])
            return -float(counts @ _pareto_log_likelihood_given_a0(params, x, T, log_a0)) / total

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        return value(log_params), _numerical_gradient(value, log_params)

    return objective


def fit_pareto_nbd(summary: pd.DataFrame) -> clv.Fit:
    """Pareto/NBD parameters of a summary (columns x, t_x, T) by clv._maximise with the numerical
    gradient of :func:`pareto_nbd_objective`; customers with the same (x, t_x, T) are grouped."""
    return clv._maximise(*_problem("paretonbd", summary))


def simulate_pareto_nbd(
    params: ParetoNBDParams, T: np.ndarray, seed: int, holdout: float = 0.0
) -> pd.DataFrame:
    """Draw (x, t_x, T) and ``holdout_purchases`` for customers observed ``T`` time units after their
    first purchase: lambda ~ Gamma(r, 1/alpha), mu ~ Gamma(s, 1/beta), lifetime ~ Exponential(mu)
    from the first purchase, purchases with exponential gaps until the lifetime or T + holdout ends."""
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype="float64")
    rate = rng.gamma(params.r, 1 / params.alpha, len(T))
    death = rng.exponential(1 / rng.gamma(params.s, 1 / params.beta, len(T)))
    stop = np.minimum(death, T + holdout)
    clock = np.zeros(len(T))
    x = np.zeros(len(T), dtype="int64")
    t_x = np.zeros(len(T))
    later = np.zeros(len(T), dtype="int64")
    last = np.full(len(T), np.nan)
    active = np.arange(len(T))
    while active.size:
        clock[active] += rng.exponential(1 / rate[active])
        active = active[clock[active] < stop[active]]
        observed = active[clock[active] < T[active]]
        x[observed] += 1
        t_x[observed] = clock[observed]
        in_holdout = active[clock[active] >= T[active]]
        later[in_holdout] += 1
        last[in_holdout] = clock[in_holdout]
    return clv.simulated_summary(x, t_x, T, later, last)


# ---------------------------------------------------------------------------- convergence report


@dataclass(frozen=True)
class PurchaseModel:
    """One buy-till-you-die purchase model as stage 05 uses it: its name (the ``clv.model``
    parameter's value), label, parameter class, fitting objective and predictions. Every
    prediction takes the customer summary's x, t_x, T and a horizon in the fit's time unit."""

    name: str
    label: str
    make: type
    objective: Callable
    log_likelihood: Callable
    p_alive: Callable
    expected_purchases_if_alive: Callable
    p_no_purchase: Callable
    mean_dropout: Callable
    """Mean dropout per purchase: a/(a+b) for BG/NBD and MBG/NBD, for Pareto/NBD the mean dropout
    rate over the mean purchase rate, (s/beta)/(r/alpha)."""

    def expected_purchases(self, params: Any, x: Any, t_x: Any, T: Any, horizon: Any) -> np.ndarray:
        """Expected purchases in (T, T + horizon] given (x, t_x, T): if-alive expectation x P(alive)."""
        return self.expected_purchases_if_alive(params, x, T, horizon) * self.p_alive(params, x, t_x, T)

    def expected_purchases_new(self, params: Any, t: Any) -> np.ndarray:
        """E[X(t)], repeat purchases in (0, t] of a customer just acquired: the conditional
        expectation at x = t_x = T = 0 (for MBG/NBD it includes the dropout at the first purchase)."""
        zero = np.zeros(np.shape(t))
        return self.expected_purchases(params, zero, zero, zero, t)

    def fit(self, summary: pd.DataFrame) -> ConvergenceReport:
        """Fit on a summary (columns x, t_x, T) with the convergence report (:func:`fit_with_report`)
        and its prediction change (:meth:`prediction_change`)."""
        report = fit_with_report(*_problem(self.name, summary))
        return replace(report, prediction_change=self.prediction_change(report, summary))

    def prediction_change(self, report: ConvergenceReport, summary: pd.DataFrame) -> float:
        """How far the second start's fit moves the predictions for the customers of ``summary``:
        the larger of the relative change of their total expected purchases over the longest
        observation (max T) and the largest change of a customer's P(alive), a probability.
        NaN when a fit has no finite parameters (then :attr:`ConvergenceReport.flagged`)."""
        x, t_x, T, counts = grouped_summary(summary)
        fits = (report.fit.params, report.restart.params)
        if not len(counts) or not all(np.all(np.isfinite(astuple(p))) for p in fits):
            return float("nan")
        horizon = float(T.max())
        with np.errstate(all="ignore"):
            totals = [float(np.sum(counts * self.expected_purchases(p, x, t_x, T, horizon))) for p in fits]
            alive = [self.p_alive(p, x, t_x, T) for p in fits]
        total_change = abs(totals[1] - totals[0]) / totals[0] if totals[0] > 0 else float("nan")
        return float(max(total_change, np.max(np.abs(alive[1] - alive[0]))))


PURCHASE_MODELS = {
    model.name: model
    for model in (
        PurchaseModel(
            "bgnbd",
            "BG/NBD",
            clv.BGNBDParams,
            clv.bgnbd_objective,
            clv.bgnbd_log_likelihood,
            clv.p_alive,
            clv.expected_purchases_if_alive,
            bgnbd_p_no_purchase,
            lambda params: params.a / (params.a + params.b),
        ),
        PurchaseModel(
            "mbgnbd",
            "MBG/NBD",
            MBGNBDParams,
            mbgnbd_objective,
            mbgnbd_log_likelihood,
            mbgnbd_p_alive,
            mbgnbd_expected_purchases_if_alive,
            mbgnbd_p_no_purchase,
            lambda params: params.a / (params.a + params.b),
        ),
        PurchaseModel(
            "paretonbd",
            "Pareto/NBD",
            ParetoNBDParams,
            pareto_nbd_objective,
            pareto_nbd_log_likelihood,
            pareto_nbd_p_alive,
            pareto_nbd_expected_purchases_if_alive,
            pareto_nbd_p_no_purchase,
            lambda params: (params.s / params.beta) / (params.r / params.alpha),
        ),
    )
}
"""The purchase models stage 05 chooses from, by ``clv.model`` name."""


def model_of(params: Any) -> PurchaseModel:
    """The purchase model whose parameters ``params`` are."""
    return next(model for model in PURCHASE_MODELS.values() if isinstance(params, model.make))


def _problem(model: str, summary: pd.DataFrame) -> tuple[Any, np.ndarray, type, int]:
    """clv._maximise's arguments (objective, start, parameter class, customers) for ``model``; the
    start is clv.fit_bgnbd's for every model, so the BG/NBD fit is stage 05's."""
    objective, make = PURCHASE_MODELS[model].objective, PURCHASE_MODELS[model].make
    x, t_x, T, counts = grouped_summary(summary)
    if not len(counts):
        return objective(x, t_x, T, counts), np.zeros(4), make, 0
    return objective(x, t_x, T, counts), _default_start(T, counts), make, int(counts.sum())


@dataclass(frozen=True)
class ConvergenceReport:
    """How far a fit can be trusted to be the optimum.

    ``converged``: clv._maximise's flag (the optimiser says so, no parameter at a bound).
    ``gradient_norm``: Euclidean norm of the gradient of the mean negative log-posterior, over the
    log-parameters, at the fitted parameters. ``restart_change``: largest relative change
    |theta_2 - theta_1| / theta_1 of a parameter refitted from a second start
    (:data:`SECOND_START_SHIFT`) and ``prediction_change``, how far that refit moved what the model
    says (:meth:`PurchaseModel.prediction_change`); both reported. ``likelihood_gap``: |ln L_2 - ln L_1|,
    which is judged: when customers barely drop out, a and b of BG/NBD (or s and beta of Pareto/NBD)
    lie on a flat ridge of the likelihood and two starts stop at different points of it, equally
    likely given the data (the per-customer intervals carry that uncertainty). ``flagged``: not
    converged, gradient norm above :data:`GRADIENT_TOLERANCE` or likelihood gap above
    :data:`RESTART_TOLERANCE` (or unknown).
    """

    fit: clv.Fit
    restart: clv.Fit
    converged: bool
    gradient_norm: float
    restart_change: float
    prediction_change: float = float("nan")

    @property
    def likelihood_gap(self) -> float:
        return abs(self.restart.log_likelihood - self.fit.log_likelihood)

    @property
    def flagged(self) -> bool:
        return not (
            self.converged
            and self.gradient_norm <= GRADIENT_TOLERANCE
            and self.likelihood_gap <= RESTART_TOLERANCE
        )

    def record(self) -> dict[str, Any]:
        return {
            "converged": self.converged,
            "gradient_norm": self.gradient_norm,
            "restart_change": self.restart_change,
            "prediction_change": self.prediction_change,
            "likelihood_gap": self.likelihood_gap,
            "flagged": self.flagged,
        }


def fit_with_report(objective, start: np.ndarray, make, n_customers: int) -> ConvergenceReport:
    """clv._maximise from ``start`` and again from the second start, with the report of both."""
    fit = clv._maximise(objective, start, make, n_customers)
    shift = SECOND_START_SHIFT * (-1.0) ** np.arange(len(start))
    restart = clv._maximise(objective, start + shift, make, n_customers)
    first, second = np.array(astuple(fit.params)), np.array(astuple(restart.params))
    if n_customers == 0 or not np.all(np.isfinite(first)):
        return ConvergenceReport(fit, restart, False, float("nan"), float("nan"))
    log_params = np.log(first)
    with np.errstate(all="ignore"):
        _, gradient = objective(log_params)
    gradient = gradient + log_params / (clv.LOG_PRIOR_SD**2 * n_customers)  # the prior's, as in _maximise
    change = float(np.max(np.abs(second - first) / first))
    return ConvergenceReport(fit, restart, fit.converged, float(np.linalg.norm(gradient)), change)


def convergence_report(model: str, summary: pd.DataFrame) -> ConvergenceReport:
    """Fit ``model`` ("bgnbd", "mbgnbd" or "paretonbd") on a summary and report its convergence
    (:class:`ConvergenceReport`); ``report.fit`` is the fit itself."""
    return PURCHASE_MODELS[model].fit(summary)
