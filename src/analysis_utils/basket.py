"""Cross-sell: product categories bought together, per customer segment (line-level work in Ibis).

A basket is one order's set of categories, from the period's purchase lines kept by the stage 01
line rules (returns left out). For categories A and B in a segment with N orders:
support = orders with both / N, confidence(A -> B) = orders with both / orders with A, and
lift = confidence(A -> B) / (orders with B / N), symmetric in A and B. Definitions:
docs/methodology.md, section 12.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from analysis_utils.config import Period
from analysis_utils.prep import annotate_line_rules, with_order_ids


def baskets(lines: ir.Table, prep: dict[str, Any], period: Period) -> ir.Table:
    """Distinct (customer_id, order_id, category) of the period's kept purchase lines.

    Kept: no line rule removes the line (stage 01, same parameters), it is no return, its amount is
    positive, its date is in the window and it has a category. Lines without an order id get one
    per customer and day, as in stage 01.
    """
    annotated = annotate_line_rules(lines, prep, period)
    keep = (
        annotated.rule.isnull() & ~annotated.is_return & (annotated.amount > 0) & annotated.category.notnull()
    )
    if period.window_start is not None:
        keep &= annotated.order_date >= period.window_start
    kept = annotated.filter(keep)
    kept = with_order_ids(kept)
    return kept.select("customer_id", "order_id", "category").distinct()


def category_pairs(basket_rows: ir.Table, groups: ir.Table, group: str = "segment") -> ir.Table:
    """Every pair of categories bought in one order, per group, with support, confidence and lift.

    ``groups`` maps customer_id to ``group``. Columns: group, ``category_a`` < ``category_b``,
    ``orders`` (with both), ``orders_a``, ``orders_b``, ``group_orders``, ``support``,
    ``confidence_ab`` (A -> B), ``confidence_ba`` (B -> A) and ``lift``.
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
    ).select(group=left[group], category_a=left.category, category_b=right.category)
    pairs = both.group_by(["group", "category_a", "category_b"]).aggregate(orders=both.count())
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


def top_pairs(pairs: pd.DataFrame, min_orders: int, top_n: int) -> pd.DataFrame:
    """Per group, the ``top_n`` pairs by lift among those in at least ``min_orders`` orders.

    Ties of lift go to the pair in more orders, then to the categories' names.
    """
    frequent = pairs[pairs["orders"] >= min_orders]
    ordered = frequent.sort_values(
        ["group", "lift", "orders", "category_a", "category_b"], ascending=[True, False, False, True, True]
    )
    return ordered.groupby("group", sort=False).head(top_n).reset_index(drop=True)


def group_table(labels: pd.DataFrame, group: str = "segment") -> ir.Table:
    """Customer-level labels (customer_id, ``group``) as an engine table to join basket rows with."""
    return ibis.memtable(labels[["customer_id", group]].astype({"customer_id": "string", group: "string"}))
