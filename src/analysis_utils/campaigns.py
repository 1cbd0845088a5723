"""Campaign response: who was targeted and who responded, by segment and tier, with Wilson intervals.

A contact is one customer targeted by one campaign (``sources.SourceTables.contacts``); the unified
customer table counts them per customer (:func:`customer_response`). The response rate of a group
is its responding contacts over its contacts; the Wilson score interval gives its
uncertainty, and the lift compares it with the overall rate. Definitions: docs/methodology.md,
section 12.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def customer_response(contacts: pd.DataFrame) -> pd.DataFrame:
    """Per customer: ``campaigns_targeted`` and ``campaigns_responded`` (distinct campaigns)."""
    grouped = contacts.groupby("customer_id", sort=True)
    return (
        grouped.agg(campaigns_targeted=("campaign_id", "nunique"), campaigns_responded=("responded", "sum"))
        .reset_index()
        .astype({"campaigns_targeted": "int64", "campaigns_responded": "int64"})
    )


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, at ``confidence`` (two-sided, e.g. 0.95).

    With z the normal quantile, p = successes / trials and n = trials:
    centre = (p + z^2 / 2n) / (1 + z^2 / n), half-width = z sqrt(p(1 - p)/n + z^2 / 4n^2) / (1 + z^2 / n).
    NaN for n = 0.
    """
    z = stats.norm.ppf(0.5 + confidence / 2)
    n = np.asarray(trials, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(successes, dtype="float64") / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)  # clip rounding at p = 0 or 1


def response_by(customers: pd.DataFrame, group: str, confidence: float) -> pd.DataFrame:
    """Response rate of each value of ``group``, from the customers' campaign counts.

    ``customers`` has ``group``, ``campaigns_targeted`` (contacts) and ``campaigns_responded``
    (responding contacts), as in the unified customer table. Columns: ``group``, ``contacts``,
    ``responses``, ``response_rate``, ``ci_low``, ``ci_high`` (Wilson, at ``confidence``), ``lift``
    = rate / overall rate, and ``advice``: ``target`` when the interval lies above the overall
    rate, ``deprioritise`` when below, ``as the base`` otherwise. Groups without contacts are left out.
    """
    table = customers.groupby(group, observed=True).agg(
        contacts=("campaigns_targeted", "sum"), responses=("campaigns_responded", "sum")
    )
    table = table[table["contacts"] > 0]
    low, high = wilson_interval(table["responses"].to_numpy(), table["contacts"].to_numpy(), confidence)
    table = table.assign(response_rate=table["responses"] / table["contacts"], ci_low=low, ci_high=high)
    overall = overall_rate(customers)
    table["lift"] = table["response_rate"] / overall
    table["advice"] = np.select(
        [table["ci_low"] > overall, table["ci_high"] < overall], ["target", "deprioritise"], "as the base"
    )
    return table.reset_index().rename(columns={group: "group"})


def overall_rate(customers: pd.DataFrame) -> float:
    """Responding contacts / contacts over every customer given (NaN without contacts)."""
    contacts = customers["campaigns_targeted"].sum()
    return float(customers["campaigns_responded"].sum() / contacts) if contacts else float("nan")


def response_sentence(by_group: pd.DataFrame, overall: float) -> str:
    """Markdown generated from :func:`response_by`: the overall rate and whom to target next time."""
    target = by_group.loc[by_group["advice"] == "target"].sort_values("lift", ascending=False)
    fewer = by_group.loc[by_group["advice"] == "deprioritise"].sort_values("lift")
    text = f"Overall, {overall:.1%} of contacts responded."
    if not target.empty:
        names = ", ".join(
            f"{g} ({lift:.1f}x)" for g, lift in zip(target["group"], target["lift"], strict=True)
        )
        text += f" **Target next time:** {names}."
    if not fewer.empty:
        text += f" **Contact less:** {', '.join(fewer['group'].astype(str))}."
    return text
