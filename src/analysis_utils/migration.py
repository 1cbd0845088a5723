"""Period over period: segments scored on one frozen scale, and the migration matrix between periods.

Scoring every period with the bin edges of a reference period means a customer who changes
segment changed behaviour, not that the boundaries moved (definitions: methodology §9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis_utils import rfm, rfm_scorer, segments
from analysis_utils.errors import ConfigError

NEW, GONE = "new", "gone"
CHANGES = ("up", "down", "same", NEW)  # a customer's segment change (:func:`segment_change`)
MOVE_COLUMNS = ("previous_segment", "compared_segment", "segment_change", "previous_net_spend")


def frozen_segments(
    customers_by_period: Mapping[str, pd.DataFrame], rfm_params: Mapping[str, Any], reference: str
) -> dict[str, pd.DataFrame]:
    """Each period's customers (customer_id, segment), all scored with ``reference``'s edges.

    ``customers_by_period``: period name -> customer table (recency_days, frequency, monetary),
    in period order. Every customer of a period is kept: those with no net spend are not scored
    (as in stage 02) and fall in the group ``rfm.NONPOSITIVE_SEGMENT``, so each period counts
    exactly its active customers, as its KPIs and its own reports do.
    """
    split = {name: rfm.split_nonpositive(table) for name, table in customers_by_period.items()}
    if reference not in split:
        raise ConfigError(f"reference period {reference!r} is not among the periods ({', '.join(split)})")
    scorer = rfm_scorer.scorer_from_params(rfm_params).fit(split[reference][0])
    segment_map = segments.load_segment_map(rfm_params["segments_file"])
    result = {}
    for name, (positive, nonpositive) in split.items():
        scored = scorer.transform(positive)
        scored = scored.assign(segment=segment_map.assign(scored, n_bins=scorer.n_bins))
        unscored = nonpositive.assign(segment=rfm.NONPOSITIVE_SEGMENT)
        result[name] = pd.concat(
            [scored[["customer_id", "segment"]], unscored[["customer_id", "segment"]]], ignore_index=True
        )
    return result


def migration_matrix(before: pd.DataFrame, after: pd.DataFrame, column: str = "segment") -> pd.DataFrame:
    """Customers from each group of ``before`` (rows, + "new") to each group of ``after`` (columns, + "gone").

    A customer only in ``after`` counts in row "new"; only in ``before``, in column "gone". So each
    row other than "new" sums to that group's customers before, and each column other than "gone"
    to that group's customers after.
    """
    joined = before[["customer_id", column]].merge(
        after[["customer_id", column]], on="customer_id", how="outer", suffixes=("_before", "_after")
    )
    rows = joined[f"{column}_before"].fillna(NEW)
    columns = joined[f"{column}_after"].fillna(GONE)
    matrix = pd.crosstab(rows, columns).rename_axis(index="before", columns="after")
    row_order = sorted(set(matrix.index) - {NEW}) + ([NEW] if NEW in matrix.index else [])
    column_order = sorted(set(matrix.columns) - {GONE}) + ([GONE] if GONE in matrix.columns else [])
    return matrix.reindex(index=row_order, columns=column_order, fill_value=0)


def migration_shares(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row of a migration matrix as shares of that row's customers (rows sum to 1)."""
    return matrix.div(matrix.sum(axis=1), axis=0)


def segment_order(segment_map: segments.SegmentMap) -> list[str]:
    """Segments best first: the order in which the segments file first names them, then "No net spend"."""
    return [*dict.fromkeys(segment_map.segments), rfm.NONPOSITIVE_SEGMENT]


def segment_change(current: pd.Series, previous: pd.Series, order: Sequence[str]) -> pd.Series:
    """``up``, ``down``, ``same`` or ``new`` (no previous segment) per customer, by ``order`` (best first).

    A segment missing from ``order`` ranks after every listed one.
    """
    rank = {name: place for place, name in enumerate(order)}
    known = previous.notna().to_numpy()
    now = current.map(rank).fillna(len(order)).to_numpy(dtype="int64")
    before = previous.map(rank).fillna(len(order)).to_numpy(dtype="int64")
    change = np.where(now < before, "up", np.where(now > before, "down", "same"))
    return pd.Series(np.where(known, change, NEW), index=current.index, dtype="object")


def customer_moves(
    before: pd.DataFrame, after: pd.DataFrame, before_customers: pd.DataFrame, order: Sequence[str]
) -> pd.DataFrame:
    """One row per customer of ``after``: where they stood in the previous period and how they moved.

    ``before`` and ``after``: customer_id and segment of two periods scored on one scale (as
    :func:`frozen_segments` gives them, so the moves are the cells of :func:`migration_matrix`);
    ``before_customers``: the previous period's customer table (customer_id, monetary).
    Columns :data:`MOVE_COLUMNS` besides customer_id: ``previous_segment`` (missing for a customer
    who did not buy in the previous period), ``compared_segment`` (the segment in ``after`` on that
    scale), ``segment_change`` (:func:`segment_change` by ``order``) and ``previous_net_spend`` (net
    spend in the previous period, currency units; missing for a new customer). Sorted by customer_id.
    """
    spend = before_customers[["customer_id", "monetary"]].rename(columns={"monetary": "previous_net_spend"})
    moves = (
        after[["customer_id", "segment"]]
        .rename(columns={"segment": "compared_segment"})
        .merge(
            before[["customer_id", "segment"]].rename(columns={"segment": "previous_segment"}),
            on="customer_id",
            how="left",
            validate="one_to_one",
        )
        .merge(spend, on="customer_id", how="left", validate="one_to_one")
    )
    moves["segment_change"] = segment_change(moves["compared_segment"], moves["previous_segment"], order)
    moves["previous_net_spend"] = moves["previous_net_spend"].astype("float64")
    return moves[["customer_id", *MOVE_COLUMNS]].sort_values("customer_id", ignore_index=True)


def downgrade_sentence(table: pd.DataFrame, previous: str, currency: str) -> str:
    """Who moved down since the ``previous`` period, in one plain sentence: how many customers, what
    they spent then (net, in ``currency``) and the most common move.

    ``table``: one row per customer with :data:`MOVE_COLUMNS` (stage 06's customer_360.parquet), so
    a move down is a move to a worse segment on the comparison's frozen scale, the same customers
    as the export's "moved down" list. Ties between moves go to the earlier names alphabetically.
    """
    down = table[table["segment_change"] == "down"]
    if down.empty:
        return f"No customer moved down to a lower segment since {previous}."
    moves = (
        down.groupby(["previous_segment", "compared_segment"])
        .size()
        .reset_index(name="customers")
        .sort_values(["customers", "previous_segment", "compared_segment"], ascending=[False, True, True])
    )
    top = moves.iloc[0]
    who = "1 customer" if len(down) == 1 else f"{len(down):,} customers"
    return (
        f"{who} moved down to a lower segment since {previous}; in {previous} they spent "
        f"{down['previous_net_spend'].sum():,.0f} {currency}. The most common move was from "
        f"{top['previous_segment']} to {top['compared_segment']} "
        f"({int(top['customers']):,} customers)."
    )
