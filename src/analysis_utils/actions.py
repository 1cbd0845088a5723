"""The first page's three prioritised actions, generated from the period's numbers.

Three kinds of action compete; each names a group of customers, its size, its revenue in the
period and the money at stake (client currency), and carries the playbook's campaign for it, so
that the action matches the segment's advice everywhere else in the report:

win back
    the valuable segment holding most of the revenue of high-risk customers (the run's churn
    rule). Money at stake: what those high-risk customers spent in the period.
protect
    the segment bringing the most revenue, less its high-risk customers (who are in the win-back
    action). Money at stake: their revenue in the period.
second order
    customers with one order in the period who are not at high risk. Money at stake: one more
    order from each at their own average order value. The campaign is the playbook's for New
    customers (the onboarding that asks for a second order), whatever segment each is in.

The three are ordered by money at stake. Definitions: docs/methodology.md, section 10.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

SECOND_ORDER_SEGMENT = "New"


@dataclass(frozen=True)
class Action:
    """One prioritised action."""

    kind: str  # win_back | protect | second_order
    group: str  # the segment (or "One-time buyers")
    customers: int
    revenue: float  # their revenue in the period (currency)
    at_stake: float  # currency
    what: str  # the recommended campaign, from the playbook


def prioritised(scored: pd.DataFrame, playbook: pd.DataFrame, valuable_segments: list[str]) -> list[Action]:
    """Up to three actions, the largest money at stake first.

    ``scored``: the period's scored customers with ``segment``, ``monetary``, ``frequency``,
    ``aov`` and ``churn_risk``; ``playbook``: segments.Playbook.table() (index = segment).
    """
    high = scored["churn_risk"] == "high"
    actions = [
        _leading_segment(kind, customers, playbook)
        for kind, customers in (
            ("win_back", scored[high & scored["segment"].isin(valuable_segments)]),
            ("protect", scored[~high]),
        )
        if len(customers)
    ]
    once = scored[(scored["frequency"] == 1) & ~high]
    if len(once):
        main = (
            SECOND_ORDER_SEGMENT
            if SECOND_ORDER_SEGMENT in playbook.index
            else once["segment"].value_counts().index[0]
        )
        actions.append(
            Action(
                "second_order",
                "One-time buyers",
                len(once),
                float(once["monetary"].sum()),
                float(once["aov"].sum()),
                _campaign(playbook, main),
            )
        )
    return sorted(actions, key=lambda a: -a.at_stake)[:3]


def _leading_segment(kind: str, customers: pd.DataFrame, playbook: pd.DataFrame) -> Action:
    """The action of ``kind`` for the segment with the most revenue among ``customers``."""
    by_segment = customers.groupby("segment")["monetary"].agg(["size", "sum"])
    name = by_segment.sort_values(["sum"], ascending=False).index[0]
    size, revenue = int(by_segment.loc[name, "size"]), float(by_segment.loc[name, "sum"])
    return Action(kind, name, size, revenue, revenue, _campaign(playbook, name))


def _campaign(playbook: pd.DataFrame, segment: str) -> str:
    return str(playbook.loc[segment, "campaign"]) if segment in playbook.index else ""


def action_markdown(actions: list[Action], total_revenue: float, currency: str) -> str:
    """The actions as a numbered Markdown list a director acts on."""
    lines = []
    for number, action in enumerate(actions, start=1):
        share = action.revenue / total_revenue if total_revenue else 0.0
        if action.kind == "win_back":
            head = (
                f"**Win back {action.customers:,} {action.group} customers at high risk.** They spent "
                f"{action.revenue:,.0f} {currency} in the period ({share:.0%} of revenue), all at "
                "stake if they go."
            )
        elif action.kind == "protect":
            head = (
                f"**Keep and grow {action.group}: {action.customers:,} customers** who brought "
                f"{action.revenue:,.0f} {currency} ({share:.0%} of revenue) and are not at high risk."
            )
        else:
            head = (
                f"**Turn {action.customers:,} one-time buyers into repeat customers.** One more "
                "order from each, "
                f"at their own average order value, is worth {action.at_stake:,.0f} {currency}."
            )
        lines.append(f"{number}. {head}" + (f" What to do: {action.what}" if action.what else ""))
    return "\n".join(lines) if lines else "No customer group stands out for action in this period."
