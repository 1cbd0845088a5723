"""Campaign response: who was targeted and who responded, by segment and tier, with Wilson intervals.

A contact is one customer targeted by one campaign (``sources.SourceTables.contacts``); the unified
customer table counts them per customer (:func:`customer_response`). The response rate of a group
is its responding contacts over its contacts; the Wilson score interval gives its
uncertainty, and the lift compares it with the overall rate. The advice weighs response against
value (:func:`advise`): a valuable segment that answers badly gets another offer or channel, never
fewer contacts; only a low-value one is contacted less. Definitions: docs/methodology.md, section 12.5.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from scipy import stats

ABOVE, BELOW, AVERAGE = "clearly above the average", "clearly below the average", "as the average"
"""How a group's response compares with the overall rate (its whole likely range above, below, or neither)."""
TARGET, CHANGE_OFFER, CONTACT_LESS, NO_CHANGE = (
    "target next time",
    "change the offer or channel",
    "contact less",
    "keep the recommended campaign",
)
"""What to do with a group next time (:func:`advise`)."""


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
    = rate / overall rate, and ``compared``: :data:`ABOVE` when the interval lies above the overall
    rate, :data:`BELOW` when below, :data:`AVERAGE` otherwise. Groups without contacts are left out.
    What to do with each group is :func:`advise`'s answer, which also weighs the group's value.
    """
    table = customers.groupby(group, observed=True).agg(
        contacts=("campaigns_targeted", "sum"), responses=("campaigns_responded", "sum")
    )
    table = table[table["contacts"] > 0]
    low, high = wilson_interval(table["responses"].to_numpy(), table["contacts"].to_numpy(), confidence)
    table = table.assign(response_rate=table["responses"] / table["contacts"], ci_low=low, ci_high=high)
    overall = overall_rate(customers)
    table["lift"] = table["response_rate"] / overall
    table["compared"] = np.select(
        [table["ci_low"] > overall, table["ci_high"] < overall], [ABOVE, BELOW], AVERAGE
    )
    return table.reset_index().rename(columns={group: "group"})


def advise(by_group: pd.DataFrame, valuable: Collection[str] | None) -> pd.DataFrame:
    """:func:`response_by` with ``valuable`` (bool) and ``advice``, reconciling response with value.

    ``valuable`` names the valuable groups (the report passes ``clv.valuable_segments``, the list that
    also defines value at risk). Advice: :data:`TARGET` when the response is clearly above the
    overall rate; :data:`CHANGE_OFFER` when clearly below and the group is valuable (a valuable group
    is never advised to be contacted less: its recommended campaign stays, its offer or channel
    changes); :data:`CONTACT_LESS` only when clearly below and the group is not valuable;
    :data:`NO_CHANGE` otherwise. ``valuable=None`` means the value is unknown: every group counts as
    valuable, so none is advised to be contacted less.
    """
    names = by_group["group"].astype(str)
    is_valuable = pd.Series(True, index=by_group.index) if valuable is None else names.isin(list(valuable))
    advice = np.select(
        [
            by_group["compared"] == ABOVE,
            (by_group["compared"] == BELOW) & is_valuable,
            by_group["compared"] == BELOW,
        ],
        [TARGET, CHANGE_OFFER, CONTACT_LESS],
        NO_CHANGE,
    )
    return by_group.assign(valuable=is_valuable.to_numpy(), advice=advice)


def overall_rate(customers: pd.DataFrame) -> float:
    """Responding contacts / contacts over every customer given (NaN without contacts)."""
    contacts = customers["campaigns_targeted"].sum()
    return float(customers["campaigns_responded"].sum() / contacts) if contacts else float("nan")


def response_sentence(by_group: pd.DataFrame, overall: float, valuable: Collection[str] | None = None) -> str:
    """Markdown generated from :func:`response_by`: the overall rate and what to do next time.

    The advice is :func:`advise`'s with ``valuable``: whom to target, which valuable groups need
    another offer or channel (never fewer contacts), and which low-value groups to contact less,
    each with the reason in plain words. Without ``valuable`` no group is advised to be contacted less.
    """
    advised = advise(by_group, valuable)
    text = f"Overall, {overall:.1%} of contacts responded."
    target = advised.loc[advised["advice"] == TARGET].sort_values(["lift", "group"], ascending=[False, True])
    if not target.empty:
        names = [
            f"{g} ({lift:.1f}x the average rate)"
            for g, lift in zip(target["group"], target["lift"], strict=True)
        ]
        text += f" **Target next time:** {_join(names)}: they answered clearly more often than average."
    change = _below(advised, CHANGE_OFFER)
    if change:
        if valuable is None:
            why = "they answered clearly less often than average"
        else:
            why = "valuable customers who answered clearly less often than average"
        text += (
            f" **Change the offer or channel:** {change}: {why}. Do not contact them less: keep the "
            "campaign recommended for their segment and try another offer or channel."
        )
    fewer = _below(advised, CONTACT_LESS)
    if fewer:
        text += (
            f" **Contact less:** {fewer}: they answered clearly less often than average and are not "
            "among the valuable segments, so fewer contacts save budget at little risk."
        )
    return text


def _below(advised: pd.DataFrame, advice: str) -> str:
    """The groups given ``advice``, lowest rate first, each with its rate: "Lost (1.2%), ..."."""
    rows = advised.loc[advised["advice"] == advice].sort_values(["response_rate", "group"])
    return _join([f"{g} ({rate:.1%})" for g, rate in zip(rows["group"], rows["response_rate"], strict=True)])


def _join(items: list[str]) -> str:
    """ "", "a", "a and b", "a, b and c"."""
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def client_table(by_group: pd.DataFrame, group: str = "segment") -> pd.DataFrame:
    """:func:`response_by` (or :func:`advise`) with the columns of the client page, for
    ``executive.labelled``: ``group`` (named after the grouping), contacts, responses, response
    rate, ``likely_range`` in words ("24.4% to 34.0%"), ``times_average`` (the lift), ``compared``
    and, when advised, ``advice``."""
    likely = [
        f"{low:.1%} to {high:.1%}" for low, high in zip(by_group["ci_low"], by_group["ci_high"], strict=True)
    ]
    table = by_group.assign(likely_range=likely, times_average=by_group["lift"]).rename(
        columns={"group": group}
    )
    columns = [group, "contacts", "responses", "response_rate", "likely_range", "times_average", "compared"]
    return table[columns + (["advice"] if "advice" in table.columns else [])]
