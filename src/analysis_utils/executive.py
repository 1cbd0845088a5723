"""The client report (notebook 09): the five headline numbers, the previous period, and sentences
generated from the numbers they describe, so that no claim in the report can go stale.

Definitions: docs/methodology.md, section 10.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from analysis_utils import clustering, kpi, privacy, rfm, rfm_views
from analysis_utils.comparison import PeriodTables
from analysis_utils.config import RunParams

# name -> (label, kind); kind decides formatting and how a change is expressed.
HEADLINES: dict[str, tuple[str, str]] = {
    "customers": ("Customers", "count"),
    "revenue": ("Revenue", "money"),
    "top_revenue_share": ("Revenue from the top customers", "share"),
    "churn_rate": ("Churn rate", "share"),
    "revenue_at_risk": ("Revenue at risk", "money"),
}


# Column -> (heading the client reads, format); {currency} is filled in by labelled().
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "segment": ("Segment", "{}"),
    "cluster_name": ("Cluster", "{}"),
    "quadrant": ("Quadrant", "{}"),
    "customer": ("Customer (pseudonym)", "{}"),
    "customers": ("Customers", "{:,}"),
    "share_customers": ("Share of customers", "{:.1%}"),
    "share_revenue": ("Share of revenue", "{:.1%}"),
    "mean_monetary": ("Spend per customer ({currency})", "{:,.0f}"),
    "median_recency_days": ("Typical days since last order", "{:,.0f}"),
    "median_frequency": ("Typical orders", "{:g}"),
    "median_monetary": ("Typical spend ({currency})", "{:,.0f}"),
    "median_aov": ("Typical order value ({currency})", "{:,.2f}"),
    "spend_in_period": ("Spend in the period ({currency})", "{:,.2f}"),
    "days_since_last_order": ("Days since last order", "{:,.0f}"),
    "usual_gap_days": ("Usual days between orders", "{:,.0f}"),
    "p_alive": ("Chance still active", "{:.0%}"),
    "expected_purchases": ("Expected purchases", "{:,.1f}"),
    "clv": ("Expected value ({currency})", "{:,.2f}"),
    "clv_low": ("Expected value, low end of the 80% interval ({currency})", "{:,.0f}"),
    "clv_high": ("Expected value, high end of the 80% interval ({currency})", "{:,.0f}"),
    "mean_p_alive": ("Mean chance still active", "{:.0%}"),
    "p_no_purchase": ("Chance of no purchase ahead", "{:.0%}"),
    "mean_clv": ("Expected value per customer ({currency})", "{:,.0f}"),
    "offer": ("Offer", "{}"),
    "campaign": ("Campaign", "{}"),
    # campaign response (campaigns.client_table) and cross-sell (basket.client_table)
    "tier": ("Tier", "{}"),
    "rank": ("Rank", "{:,}"),
    "points_total": ("Points", "{:,.1f}"),
    "contacts": ("Contacts", "{:,}"),
    "responses": ("Responses", "{:,}"),
    "response_rate": ("Response rate", "{:.1%}"),
    "likely_range": ("Likely range of the rate", "{}"),
    "times_average": ("Rate against the average (times)", "{:.2f}"),
    "compared": ("Compared with the average", "{}"),
    "advice": ("Next campaign", "{}"),
    "category_a": ("Category", "{}"),
    "category_b": ("Bought with", "{}"),
    "support": ("Share of the segment's orders with both", "{:.1%}"),
    "times_chance": ("Bought together, times chance", "{:.2f}"),
    "customers_together": ("Customers who bought both in one order", "{:,}"),
    "audience": ("Customers to offer the other category (bought only one)", "{:,}"),
    # stage reports 01-04 (segments.segment_summary, clustering.profile, value matrix, data quality)
    "value_type": ("Value type", "{}"),
    "loyalty_level": ("Loyalty level", "{}"),
    "revenue": ("Revenue ({currency})", "{:,.0f}"),
    "mean_recency_days": ("Average days since last order", "{:,.0f}"),
    "mean_frequency": ("Average orders", "{:,.1f}"),
    "aov": ("Average order value ({currency})", "{:,.2f}"),
    "step": ("Step", "{}"),
    "effect": ("Effect", "{}"),
    "count": ("Count", "{:,}"),
    "counted_in": ("Counted in", "{}"),
    "amount": ("Net amount ({currency})", "{:,.2f}"),
}


def labelled(table: pd.DataFrame, currency: str) -> Styler:
    """A table styled for the client: readable headings with units, formatted numbers, no index, and
    every value and heading escaped (a segment, category or campaign text from the client's files or
    parameters is shown as text, never as markup)."""
    labels = {c: COLUMN_LABELS[c][0].format(currency=currency) for c in table.columns if c in COLUMN_LABELS}
    formats = {labels[c]: COLUMN_LABELS[c][1] for c in labels}
    styled = table.rename(columns=labels).style.format(formats, na_rep="-", escape="html")
    return styled.format_index(escape="html", axis=1).hide(axis="index")


@dataclass(frozen=True)
class PeriodFigures:
    """One period as the client report sees it: its tables, KPIs and risk-scored customers."""

    tables: PeriodTables
    kpis: dict[str, Any]
    at_risk: pd.DataFrame  # the period's churn_risk table (risk.ARTIFACT_COLUMNS): one rule per period
    top_revenue_share: float

    @property
    def name(self) -> str:
        return self.tables.period.name


def period_figures(tables: PeriodTables, params: RunParams, at_risk: pd.DataFrame) -> PeriodFigures:
    """KPIs, churn risk and revenue concentration of one period (customers with positive spend are
    scored); ``at_risk`` is the period's churn_risk table (risk.score_customers), so that every
    number of the report rests on the period's one churn-risk rule."""
    scored = rfm.scored_only(tables.customers)
    share, _ = rfm_views.pareto(scored, params.get("rfm.pareto_top_share"))
    return PeriodFigures(tables, tables.kpis(), at_risk, share)


def kpi_frame(figures: PeriodFigures) -> pd.DataFrame:
    """The period's KPIs (kpi.period_kpis) and headline numbers as one row, for ``kpis.parquet``."""
    row = {"period": figures.name, **figures.kpis, **headline_numbers(figures)}
    return pd.DataFrame([row]).drop(columns="customers")


def headline_numbers(figures: PeriodFigures) -> dict[str, float | None]:
    """The five numbers: customers, revenue, revenue share of the top customers, churn rate, revenue at risk.

    Revenue at risk: this period's revenue (monetary, currency) of the customers whose churn risk
    is ``high``. Churn rate is None when the period has no window to compare with.
    """
    high = figures.at_risk["churn_risk"] == "high"
    return {
        "customers": figures.kpis["active_customers"],
        "revenue": figures.kpis["revenue"],
        "top_revenue_share": figures.top_revenue_share,
        "churn_rate": figures.kpis["churn_rate"],
        "revenue_at_risk": round(float(figures.at_risk.loc[high, "monetary"].sum()), 2),
    }


def comparable_numbers(previous: PeriodFigures, same_churn_rule: bool) -> dict[str, float | None]:
    """The previous period's headline numbers as the change column may use them: its revenue at risk
    only when it rests on the same churn-risk rule as this period's (else no change is shown)."""
    numbers = headline_numbers(previous)
    return numbers if same_churn_rule else numbers | {"revenue_at_risk": None}


def headline_table(
    current: Mapping[str, float | None], previous: Mapping[str, float | None] | None
) -> pd.DataFrame:
    """One row per headline number: value, previous value and change.

    Change is relative (``value / previous - 1``) for counts and money, and in percentage points
    (``value - previous``) for shares; missing where there is no previous value or it is zero.
    """
    rows = []
    for name, (label, kind) in HEADLINES.items():
        value = current[name]
        before = previous.get(name) if previous else None
        change = None
        if value is not None and before is not None:
            if kind == "share":
                change = value - before
            elif before:
                change = value / before - 1
        rows.append(
            {
                "measure": name,
                "label": label,
                "kind": kind,
                "value": value,
                "previous": before,
                "change": change,
            }
        )
    return pd.DataFrame(rows)


def format_value(value: float | None, kind: str, currency: str) -> str:
    """A headline value as the client reads it: 1,234 / 56,789 GBP / 61.2%; a dash when missing."""
    if value is None or pd.isna(value):
        return "-"
    if kind == "share":
        return f"{value:.1%}"
    if kind == "money":
        return f"{value:,.0f} {currency}"
    return f"{value:,.0f}"


def format_change(change: float | None, kind: str) -> str:
    """A change as text: +4.2% (relative) or -1.3 pts (percentage points); empty when missing."""
    if change is None or pd.isna(change):
        return ""
    if kind == "share":
        return f"{change * 100:+.1f} pts"
    return f"{change:+.1%}"


def headline_cards(
    table: pd.DataFrame,
    currency: str,
    previous_name: str | None,
    top_share: float,
    notes: Mapping[str, str] | None = None,
) -> str:
    """HTML of the first screen: one card per headline number with its change versus the previous
    period, and ``notes`` (measure -> caveat) printed on the card whose number rests on too little data."""
    cards = []
    for row in table.itertuples(index=False):
        label = row.label if row.measure != "top_revenue_share" else f"Revenue from the top {top_share:.0%}"
        change = format_change(row.change, row.kind)
        versus = f"{change} vs {html.escape(previous_name)}" if change and previous_name else "&nbsp;"
        note = (notes or {}).get(row.measure)
        cards.append(
            "<div class='kpi-card'>"
            f"<div class='kpi-label'>{html.escape(label)}</div>"
            f"<div class='kpi-value'>{html.escape(format_value(row.value, row.kind, currency))}</div>"
            f"<div class='kpi-change'>{versus}</div>"
            + (f"<div class='kpi-note'>{html.escape(note)}</div>" if note else "")
            + "</div>"
        )
    return f"<div class='kpi-cards'>{''.join(cards)}</div>"


def card_notes(
    current: PeriodFigures, previous_name: str | None = None, same_churn_rule: bool = True
) -> dict[str, str]:
    """Caveats printed on the cards: the churn rate when the export covers too little of the window
    before; the revenue at risk when the previous period's rests on another churn-risk rule."""
    notes = {}
    if previous_name and not same_churn_rule:
        notes["revenue_at_risk"] = f"not compared with {previous_name}, whose risk rests on another rule"
    if current.kpis["previous_customers"] == 0:  # a window, but nobody bought in the one before
        return notes | {"churn_rate": "the export holds no customer who bought in the window before"}
    if current.kpis["churn_rate"] is None:
        return notes
    covered = kpi.previous_window_coverage(current.tables.history, current.tables.period)
    if covered < kpi.COVERAGE_WARNING:
        days = round(covered * (current.tables.period.window_days or 0))
        notes["churn_rate"] = (
            f"rests on only {days:,} days of earlier data ({covered:.0%} of the window before)"
        )
    return notes


def headline_sentences(
    current: PeriodFigures, previous: PeriodFigures | None, currency: str, top_share: float
) -> str:
    """Two or three sentences on the headline numbers, generated from them."""
    now = headline_numbers(current)
    text = f"In {current.name}, {now['customers']:,} customers bought for {now['revenue']:,.0f} {currency}"
    if previous is not None:
        before = headline_numbers(previous)
        text += (
            f" ({_relative(now['customers'], before['customers'])} customers and "
            f"{_relative(now['revenue'], before['revenue'])} revenue compared with {previous.name})"
        )
    text += f". The top {top_share:.0%} of customers brought {now['top_revenue_share']:.0%} of the revenue."
    if now["churn_rate"] is not None:
        kpis = current.kpis
        text += (
            f" Of the {kpis['previous_customers']:,} customers who bought in the window before, "
            f"{kpis['churned_customers']:,} ({now['churn_rate']:.0%}) did not buy again in this period."
        )
        covered = kpi.previous_window_coverage(current.tables.history, current.tables.period)
        if covered < kpi.COVERAGE_WARNING:
            text += (
                f" The export covers only {covered:.0%} of that window, so read the churn rate with care: "
                "customers who last bought before the export began are not counted."
            )
    margin, discount = current.kpis.get("gross_margin"), current.kpis.get("average_discount_rate")
    if margin is not None:
        text += (
            f" The gross margin was {margin:,.0f} {currency} "
            f"({current.kpis['gross_margin_rate']:.0%} of the revenue)."
        )
    if discount is not None:
        text += f" Discounts gave away {discount:.1%} of the list price."
    high = int((current.at_risk["churn_risk"] == "high").sum())
    text += (
        f" {_customers(high)} {'is' if high == 1 else 'are'} at high risk of not buying again "
        f"(the rule is in the churn-risk section), with {now['revenue_at_risk']:,.0f} {currency} of this "
        "period's revenue."
    )
    return text


def _customers(count: int) -> str:
    return f"{count:,} customer{'' if count == 1 else 's'}"


def _relative(now: float, before: float) -> str:
    if not before:
        return "no comparable"
    change = now / before - 1
    return f"{abs(change):.0%} {'more' if change >= 0 else 'fewer' if isinstance(now, int) else 'less'}"


def segment_sentences(summary: pd.DataFrame, playbook: pd.DataFrame) -> str:
    """Sentences on the segments (``summary``: segments.segment_summary; ``playbook``: Playbook.table())."""
    top, largest = _leaders(summary, "segment", "share_revenue")
    text = (
        f"{top['segment']} bring the largest share of revenue: {top['share_revenue']:.0%} from "
        f"{top['share_customers']:.0%} of the customers."
    )
    text += _largest_clause(top, largest, "segment", largest["segment"])
    if top["segment"] in playbook.index:
        text += f" Recommended for {top['segment']}: {playbook.loc[top['segment'], 'campaign']}"
    return text


def _leaders(table: pd.DataFrame, name: str, value: str) -> tuple[pd.Series, pd.Series]:
    """The row with the highest ``value`` and the row with the most customers (ties: by ``name``)."""
    top = table.sort_values([value, name], ascending=[False, True]).iloc[0]
    largest = table.sort_values(["customers", name], ascending=[False, True]).iloc[0]
    return top, largest


def _largest_clause(top: pd.Series, largest: pd.Series, noun: str, label: str) -> str:
    """ " The largest <noun> is <label> (x% of the customers, y% of the revenue)." unless it is ``top``."""
    if largest.name == top.name:
        return ""
    return (
        f" The largest {noun} is {label} ({largest['share_customers']:.0%} of the customers, "
        f"{largest['share_revenue']:.0%} of the revenue)."
    )


def cluster_profile(clustered: pd.DataFrame) -> pd.DataFrame:
    """clustering.profile of scored customers with stage 03's ``cluster`` and ``cluster_name`` columns."""
    names = clustered.drop_duplicates("cluster").set_index("cluster")["cluster_name"]
    table = clustering.profile(clustered, clustered["cluster"].to_numpy())
    table.insert(1, "cluster_name", table["cluster"].map(names))
    return table


def cluster_sentences(profile: pd.DataFrame) -> str:
    """Sentences on the clusters (``profile``: :func:`cluster_profile`)."""
    best, largest = _leaders(profile, "cluster", "mean_monetary")
    text = (
        f"K-means finds {len(profile)} groups of customers with similar recency, frequency and spend. "
        f'The most valuable, "{best["cluster_name"]}", is {best["share_customers"]:.0%} of the customers '
        f"and brings {best['share_revenue']:.0%} of the revenue."
    )
    return text + _largest_clause(best, largest, "group", f'"{largest["cluster_name"]}"')


def quadrant_sentences(summary: pd.DataFrame, playbook: pd.DataFrame) -> str:
    """Sentences on the value matrix (``summary``: value_matrix.quadrant_summary)."""
    rows = summary.set_index("quadrant")
    best, uncertain = rows.loc["Best"], rows.loc["Uncertain"]
    text = (
        f"Best customers (high order value and frequent) are {best['share_customers']:.0%} of the customers "
        f"and bring {best['share_revenue']:.0%} of the revenue; "
        f"{uncertain['share_customers']:.0%} are Uncertain (low order value, few orders)."
    )
    if "Best" in playbook.index:
        text += f" For Best customers: {playbook.loc['Best', 'campaign']}"
    return text


def risk_sentences(by_segment: pd.DataFrame, currency: str, valuable_segments: Sequence[str] = ()) -> str:
    """Sentences on churn risk (``by_segment``: kpi.risk_by_segment of the run's churn_risk table).

    The place to act first is the valuable segment (``clv.valuable_segments``) with the most revenue
    at high risk, as in the first page's win-back action; when most of that revenue sits in another
    segment, the sentence says so without calling it the place to act."""
    customers = by_segment[[f"customers_{level}" for level in kpi.RISK_LEVELS]].to_numpy().sum()
    high = int(by_segment["customers_high"].sum())
    revenue_high = float(by_segment["revenue_high"].sum())
    text = (
        f"{high:,} of the {int(customers):,} customers with a net purchase ({high / customers:.0%}) "
        "are at high "
        "risk. They spent "
        f"{revenue_high:,.0f} {currency} in this period."
    )
    if revenue_high <= 0:
        return text
    ranked = by_segment[by_segment["revenue_high"] > 0].sort_values(
        ["revenue_high", "segment"], ascending=[False, True]
    )
    worst = ranked.iloc[0]
    valuable = ranked[ranked["segment"].isin(valuable_segments)]
    where = (
        f"{worst['segment']} ({_customers(int(worst['customers_high']))}, "
        f"{worst['revenue_high']:,.0f} {currency})"
    )
    if len(valuable) and valuable.iloc[0]["segment"] == worst["segment"]:
        return text + f" Most of that revenue is in {where}: the first place to act."
    text += f" Most of that revenue is in {where}"
    if valuable.empty:
        return text + ("." if not valuable_segments else ", and none in the valuable segments.")
    first = valuable.iloc[0]
    return text + (
        f"; among the valuable segments, {first['segment']} holds the most "
        f"({_customers(int(first['customers_high']))}, {first['revenue_high']:,.0f} {currency}): "
        "the first place to act."
    )


def cohort_sentences(retention: pd.DataFrame, unit: str = "month", later: int = 3) -> str:
    """Sentences on cohort retention (``retention``: kpi.cohort_retention by ``unit``)."""
    if retention.empty or 1 not in retention.columns:
        return f"The period is too short to follow any cohort beyond its first {unit}."
    text = (
        f"On average {retention[1].mean():.0%} of a {unit}'s new customers bought again in the "
        f"following {unit}"
    )
    if later in retention.columns and retention[later].notna().any():
        text += f", and {retention[later].mean():.0%} {later} {unit}s later"
    return text + " (mean over the cohorts observed that long)."


def top_customers_at_risk(
    at_risk: pd.DataFrame, salt: str, n: int = 10, score: str = "overdue"
) -> pd.DataFrame:
    """The ``n`` highest-spending high-risk customers, with pseudonymised ids (for client outputs),
    and the evidence of the run's churn rule (``score``, risk.SCORES): their usual gap for the
    overdue rule, else the model's chance still active or of no purchase ahead."""
    high = at_risk[at_risk["churn_risk"] == "high"].sort_values(
        ["monetary", "customer_id"], ascending=[False, True]
    )
    top = high.head(n)
    return pd.DataFrame(
        {
            "customer": privacy.pseudonymise(top["customer_id"], salt).to_numpy(),
            "segment": top["segment"].to_numpy(),
            "spend_in_period": top["monetary"].round(2).to_numpy(),
            "days_since_last_order": top["recency_days"].to_numpy(),
            **_evidence_column(top, score),
        }
    )


def _evidence_column(top: pd.DataFrame, score: str) -> dict[str, Any]:
    if score == "p_alive":
        return {"p_alive": top["p_alive"].round(3).to_numpy()}
    if score in ("p_no_purchase", "expected_purchases"):
        return {"p_no_purchase": top["p_no_purchase"].round(3).to_numpy()}
    return {"usual_gap_days": top["expected_gap_days"].round(0).to_numpy()}
