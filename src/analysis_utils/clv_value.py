"""Stage 05's per-customer values under the chosen purchase model and Gamma-Gamma, and their 80%
intervals by a parametric bootstrap of the fits (methodology sections 11.2 and 11.8).

Values (``future_value.parquet``, :data:`analysis_utils.clv.VALUE_COLUMNS`) are per customer of
the summary; money is in the client's currency, on the value basis of the orders (net amount, or
margin when cost is mapped: :func:`analysis_utils.clv.value_basis`); horizons in months of
365.25 / 12 days.

**Intervals.** The fitted log-parameters are approximately Normal around the estimate with the
inverse of the Hessian of the total negative log-posterior as covariance (the asymptotic normal of
maximum likelihood). ``clv.interval_draws`` parameter vectors are drawn from it (seed
``clv.interval_seed``), for the purchase model and, when used, for Gamma-Gamma, each customer is
valued under every draw, and the 10th and 90th percentiles across draws bound the 80% interval
(a draw under which a value cannot be computed, far in the tails, is left out of that value's).
Totals over a group (a segment) are summed per draw before taking the percentiles. The intervals
carry the uncertainty of the parameters, not that of a customer's own future purchases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis_utils import clv
from analysis_utils.clv_models import PurchaseModel, grouped_summary

LEVEL = 0.8
"""Coverage of the intervals: the 10th to the 90th percentile of the draws."""
INTERVAL_OF = ("p_alive", "expected_purchases", "clv")
"""The values given an interval (columns ``<name>_low``, ``<name>_high``)."""
CHUNK = 50_000
"""Customers valued together under every draw (bounds memory to draws x CHUNK per value)."""
HESSIAN_STEP = 1e-4
"""Step on the log-parameters of the central differences of the gradient giving the Hessian."""


# ---------------------------------------------------------------------------- point values


def value_per_purchase(
    spend_params: clv.GammaGammaParams, summary: pd.DataFrame, spend_model: bool
) -> np.ndarray:
    """Expected value of each future purchase (currency): Gamma-Gamma's p (gamma + x m)/(p x + q - 1)
    with ``spend_model``, else the customer's own mean value ``mean_spend``. A customer whose own
    mean value (of the repeat purchases under Gamma-Gamma, of all purchases otherwise) is zero or
    negative (margin eaten by cost, or by returns) is valued at 0 per purchase; Gamma-Gamma is
    fitted without them (clv.fit_gamma_gamma keeps positive means only)."""
    x = summary["x"].to_numpy(dtype="float64")
    if spend_model:
        own = summary["mean_repeat_spend"].to_numpy(dtype="float64")
        spend = clv.expected_spend(spend_params, x, own)
    else:
        own = spend = summary["mean_spend"].to_numpy(dtype="float64")
    return np.where(own <= 0, 0.0, spend)  # NaN (no repeat purchase) keeps Gamma-Gamma's mean


def customer_values(
    model: PurchaseModel,
    params: Any,
    spend_params: clv.GammaGammaParams,
    summary: pd.DataFrame,
    settings: Mapping[str, Any],
    spend_model: bool = True,
    no_purchase: bool = True,
) -> pd.DataFrame:
    """P(alive), expected purchases and value per purchase, discounted CLV and P(no purchase over
    the horizon) of each customer of ``summary`` under ``model`` with ``params`` (``no_purchase``
    False leaves the last out, as the intervals do not need it).

    ``settings``: the clv parameters (``horizon_months`` H, ``annual_discount_rate`` d,
    ``time_unit``). CLV = value per purchase (:func:`value_per_purchase`) x sum over months
    k = 1..H of (E[Y(k months)] - E[Y(k-1 months)]) x (1 + d)^(-k/12), discounted to the end of
    observation. ``expected_purchases`` is E[Y(H months)], undiscounted; ``clv_if_active`` the
    same value for a customer known to be active (clv = clv_if_active x p_alive);
    ``p_no_purchase_horizon`` the probability of no purchase in the H months.
    """
    x, t_x, T = (summary[column].to_numpy(dtype="float64") for column in ("x", "t_x", "T"))
    months = np.arange(settings["horizon_months"] + 1)
    horizons = months * clv.DAYS_PER_MONTH / clv.TIME_UNIT_DAYS[settings["time_unit"]]
    # the if-alive expectations depend on (x, T) only: computed once per distinct pair
    pairs = pd.DataFrame({"x": x, "T": T})
    pair_of_customer = pairs.groupby(["x", "T"], sort=True).ngroup().to_numpy()
    distinct = pairs.drop_duplicates().sort_values(["x", "T"]).to_numpy()
    if_alive = model.expected_purchases_if_alive(
        params, distinct[:, [0]], distinct[:, [1]], horizons[None, :]
    )
    if_alive = if_alive[pair_of_customer]
    discount = (1 + settings["annual_discount_rate"]) ** (-months[1:] / 12)
    spend = value_per_purchase(spend_params, summary, spend_model)
    alive = model.p_alive(params, x, t_x, T)
    value_if_active = spend * (np.diff(if_alive, axis=1) * discount).sum(axis=1)  # no BLAS: see group_sums
    values = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "p_alive": alive,
            "expected_purchases": if_alive[:, -1] * alive,
            "expected_spend": spend,
            "clv": value_if_active * alive,
            "clv_if_active": value_if_active,
        }
    )
    if no_purchase:
        values["p_no_purchase_horizon"] = model.p_no_purchase(params, x, t_x, T, horizons[-1])
    return values


# ---------------------------------------------------------------------------- parameter draws


@dataclass(frozen=True)
class ParameterDraws:
    """Parameter vectors drawn from the fits' asymptotic normal (one row per draw); ``spend`` is
    None when Gamma-Gamma is not used (each purchase then valued at the customer's own mean)."""

    purchase: np.ndarray
    spend: np.ndarray | None
    seed: int

    def __len__(self) -> int:
        return len(self.purchase)


def hessian(objective, log_params: np.ndarray, n_customers: int) -> np.ndarray:
    """Hessian of the *total* negative log-posterior over the log-parameters at ``log_params``:
    central differences of the gradient that ``objective`` (mean negative log-likelihood and its
    gradient, clv._maximise's convention) returns, times ``n_customers``, plus the prior's 1/sd^2."""
    size = len(log_params)
    columns = []
    for i in range(size):  # one column per parameter (4 at most)
        step = np.zeros(size)
        step[i] = HESSIAN_STEP
        with np.errstate(all="ignore"):
            columns.append(
                (objective(log_params + step)[1] - objective(log_params - step)[1]) / (2 * HESSIAN_STEP)
            )
    mean = np.column_stack(columns)
    return n_customers * (mean + mean.T) / 2 + np.eye(size) / clv.LOG_PRIOR_SD**2


def _draw(objective, fit: clv.Fit, draws: int, rng: np.random.Generator) -> np.ndarray:
    log_params = np.log(np.array(list(vars(fit.params).values()), dtype="float64"))
    covariance = np.linalg.pinv(hessian(objective, log_params, fit.n_customers))
    return np.exp(rng.multivariate_normal(log_params, covariance, size=draws, method="eigh"))


def parameter_draws(
    model: PurchaseModel,
    purchase: clv.Fit,
    spend: clv.Fit | None,
    summary: pd.DataFrame,
    draws: int,
    seed: int,
) -> ParameterDraws:
    """``draws`` parameter vectors of the purchase model (fitted as ``purchase`` on ``summary``) and,
    unless ``spend`` is None, of Gamma-Gamma, from their asymptotic normals (module docstring)."""
    rng = np.random.default_rng(seed)
    purchase_draws = _draw(model.objective(*grouped_summary(summary)), purchase, draws, rng)
    spend_draws = None
    if spend is not None:
        repeat = summary[(summary["x"] > 0) & (summary["mean_repeat_spend"] > 0)]
        objective = clv.gamma_gamma_objective(
            repeat["x"].to_numpy(dtype="float64"), repeat["mean_repeat_spend"].to_numpy(dtype="float64")
        )
        spend_draws = _draw(objective, spend, draws, rng)
    return ParameterDraws(purchase_draws, spend_draws, seed)


# ---------------------------------------------------------------------------- intervals


def group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums of ``values`` (any leading axes, customers last) per group of customers (``codes``: each
    customer's group number, 0 .. ``n_groups`` - 1); groups last.

    Summed by numpy's own reduction over each group's customers, not by a matrix product: BLAS
    splits a product among its threads, and the order of the additions (so the last bits of each
    sum) would then depend on how many threads the process has, which ``--jobs`` changes."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.array([], int)
    sums = np.zeros((*values.shape[:-1], n_groups))
    if len(starts):
        sums[..., ordered[starts]] = np.add.reduceat(values[..., order], starts, axis=-1)
    return sums


def percentiles(draws: np.ndarray, levels: list[float]) -> list[np.ndarray]:
    """The ``levels`` quantiles (0-1) of ``draws`` over its axis 1, NaN left out, interpolated
    linearly between order statistics as np.quantile does; vectorised (np.nanquantile loops over
    the other axes). All NaN: NaN."""
    ordered = np.sort(draws, axis=1)  # NaN last
    valid = (~np.isnan(ordered)).sum(axis=1, keepdims=True)
    result = []
    for level in levels:
        position = level * np.maximum(valid - 1, 0)
        lower = np.floor(position).astype("int64")
        upper = np.minimum(lower + 1, np.maximum(valid - 1, 0))
        below = np.take_along_axis(ordered, lower, axis=1)
        above = np.take_along_axis(ordered, upper, axis=1)
        result.append((below + (position - lower) * (above - below)).squeeze(axis=1))
    return result


def value_intervals(
    model: PurchaseModel,
    draws: ParameterDraws,
    spend_params: clv.GammaGammaParams,
    summary: pd.DataFrame,
    settings: Mapping[str, Any],
    groups: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Per customer of ``summary``: the bounds ``<value>_low`` and ``<value>_high`` of the 80%
    interval of every value of :data:`INTERVAL_OF`; and, with ``groups`` (a label per customer of
    ``summary``, same order), per group: customers and the 80% interval of total expected purchases
    and total CLV (each draw's total, then percentiles). ``spend_params`` values purchases when
    ``draws.spend`` is None (the customer's own mean, as in the point values).

    Customers are valued a chunk (:data:`CHUNK`) at a time, under every draw: a loop over chunks
    and draws, each step vectorised over the chunk's customers."""
    n, quantiles = len(summary), [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    bounds = {f"{name}_{side}": np.empty(n) for name in INTERVAL_OF for side in ("low", "high")}
    codes, labels = pd.factorize(groups) if groups is not None else (np.zeros(n, dtype="int64"), [None])
    totals = np.zeros((2, len(draws), len(labels)))  # expected purchases, clv
    positions = np.argsort(summary["x"].to_numpy() * 1e6 + summary["T"].to_numpy(), kind="stable")
    for part in np.array_split(positions, max(1, -(-n // CHUNK))):
        piece = summary.iloc[part]
        stacked = np.empty((len(INTERVAL_OF), len(draws), len(part)))
        for b in range(len(draws)):
            spend = spend_params if draws.spend is None else clv.GammaGammaParams(*draws.spend[b])
            values = customer_values(
                model, model.make(*draws.purchase[b]), spend, piece, settings, draws.spend is not None, False
            )
            stacked[:, b] = values[list(INTERVAL_OF)].to_numpy().T
        low, high = percentiles(stacked, quantiles)
        for k, name in enumerate(INTERVAL_OF):
            bounds[f"{name}_low"][part], bounds[f"{name}_high"][part] = low[k], high[k]
        totals += group_sums(np.nan_to_num(stacked[1:]), codes[part], len(labels))
    per_customer = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(), **bounds})
    if groups is None:
        return per_customer, None
    low, high = percentiles(totals, quantiles)
    by_group = pd.DataFrame(
        {
            "group": labels,
            "customers": np.bincount(codes, minlength=len(labels)),
            "expected_purchases_low": low[0],
            "expected_purchases_high": high[0],
            "clv_low": low[1],
            "clv_high": high[1],
        }
    )
    return per_customer, by_group
