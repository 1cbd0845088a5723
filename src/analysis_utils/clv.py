"""Buy-till-you-die models: BG/NBD repeat purchases and P(alive), Gamma-Gamma spend, CLV.

Definitions (docs/methodology.md, section 11). Time is measured in the unit ``time_unit``
(``days`` or ``weeks``: 7 days) from calendar dates; a *purchase occasion* is a calendar day on
which a customer's orders have a positive net amount (several orders on one day are one occasion,
a day whose orders were all returned is none).

x
    Repeat purchase occasions: occasions after the customer's first one in the observation window.
t_x
    Time from the first occasion to the last one (0 when x = 0).
T
    Time from the first occasion to the end of observation (its exclusive end, midnight).
mean_repeat_spend
    Mean value of the repeat occasions (client currency); missing when x = 0. The first
    occasion is left out, as Gamma-Gamma models the spend of repeat purchases.
mean_spend
    Mean value of all the customer's occasions (client currency): the customer's own
    average, used for spend when Gamma-Gamma is not trusted.

An occasion's *value* is its net amount, or its margin (net amount minus net cost) when every
order the model sees carries ``cost`` (:func:`value_basis`); a margin can be zero or negative.

BG/NBD (Fader, Hardie and Lee 2005): while active, a customer buys as a Poisson process of rate
lambda ~ Gamma(r, alpha); after each repeat purchase the customer drops out with probability
p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie and Lee 2005b): spends per occasion are Gamma(p, nu)
with nu ~ Gamma(q, gamma), independent of the purchase process. Both are fitted on the log of
their parameters, so the estimates stay positive, by maximum a posteriori with a weak
Normal(0, 5) prior on each log-parameter (see :func:`_maximise`): in effect maximum likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import optimize, special

from analysis_utils.engine import exact_sum
from analysis_utils.errors import ConfigError

TIME_UNIT_DAYS = {"days": 1.0, "weeks": 7.0}
DAYS_PER_MONTH = 365.25 / 12
SUMMARY_COLUMNS = (
    "customer_id",
    "x",
    "t_x",
    "T",
    "mean_repeat_spend",
    "mean_spend",
    "first_purchase",
    "last_purchase",
)
VALUE_COLUMNS = (
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "clv_if_active",
    "p_no_purchase_horizon",
    "p_alive_low",
    "p_alive_high",
    "expected_purchases_low",
    "expected_purchases_high",
    "clv_low",
    "clv_high",
)
"""Columns of stage 05's ``future_value.parquet`` besides customer_id (methodology section 11);
the ``_low``/``_high`` bounds are missing when intervals are off (``clv.interval_draws: 0``)."""


# ---------------------------------------------------------------------------- customer summary


def value_basis(*tables: ir.Table | None) -> str:
    """ "margin" when every given order table has a ``cost`` column (stage 01 sums it per order when
    the client maps cost or margin), else "revenue"; None stands for no table."""
    present = [table for table in tables if table is not None]
    return "margin" if all("cost" in table.columns for table in present) else "revenue"


def purchase_occasions(orders: ir.Table, start: datetime | None, end: datetime) -> ir.Table:
    """One row per customer and purchase day in ``[start, end)`` (Ibis, backend-neutral).

    Columns ``customer_id``, ``day`` (date), ``spend`` (net amount of the day's orders, client
    currency, > 0), ``value`` (the day's margin, net amount minus net cost, when the orders carry
    ``cost``, else its net amount; may be <= 0) and ``first_day`` (the customer's first purchase
    day in the range). ``start`` None = all orders before ``end``.
    """
    in_range = orders.order_date < end
    if start is not None:
        in_range &= orders.order_date >= start
    dated = orders.filter(in_range).mutate(day=orders.order_date.date())
    value = dated.amount - dated.cost if "cost" in dated.columns else dated.amount
    days = dated.group_by(["customer_id", "day"]).aggregate(
        spend=exact_sum(dated.amount), value=exact_sum(value)
    )
    days = days.filter(days.spend > 0)
    return days.mutate(first_day=days.day.min().over(ibis.window(group_by="customer_id")))


def summarise(occasions: ir.Table, end: datetime, time_unit: str) -> pd.DataFrame:
    """The per-customer summary of the module docstring, sorted by ``customer_id``.

    ``end`` is the exclusive end of observation; times are in ``time_unit``.
    """
    unit_days = days_per_unit(time_unit)
    repeat_spend = ibis.ifelse(occasions.day == occasions.first_day, 0.0, occasions.value)
    per_customer = (
        occasions.group_by("customer_id")
        .aggregate(
            occasions=occasions.count(),
            repeat_spend=exact_sum(repeat_spend),
            total_spend=exact_sum(occasions.value),
            first_purchase=occasions.day.min(),
            last_purchase=occasions.day.max(),
        )
        .order_by("customer_id")
        .to_pandas()
    )
    first = pd.to_datetime(per_customer["first_purchase"])
    last = pd.to_datetime(per_customer["last_purchase"])
    x = per_customer["occasions"].astype("int64") - 1
    summary = pd.DataFrame(
        {
            "customer_id": per_customer["customer_id"].astype("str"),
            "x": x,
            "t_x": (last - first).dt.days / unit_days,
            "T": (pd.Timestamp(end.date()) - first).dt.days / unit_days,
            "mean_repeat_spend": (per_customer["repeat_spend"] / x).where(x > 0),
            "mean_spend": per_customer["total_spend"].astype("float64") / (x + 1),
            "first_purchase": first.astype("datetime64[s]"),
            "last_purchase": last.astype("datetime64[s]"),
        }
    )
    return summary.reset_index(drop=True)


def days_per_unit(time_unit: str) -> float:
    if time_unit not in TIME_UNIT_DAYS:
        raise ConfigError(f"clv.time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {time_unit!r}")
    return TIME_UNIT_DAYS[time_unit]


# ---------------------------------------------------------------------------- BG/NBD


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: purchase rate ~ Gamma(shape r, rate alpha [per time unit]); dropout
    probability after each repeat purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


def bgnbd_log_likelihood(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under BG/NBD (Fader et al. 2005, eq. 6).

    ln L = lnG(r+x) - lnG(r) + r ln(alpha) + lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x)
           + ln[(alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x)]
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype="float64")
    gamma_terms = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    still_active = -(r + x) * np.log(alpha + np.asarray(T, dtype="float64"))
    return gamma_terms + np.logaddexp(still_active, _log_dropped_after_last(params, x, t_x))


def _log_dropped_after_last(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray) -> np.ndarray:
    """ln[a/(b+x-1) (alpha+t_x)^-(r+x)] for x > 0; -inf for x = 0 (no dropout before a repeat)."""
    repeat = x > 0
    safe_gap = np.where(repeat, params.b + x - 1, 1.0)
    value = (
        np.log(params.a)
        - np.log(safe_gap)
        - (params.r + x) * np.log(params.alpha + np.asarray(t_x, dtype="float64"))
    )
    return np.where(repeat, value, -np.inf)


def p_alive(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still active at T | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    A customer without a repeat purchase has P(alive) = 1: in BG/NBD dropout only follows a
    repeat purchase.
    """
    x = np.asarray(x, dtype="float64")
    log_odds_dropped = _log_dropped_after_last(params, x, t_x) + (params.r + x) * np.log(
        params.alpha + np.asarray(T, dtype="float64")
    )
    return special.expit(-log_odds_dropped)


def expected_purchases(
    params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """Expected purchase occasions in (T, T + horizon] given (x, t_x, T) (Fader et al. 2005, eq. 10):
    :func:`expected_purchases_if_alive` x :func:`p_alive`."""
    return expected_purchases_if_alive(params, x, T, horizon) * p_alive(params, x, t_x, T)


def expected_purchases_if_alive(
    params: BGNBDParams, x: np.ndarray, T: np.ndarray, horizon: float | np.ndarray
) -> np.ndarray:
    """Expected purchase occasions in (T, T + horizon] of a customer known to be active at T:

    (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))],
    t = horizon (time units). Never negative: for a horizon near zero the bracket is a difference
    of two numbers near 1, whose rounding could give a tiny value of the wrong sign; the result is
    clipped at 0.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype="float64")
    T = np.asarray(T, dtype="float64")
    horizon = np.asarray(horizon, dtype="float64")
    ahead = alpha + T + horizon
    hypergeometric = special.hyp2f1(r + x, b + x, a + b + x - 1, horizon / ahead)
    bracket = 1 - np.exp((r + x) * np.log((alpha + T) / ahead)) * hypergeometric
    return np.maximum((a + b + x - 1) / (a - 1) * bracket, 0.0)


def expected_purchases_new(params: BGNBDParams, t: np.ndarray) -> np.ndarray:
    """Expected repeat purchases in (0, t] of a customer just acquired (Fader et al. 2005, eq. 7).

    E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype="float64")
    hypergeometric = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hypergeometric)


@dataclass(frozen=True)
class Fit:
    """Outcome of a maximum-likelihood fit: parameters, total log-likelihood, convergence."""

    params: Any
    log_likelihood: float
    converged: bool
    n_customers: int


def fit_bgnbd(summary: pd.DataFrame) -> Fit:
    """Maximum-likelihood BG/NBD parameters of a summary (columns x, t_x, T).

    Customers with the same (x, t_x, T) are grouped and weighted, and the Gamma-function terms,
    which depend on x only, are computed once per distinct x; the optimiser gets the analytic
    gradient (:func:`bgnbd_objective`).
    """
    grouped = summary.astype({"x": "float64", "t_x": "float64", "T": "float64"})
    triples = grouped.groupby(["x", "t_x", "T"], sort=True).size().reset_index(name="customers")
    x, t_x, T, counts = (triples[column].to_numpy(dtype="float64") for column in triples.columns)
    objective = bgnbd_objective(x, t_x, T, counts)
    start = np.log([1.0, max(float(np.average(T, weights=counts)), 1e-3), 1.0, 1.0])
    return _maximise(objective, start, BGNBDParams, int(counts.sum()))


def bgnbd_objective(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, counts: np.ndarray):
    """Mean negative BG/NBD log-likelihood of customers (x, t_x, T) weighted by ``counts``, and its
    gradient, as a function of the logarithms of (r, alpha, a, b).

    With w the share of the dropout term in the bracket of :func:`bgnbd_log_likelihood`
    (0 when x = 0), the derivatives of ln L are
    d/dr = psi(r+x) - psi(r) + ln(alpha) - (1-w) ln(alpha+T) - w ln(alpha+t_x),
    d/dalpha = r/alpha - (r+x) [(1-w)/(alpha+T) + w/(alpha+t_x)],
    d/da = psi(a+b) - psi(a+b+x) + w/a,
    d/db = psi(a+b) + psi(b+x) - psi(b) - psi(a+b+x) - w/(b+x-1).
    """
    values, index = np.unique(x, return_inverse=True)
    per_x = np.bincount(index, weights=counts)  # customers per distinct x
    total = counts.sum()
    repeat = x > 0
    safe_gap = np.where(repeat, x - 1, 0.0)

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        gamma_terms = (
            special.gammaln(r + values)
            - special.gammaln(r)
            + special.gammaln(a + b)
            + special.gammaln(b + values)
            - special.gammaln(b)
            - special.gammaln(a + b + values)
        )
        log_end, log_last = np.log(alpha + T), np.log(alpha + t_x)
        active = -(r + x) * log_end
        dropped = np.where(repeat, np.log(a) - np.log(b + safe_gap) - (r + x) * log_last, -np.inf)
        bracket = np.logaddexp(active, dropped)
        w = np.exp(dropped - bracket)
        value = per_x @ gamma_terms + total * r * np.log(alpha) + counts @ bracket
        d_r = per_x @ (special.digamma(r + values) - special.digamma(r)) + total * np.log(alpha)
        d_r -= counts @ ((1 - w) * log_end + w * log_last)
        d_alpha = total * r / alpha - counts @ ((r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x)))
        d_a = per_x @ (special.digamma(a + b) - special.digamma(a + b + values)) + counts @ w / a
        d_b = per_x @ (
            special.digamma(a + b)
            + special.digamma(b + values)
            - special.digamma(b)
            - special.digamma(a + b + values)
        ) - counts @ (w / (b + safe_gap))
        gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -value / total, -gradient / total

    return objective


# ---------------------------------------------------------------------------- Gamma-Gamma


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend per occasion ~ Gamma(shape p, rate nu), nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per occasion over all customers, p gamma / (q - 1) (infinite when q <= 1)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else np.inf


def gamma_gamma_log_likelihood(params: GammaGammaParams, x: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """Log density of each repeat buyer's mean spend m over x occasions:

    ln f = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + (px-1) ln m + px ln x - (px+q) ln(gamma + m x)
    """
    p, q, gamma = params.p, params.q, params.gamma
    x = np.asarray(x, dtype="float64")
    m = np.asarray(mean_spend, dtype="float64")
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + m * x)
    )


def expected_spend(params: GammaGammaParams, x: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """Expected spend per future occasion: p (gamma + x m) / (p x + q - 1); customers without a
    repeat purchase (x = 0, m missing) get the population mean p gamma / (q - 1)."""
    x = np.asarray(x, dtype="float64")
    m = np.nan_to_num(np.asarray(mean_spend, dtype="float64"), nan=0.0)
    return params.p * (params.gamma + x * m) / (params.p * x + params.q - 1)


def fit_gamma_gamma(summary: pd.DataFrame) -> Fit:
    """Maximum-likelihood Gamma-Gamma parameters on the repeat buyers (x > 0, positive spend),
    with the analytic gradient (:func:`gamma_gamma_objective`)."""
    repeat = summary[(summary["x"] > 0) & (summary["mean_repeat_spend"] > 0)]
    x = repeat["x"].to_numpy(dtype="float64")
    m = repeat["mean_repeat_spend"].to_numpy(dtype="float64")
    start = np.log([1.0, 2.0, max(float(np.mean(m)), 1e-3)])
    return _maximise(gamma_gamma_objective(x, m), start, GammaGammaParams, len(repeat))


def gamma_gamma_objective(x: np.ndarray, mean_spend: np.ndarray):
    """Mean negative Gamma-Gamma log-likelihood of repeat buyers and its gradient, as a function of
    the logarithms of (p, q, gamma). Derivatives of ln f:
    d/dp = x [psi(px+q) - psi(px) + ln m + ln x - ln(gamma + m x)],
    d/dq = psi(px+q) - psi(q) + ln(gamma) - ln(gamma + m x),
    d/dgamma = q/gamma - (px+q)/(gamma + m x).
    """
    values, index = np.unique(x, return_inverse=True)
    per_x = np.bincount(index, minlength=len(values)).astype("float64")
    spend_per_x = np.bincount(index, weights=x * np.log(mean_spend * x))  # sum of x ln(m x) per x
    log_spend_total = float(np.log(mean_spend).sum())
    total = len(x)

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = np.exp(log_params)
        log_rest = np.log(gamma + mean_spend * x)
        shape = p * values + q
        value = (
            per_x @ (special.gammaln(shape) - special.gammaln(p * values))
            - total * special.gammaln(q)
            + total * q * np.log(gamma)
            + p * spend_per_x.sum()
            - log_spend_total
            - (p * x + q) @ log_rest
        )
        d_p = per_x @ (values * (special.digamma(shape) - special.digamma(p * values))) + spend_per_x.sum()
        d_p -= x @ log_rest
        d_q = (
            per_x @ special.digamma(shape)
            - total * special.digamma(q)
            + total * np.log(gamma)
            - log_rest.sum()
        )
        d_gamma = total * q / gamma - ((p * x + q) / (gamma + mean_spend * x)).sum()
        gradient = np.array([d_p * p, d_q * q, d_gamma * gamma])
        return -value / total, -gradient / total

    return objective


LOG_PRIOR_SD = 5.0
"""Standard deviation of the weak Normal(0, sd) prior on the logarithm of every model parameter."""


def _maximise(objective, start: np.ndarray, make, n_customers: int) -> Fit:
    """Maximum a posteriori parameters: minimise the mean negative log-likelihood (``objective``
    returns value and gradient, over log-parameters) plus the weak prior of :data:`LOG_PRIOR_SD`
    divided by the number of customers.

    The prior (log theta ~ Normal(0, 5): theta within a factor e^10 of 1 with 95% probability)
    changes nothing where the data identify the parameters; it keeps them finite where the
    likelihood keeps rising towards a limit, as when every customer has about the same dropout
    probability and a, b grow without bound along a/(a+b). L-BFGS-B, then Nelder-Mead from its end
    point when L-BFGS-B reports no convergence. Converged = the optimiser says so and no parameter
    sits at a bound (e^+-20). ``log_likelihood`` excludes the prior.
    """
    if n_customers == 0:
        return Fit(make(*np.full(len(start), np.nan)), float("nan"), False, 0)
    weight = 1 / (LOG_PRIOR_SD**2 * n_customers)

    def posterior(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = objective(log_params)
        return value + weight * (log_params @ log_params) / 2, gradient + weight * log_params

    with np.errstate(all="ignore"):
        bounds = [(-20.0, 20.0)] * len(start)
        result = optimize.minimize(posterior, start, jac=True, method="L-BFGS-B", bounds=bounds)
        if not result.success:
            result = optimize.minimize(
                lambda log_params: posterior(log_params)[0],
                result.x,
                method="Nelder-Mead",
                options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-10},
            )
    converged = bool(result.success) and bool(np.all(np.abs(result.x) < 20))
    log_likelihood = -float(objective(result.x)[0]) * n_customers
    return Fit(make(*np.exp(result.x)), log_likelihood, converged, n_customers)


# ---------------------------------------------------------------------------- spend check


def spend_frequency_correlation(summary: pd.DataFrame) -> float:
    """Pearson correlation of x and mean repeat spend over repeat buyers: Gamma-Gamma assumes
    spend per occasion independent of purchase frequency, so it should be near 0."""
    repeat = summary[summary["x"] > 0]
    if len(repeat) < 3 or repeat["x"].nunique() < 2:
        return float("nan")
    return float(np.corrcoef(repeat["x"], repeat["mean_repeat_spend"])[0, 1])


# ---------------------------------------------------------------------------- simulation


def simulate_bgnbd(params: BGNBDParams, T: np.ndarray, seed: int, holdout: float = 0.0) -> pd.DataFrame:
    """Draw (x, t_x, T) for customers observed for ``T`` time units after their first purchase,
    and ``holdout_purchases``, their purchases in the ``holdout`` time units after ``T``.

    Each customer draws lambda ~ Gamma(r, 1/alpha) and p ~ Beta(a, b), then repeat purchases
    with exponential gaps until ``T + holdout`` or, after a purchase, a dropout with
    probability p. Vectorised over customers; loops over purchase number only.
    """
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype="float64")
    rate = rng.gamma(params.r, 1 / params.alpha, len(T))
    dropout = rng.beta(params.a, params.b, len(T))
    clock = np.zeros(len(T))
    x = np.zeros(len(T), dtype="int64")
    t_x = np.zeros(len(T))
    later = np.zeros(len(T), dtype="int64")
    last = np.full(len(T), np.nan)
    active = np.arange(len(T))
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
    return simulated_summary(x, t_x, T, later, last)


def simulated_summary(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, later: np.ndarray, last: np.ndarray
) -> pd.DataFrame:
    """A simulator's output: the summary (x, t_x, T), ``holdout_purchases`` (purchases in the
    holdout) and ``holdout_last`` (time of the last of them since the first purchase, NaN when none)."""
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T, "holdout_purchases": later, "holdout_last": last})


def simulate_gamma_gamma(params: GammaGammaParams, x: np.ndarray, seed: int) -> np.ndarray:
    """Mean spend over ``x`` occasions (x > 0) for each customer: nu ~ Gamma(q, 1/gamma), the sum
    of x spends ~ Gamma(p x, 1/nu)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype="float64")
    nu = rng.gamma(params.q, 1 / params.gamma, len(x))
    return rng.gamma(params.p * x, 1 / nu) / x
