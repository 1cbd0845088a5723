"""Cross-sell: product categories bought together, per customer segment (line-level work in Ibis).

A basket is one order's set of categories, from the period's purchase lines kept by the stage 01
line rules (returns left out); stage 01 writes them (``baskets.parquet``, prep.basket_rows).
For categories A and B in a segment with N orders:
support = orders with both / N, confidence(A -> B) = orders with both / orders with A, and
lift = confidence(A -> B) / (orders with B / N), symmetric in A and B. A pair is a cross-sell
opportunity only when it is bought together more often than chance (lift > 1) and often enough
(:func:`opportunities`); its audience is the segment's customers who bought one category of the pair
but not the other (:func:`with_audience`). Definitions: docs/methodology.md, section 12.6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd


def category_pairs(basket_rows: ir.Table, groups: ir.Table, group: str = "segment") -> ir.Table:
    """Every pair of categories bought in one order, per group, with support, confidence and lift.

    ``groups`` maps customer_id to ``group``. Columns: group, ``category_a`` < ``category_b``,
    ``orders`` (with both), ``customers`` (distinct customers with an order holding both),
    ``orders_a``, ``orders_b``, ``group_orders``, ``support``, ``confidence_ab`` (A -> B),
    ``confidence_ba`` (B -> A) and ``lift``.
    """
    rows = basket_rows.join(groups, "customer_id")
    totals = rows.group_by(group).aggregate(group_orders=_order_count(rows))
    singles = rows.group_by([group, "category"]).aggregate(category_orders=rows.count())
    left, right = rows.view(), rows.view()
    both = left.join(
        right,
        (left.customer_id == right.customer_id)
        & (left.order_id == right.order_id)
        & (left.category < right.category),
    ).select(
        group=left[group], customer_id=left.customer_id, category_a=left.category, category_b=right.category
    )
    pairs = both.group_by(["group", "category_a", "category_b"]).aggregate(
        orders=both.count(), customers=both.customer_id.nunique()
    )
    single_a = singles.select(
        group_a=singles[group], category_a=singles.category, orders_a=singles.category_orders
    )
    single_b = singles.select(
        group_b=singles[group], category_b=singles.category, orders_b=singles.category_orders
    )
    totals = totals.select(group_t=totals[group], group_orders=totals.group_orders)
    joined = (
        pairs.join(single_a, (pairs.group == single_a.group_a) & (pairs.category_a == single_a.category_a))
        .join(single_b, (pairs.group == single_b.group_b) & (pairs.category_b == single_b.category_b))
        .join(totals, pairs.group == totals.group_t)
    )
    return joined.select(
        group=joined.group,
        category_a=joined.category_a,
        category_b=joined.category_b,
        orders=joined.orders,
        customers=joined.customers,
        orders_a=joined.orders_a,
        orders_b=joined.orders_b,
        group_orders=joined.group_orders,
        support=joined.orders / joined.group_orders,
        confidence_ab=joined.orders / joined.orders_a,
        confidence_ba=joined.orders / joined.orders_b,
        lift=joined.orders * joined.group_orders / (joined.orders_a * joined.orders_b),
    )


def _order_count(rows: ir.Table) -> ir.IntegerScalar:
    """Distinct orders (customer_id, order_id) of a table of basket rows."""
    return (rows.customer_id + "|" + rows.order_id).nunique()


def opportunities(pairs: pd.DataFrame, settings: Mapping[str, Any]) -> pd.DataFrame:
    """The cross-sell opportunities among :func:`category_pairs`: per group, the ``top_pairs`` pairs
    of highest lift among those that qualify.

    A pair qualifies when it is bought together more often than chance (``lift`` > 1, strictly) and
    often enough: in at least ``min_pair_orders`` orders, in at least ``min_pair_share`` of the
    group's orders (support) and by at least ``min_pair_customers`` distinct customers (``settings``
    is the ``basket`` parameter section). Ties of lift go to the pair in more orders, then to the
    categories' names. Empty when no pair qualifies (:func:`cross_sell_sentence` says so).
    """
    qualifies = (
        (pairs["lift"] > 1)
        & (pairs["orders"] >= settings["min_pair_orders"])
        & (pairs["support"] >= settings["min_pair_share"])
        & (pairs["customers"] >= settings["min_pair_customers"])
    )
    ordered = pairs[qualifies].sort_values(
        ["group", "lift", "orders", "category_a", "category_b"], ascending=[True, False, False, True, True]
    )
    return ordered.groupby("group", sort=False).head(settings["top_pairs"]).reset_index(drop=True)


def with_audience(
    chosen: pd.DataFrame, basket_rows: ir.Table, groups: ir.Table, group: str = "segment"
) -> pd.DataFrame:
    """``chosen`` pairs (from :func:`opportunities`) with the customers each one applies to.

    Over the period's baskets of the group's customers: ``customers_a_only`` bought category A but
    never B, ``customers_b_only`` bought B but never A, and ``audience`` = their sum, the customers
    to offer the other category of the pair. Computed in the engine for the chosen pairs only.
    """
    counts = ["customers_a_only", "customers_b_only", "audience"]
    if chosen.empty:
        return chosen.assign(**{c: pd.Series(dtype="int64") for c in counts})
    bought = basket_rows.select("customer_id", "category").distinct().join(groups, "customer_id")
    bought = bought.select("customer_id", "category", group_c=bought[group])
    keys = ibis.memtable(chosen[["group", "category_a", "category_b"]].astype("string"))
    sides = {}
    for side in ("a", "b"):
        matched = keys.join(
            bought, (keys.group == bought.group_c) & (keys[f"category_{side}"] == bought.category)
        )
        sides[side] = matched.select("group", "category_a", "category_b", "customer_id")
    pair_keys = ["group", "category_a", "category_b"]
    both = sides["a"].join(sides["b"], [*pair_keys, "customer_id"])
    counts_of = {"customers_a": sides["a"], "customers_b": sides["b"], "customers_both": both}
    table = chosen
    for name, rows in counts_of.items():
        counted = rows.group_by(pair_keys).aggregate(**{name: rows.count()}).to_pandas()
        table = table.merge(counted, on=pair_keys, how="left")
    filled = table[list(counts_of)].fillna(0).astype("int64")
    table = table.drop(columns=list(counts_of)).assign(
        customers_a_only=filled["customers_a"] - filled["customers_both"],
        customers_b_only=filled["customers_b"] - filled["customers_both"],
    )
    return table.assign(audience=table["customers_a_only"] + table["customers_b_only"])


def cross_sell_sentence(chosen: pd.DataFrame, settings: Mapping[str, Any], groups: Sequence[str]) -> str:
    """Markdown generated from :func:`with_audience`: the rule in plain words, the strongest pair,
    and which of ``groups`` (the segments to report on) have no pair that qualifies.

    When no pair qualifies in any group, a plain sentence says so and suggests no offer.
    """
    rule = (
        f"bought together more often than chance, in at least {settings['min_pair_share'] * 100:g}% of "
        f"a segment's orders (and at least {_count(settings['min_pair_orders'], 'order')}) and by at "
        f"least {_count(settings['min_pair_customers'], 'customer')}"
    )
    if chosen.empty:
        return (
            "No pair of categories qualifies as a cross-sell opportunity in this period: none was "
            f"{rule}. No cross-sell offer is suggested."
        )
    best = chosen.sort_values(["lift", "audience", "group"], ascending=[False, False, True]).iloc[0]
    text = (
        f"A pair of categories is a cross-sell opportunity when it is {rule}. The table lists up to "
        f"{settings['top_pairs']:,} per segment, {len(chosen):,} in all. The strongest: "
        f"{best['category_a']} and {best['category_b']} among {best['group']}, bought together "
        f"{best['lift']:.1f} times as often as by chance; {best['audience']:,} customers of that segment "
        "bought one of the two but not the other: the audience of the offer."
    )
    covered = set(chosen["group"])
    without = [g for g in groups if g not in covered]
    if without:
        names = without[0] if len(without) == 1 else ", ".join(without[:-1]) + " and " + without[-1]
        text += f" No pair qualifies for {names}: no cross-sell offer is suggested there."
    return text


def _count(number: int, noun: str) -> str:
    """ "1 order", "5 orders"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def client_table(chosen: pd.DataFrame) -> pd.DataFrame:
    """:func:`with_audience` with the columns of the client page, for ``executive.labelled``:
    ``segment``, ``category_a``, ``category_b``, ``support``, ``times_chance`` (the lift),
    ``customers_together`` (customers with an order holding both) and ``audience``."""
    table = chosen.rename(
        columns={"group": "segment", "lift": "times_chance", "customers": "customers_together"}
    )
    return table[
        ["segment", "category_a", "category_b", "support", "times_chance", "customers_together", "audience"]
    ]


def group_table(labels: pd.DataFrame, group: str = "segment") -> ir.Table:
    """Customer-level labels (customer_id, ``group``) as an engine table to join basket rows with."""
    return ibis.memtable(labels[["customer_id", group]].astype({"customer_id": "string", group: "string"}))
