"""The customer ranking: a points model from ``params`` (section ``ranking``), ranks and tiers.

Every customer of the period earns points on each criterion: for net spend and for gross margin
(when the orders carry cost), either relative to the period's other customers (``scale: data``,
the share of customers who spent no more, so any currency and scale) or by fixed currency steps
(``scale: fixed``); for purchase regularity (a steady gap between purchase days); and per
engagement event type, each capped. Their sum ranks the customers (1 = most points) and places each
in a tier. Order-level inputs (margin, gaps) are Ibis expressions; the points are customer-level
pandas. Definitions: docs/methodology.md, section 12.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils.engine import exact_sum

POINT_DECIMALS = 6  # data-scaled points and totals are rounded to this (floating noise only)


def in_period(orders: ir.Table, as_of: datetime, window_days: int | None) -> ir.Table:
    """Orders dated in ``[as_of - window_days, as_of)`` (all before ``as_of`` without a window)."""
    keep = orders.order_date < as_of
    if window_days is not None:
        keep &= orders.order_date >= as_of - timedelta(days=window_days)
    return orders.filter(keep)


def customer_margin(orders: ir.Table) -> ir.Table:
    """Gross margin per customer, currency: sum of ``amount - cost`` over the orders given (exact sum)."""
    return orders.group_by("customer_id").aggregate(margin=exact_sum(orders.amount - orders.cost))


def purchase_gaps(orders: ir.Table) -> ir.Table:
    """Per customer: ``gaps`` between consecutive distinct purchase days, their sum and sum of squares.

    Integers (days), so the coefficient of variation computed from them does not depend on the
    engine's order of summation (see :func:`gap_cv`).
    """
    days = orders.select("customer_id", day=orders.order_date.date()).distinct()
    previous = days.day.lag().over(group_by="customer_id", order_by="day")
    gaps = days.mutate(gap=days.day.delta(previous, unit="day")).filter(lambda t: t.gap.notnull())
    return gaps.group_by("customer_id").aggregate(
        gaps=gaps.count(),
        gap_sum=gaps.gap.sum().cast("int64"),
        gap_squares=(gaps.gap * gaps.gap).sum().cast("int64"),
    )


def gap_cv(gaps: pd.DataFrame) -> pd.Series:
    """Coefficient of variation of a customer's gaps: population standard deviation / mean (unitless).

    From ``gaps`` (count n), ``gap_sum`` (S) and ``gap_squares`` (Q): ``sqrt(n Q - S^2) / S``.
    0 = perfectly steady. NaN without gaps.
    """
    n, total, squares = (gaps[c].astype("float64") for c in ("gaps", "gap_sum", "gap_squares"))
    spread = np.sqrt(np.maximum(n * squares - total * total, 0.0))
    return (spread / total).where(n > 0)


def step_points(values: pd.Series, steps: Sequence[Mapping[str, float]], bound: str = "from") -> pd.Series:
    """Points of the highest step reached (``values >= step[bound]``); 0 below the first step or missing."""
    bounds = np.array([s[bound] for s in steps], dtype="float64")
    points = np.concatenate([[0.0], [float(s["points"]) for s in steps]])
    reached = np.searchsorted(bounds, values.to_numpy(dtype="float64", na_value=-np.inf), side="right")
    return pd.Series(points[reached], index=values.index)


def share_points(values: pd.Series, max_points: float) -> pd.Series:
    """``max_points`` x the share of all customers given whose value is at most the customer's.

    The empirical distribution function of the period: tied values all take the highest share
    (``rank(method="max", pct=True)``), so the largest value earns exactly ``max_points`` and a
    larger value always earns more. A missing value counts as 0; values <= 0 earn 0 points (but
    still count in the share of the others). Rounded to 6 decimals.
    """
    filled = values.astype("float64").fillna(0.0)
    share = filled.rank(method="max", pct=True)
    return (float(max_points) * share).where(filled > 0, 0.0).round(POINT_DECIMALS)


def value_points(values: pd.Series, criterion: str, ranking: Mapping[str, Any]) -> pd.Series:
    """Points of ``criterion`` (``spend`` or ``margin``) by ``ranking.scale``.

    ``data``: :func:`share_points` with ``ranking.data_points.<criterion>``; ``fixed``:
    :func:`step_points` with ``ranking.<criterion>_tiers``.
    """
    if ranking["scale"] == "data":
        return share_points(values, ranking["data_points"][criterion])
    return step_points(values, ranking[f"{criterion}_tiers"])


def regularity_points(cv: pd.Series, order_days: pd.Series, regularity: Mapping[str, Any]) -> pd.Series:
    """Points of the first tier with ``cv <= max_cv``, for customers with at least ``min_order_days``."""
    tiers = regularity["tiers"]
    limits = np.array([t["max_cv"] for t in tiers], dtype="float64")
    points = np.concatenate([[float(t["points"]) for t in tiers], [0.0]])
    tier = np.searchsorted(limits, cv.to_numpy(dtype="float64", na_value=np.inf), side="left")
    eligible = order_days.to_numpy() >= regularity["min_order_days"]
    return pd.Series(np.where(eligible, points[tier], 0.0), index=cv.index)


def event_points(counts: pd.DataFrame, events: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """``points_<type>`` = min(points x events_<type>, cap) for every type of ``events`` (missing = 0)."""
    return pd.DataFrame(
        {
            f"points_{name}": np.minimum(rule["points"] * counts[f"events_{name}"].fillna(0), rule["cap"])
            for name, rule in events.items()
        },
        index=counts.index,
    ).astype("float64")


def points_table(behaviour: pd.DataFrame, ranking: Mapping[str, Any]) -> pd.DataFrame:
    """Points per criterion, total, rank and tier of every customer.

    Parameters
    ----------
    behaviour
        One row per customer: ``customer_id``, ``monetary`` (net spend, currency), ``order_days``,
        ``gap_cv``; optionally ``margin`` (currency; no margin points without it) and
        ``events_<type>`` counts (no event points without them).
    ranking
        The ``ranking`` parameters.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``points_spend``, ``points_margin`` and ``points_<type>`` when their inputs
        exist, ``points_regularity``, ``points_total`` (rounded to 6 decimals), ``rank`` (1 = most
        points; ties share the best rank) and ``tier`` (by :func:`tier_order` with ``share``, so a
        tie at a tier boundary is split by spend, then customer id); sorted by ``customer_id``.
    """
    points = pd.DataFrame({"customer_id": behaviour["customer_id"]})
    points["points_spend"] = value_points(behaviour["monetary"], "spend", ranking)
    if "margin" in behaviour.columns:
        points["points_margin"] = value_points(behaviour["margin"], "margin", ranking)
    points["points_regularity"] = regularity_points(
        behaviour["gap_cv"], behaviour["order_days"], ranking["regularity"]
    )
    if any(c.startswith("events_") for c in behaviour.columns):
        points = points.join(event_points(behaviour, ranking["events"]))
    criteria = [c for c in points.columns if c.startswith("points_")]
    points["points_total"] = points[criteria].sum(axis=1).round(POINT_DECIMALS)
    points["rank"] = points["points_total"].rank(method="min", ascending=False).astype("int64")
    order = tier_order(points["points_total"], behaviour["monetary"], points["customer_id"])
    points["tier"] = assign_tiers(points["points_total"], order, ranking["tiers"], ranking["tier_by"])
    return points.sort_values("customer_id", ignore_index=True)


def tier_order(total: pd.Series, spend: pd.Series, customer_id: pd.Series) -> pd.Series:
    """Every customer's place 1..n for tiers by share: most points first, a tie broken by spend (most
    first, missing last), then by customer id (ascending, as text). No two customers share a place.
    """
    keys = pd.DataFrame(
        {
            "total": total.to_numpy(dtype="float64"),
            "spend": spend.to_numpy(dtype="float64", na_value=np.nan),
            "customer_id": customer_id.astype("string").to_numpy(),
        }
    )
    ordered = keys.sort_values(
        ["total", "spend", "customer_id"], ascending=[False, False, True], na_position="last"
    ).index.to_numpy()
    place = np.empty(len(keys), dtype="int64")
    place[ordered] = np.arange(1, len(keys) + 1)
    return pd.Series(place, index=total.index)


def assign_tiers(
    total: pd.Series, place: pd.Series, tiers: Sequence[Mapping[str, Any]], tier_by: str
) -> pd.Series:
    """Tier of every customer, an ordered categorical (best tier first).

    ``share``: the first tier whose ``top_share`` of the customers reaches the customer's place
    (``place <= ceil(top_share x customers)``). With the distinct places of :func:`tier_order` each
    tier holds exactly its declared share (up to rounding up); a rank with ties (``method="min"``)
    keeps tied customers together instead, at the cost of the shares. ``points``: the first tier
    whose ``min_points`` the total reaches (equal totals always share a tier).
    """
    names = [t["name"] for t in tiers]
    if tier_by == "share":
        limits = np.ceil(np.round(np.array([t["top_share"] for t in tiers]) * len(place), 9))
        index = np.searchsorted(limits, place.to_numpy(), side="left")
    else:
        floors = np.array([t["min_points"] for t in tiers], dtype="float64")[::-1]
        index = len(tiers) - np.searchsorted(floors, total.to_numpy(), side="right")
    return pd.Series(pd.Categorical.from_codes(index, categories=names, ordered=True), index=total.index)


def ordered_tiers(tier: pd.Series, tiers: Sequence[Mapping[str, Any]]) -> pd.Series:
    """Tier names (as read back from an artifact) as the ordered categorical of ``ranking.tiers``."""
    names = [t["name"] for t in tiers]
    return pd.Series(pd.Categorical(tier.astype("string"), categories=names, ordered=True), index=tier.index)


def tier_table(ranked: pd.DataFrame) -> pd.DataFrame:
    """Per tier: customers, share, points range, mean points per criterion and its share of the points.

    The shares say which criteria drive a tier (``share_<criterion>`` sums to 1 over criteria).
    """
    criteria = [c for c in ranked.columns if c.startswith("points_") and c != "points_total"]
    grouped = ranked.groupby("tier", observed=False)
    table = grouped.agg(
        customers=("customer_id", "count"),
        min_points=("points_total", "min"),
        max_points=("points_total", "max"),
        mean_points=("points_total", "mean"),
    )
    table["share_customers"] = table["customers"] / max(len(ranked), 1)
    sums = grouped[criteria].sum()
    means = grouped[criteria].mean().add_prefix("mean_")
    shares = sums.div(sums.sum(axis=1).replace(0, np.nan), axis=0).add_prefix("share_")
    return pd.concat([table, means, shares], axis=1).reset_index()


def behaviour_table(
    customers: pd.DataFrame, orders: ir.Table, as_of: datetime, window_days: int | None
) -> pd.DataFrame:
    """Customers with what the points need from the period's orders: ``gap_cv`` and, with cost, ``margin``."""
    period_orders = in_period(orders, as_of, window_days)
    gaps = purchase_gaps(period_orders).to_pandas()
    behaviour = customers[["customer_id", "monetary", "order_days"]].merge(
        gaps.assign(gap_cv=gap_cv(gaps))[["customer_id", "gap_cv"]], on="customer_id", how="left"
    )
    if "cost" in period_orders.columns:
        margin = customer_margin(period_orders).to_pandas()
        behaviour = behaviour.merge(margin, on="customer_id", how="left").fillna({"margin": 0.0})
    return behaviour


CRITERION_WORDS = {  # what a tier's points were earned for, in the client's words
    "spend": "spend",
    "margin": "the margin on their purchases",
    "regularity": "buying at a steady rhythm",
    "referral": "referring new customers",
    "club_login": "club logins",
    "review": "writing reviews",
    "online_purchase": "buying online",
    "newsletter_read": "reading newsletters",
}
RELATIVE_CRITERIA = ("spend", "margin")  # with scale data: earned relative to the other customers


def criterion_words(criterion: str, scale: str | None = None) -> str:
    """A points criterion (``spend``, ``regularity``, an event type) in plain words.

    With ``scale="data"`` spend and margin are said to be compared with the other customers; an
    event type without words of its own reads as its name (``app_review`` -> "app review events").
    """
    words = CRITERION_WORDS.get(criterion, f"{criterion.replace('_', ' ')} events")
    if scale == "data" and criterion in RELATIVE_CRITERIA:
        words += " compared with the other customers"
    return words


def tier_sentence(tiers: pd.DataFrame, scale: str | None = None) -> str:
    """Markdown generated from a :func:`tier_table`: each tier's size, points and what earned them most.

    ``scale`` is ``ranking.scale``: with ``"data"`` spend and margin points are described as
    relative to the other customers; without it they are described neutrally.
    """
    shares = tiers.set_index("tier").filter(like="share_points_")
    parts = []
    for row in tiers.itertuples():
        if not row.customers:
            continue
        tier_shares = shares.loc[row.tier]
        driver = tier_shares.idxmax() if tier_shares.notna().any() else None
        earned = (
            f", earned mostly for {criterion_words(driver.removeprefix('share_points_'), scale)}"
            if driver
            else ""
        )
        people = "customer" if row.customers == 1 else "customers"
        parts.append(
            f"**{row.tier}**: {row.customers:,} {people} ({row.share_customers:.0%}), "
            f"{_points(row.min_points)}-{_points(row.max_points)} points{earned}"
        )
    return "; ".join(parts) + "."


def _points(value: float) -> str:
    """Points as read by a client: one decimal at most (183.6, 40, 1,250)."""
    return f"{round(float(value), 1):,g}"


def tier_display(tiers: pd.DataFrame) -> pd.DataFrame:
    """A :func:`tier_table` as the client reads it, tall so that it fits a portrait page: one column
    per tier and one row per measure (customers, their share, the points range, and each
    criterion's share of the tier's points as a whole percent)."""
    criteria = [c.removeprefix("share_points_") for c in tiers.filter(like="share_points_").columns]
    rows = {
        "Customers": tiers["customers"].map("{:,}".format),
        "Share of customers": tiers["share_customers"].map("{:.1%}".format),
        "Points": [
            "-" if pd.isna(low) else f"{low:,.1f} to {high:,.1f}"
            for low, high in zip(tiers["min_points"], tiers["max_points"], strict=True)
        ],
        **{
            f"Share of points from {CRITERION_WORDS.get(c, c.replace('_', ' '))}": tiers[
                f"share_points_{c}"
            ].map(lambda v: "-" if pd.isna(v) else f"{v:.0%}")
            for c in criteria
        },
    }
    table = pd.DataFrame(
        {name: list(values) for name, values in rows.items()}, index=list(tiers["tier"].astype(str))
    )
    return table.T.rename_axis("Measure").reset_index()
