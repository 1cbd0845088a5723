"""The unified customer table of a period (customer_360.parquet): behaviour, attributes, engagement,
campaign response and ranking, one row per customer of the period.

Customer-level pandas: every table joined here already has one row per customer. The base is stage
02's customers (every customer with an order in the period, scored or not); a source row of an id
outside it is never joined (the quality table counts it). Definitions: docs/methodology.md,
section 12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from analysis_utils import campaigns, migration, profiling, ranking, sources
from analysis_utils.config import CUSTOMER_ATTRIBUTES, Period, RunParams

BEHAVIOUR_COLUMNS = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "aov",
    "tenure_days",
    "order_days",
    "mean_interpurchase_days",
    "r_score",
    "f_score",
    "m_score",
    "cell",
    "segment",
    "value_type",
)


def unified_table(
    base: pd.DataFrame,
    extras: Sequence[pd.DataFrame | None],
    fill_zero: Sequence[pd.DataFrame | None] = (),
) -> pd.DataFrame:
    """``base`` (one row per customer) left-joined with one-row-per-customer tables on ``customer_id``.

    ``extras`` keep missing values where a customer has no row (no attributes, no cluster);
    ``fill_zero`` tables hold counts, so a customer without a row there has 0 (no events, no
    contacts). None stands for an absent source and adds nothing. Raises ValueError when a table
    repeats a customer id. Sorted by customer_id.
    """
    unified = base
    for table, zero in [*((t, False) for t in extras), *((t, True) for t in fill_zero)]:
        if table is None:
            continue
        unified = unified.merge(table, on="customer_id", how="left", validate="one_to_one")
        if zero:
            counts = [c for c in table.columns if c != "customer_id"]
            unified[counts] = unified[counts].fillna(0).astype("int64")
    return unified.sort_values("customer_id", ignore_index=True)


def attribute_columns(unified: pd.DataFrame) -> list[str]:
    """The demographic attributes present in a unified table, ``age_band`` included when there."""
    return [c for c in (*CUSTOMER_ATTRIBUTES, "age_band") if c in unified.columns]


@dataclass(frozen=True)
class Customer360Result:
    """Stage 06's tables: the unified customer table (ranking included) and the cleaned sources."""

    table: pd.DataFrame
    sources: sources.SourceTables


def build_customer_360(
    params: RunParams,
    period: Period,
    con: ibis.BaseBackend,
    customers: pd.DataFrame,
    orders: ir.Table,
    groups: Sequence[pd.DataFrame],
    moves: pd.DataFrame | None = None,
) -> Customer360Result:
    """Read the optional sources, score the points model and join everything per customer.

    ``customers`` is stage 02's table (every customer of the period), ``orders`` stage 01's,
    ``groups`` the one-row-per-customer tables of later stages (clusters, value-matrix quadrants,
    stage 05's future values),
    ``moves`` each customer's segment in the previous period and the change
    (comparison.customer_moves), None when the period has no previous period (the columns
    :data:`analysis_utils.migration.MOVE_COLUMNS` are then empty).
    """
    tables = sources.load_sources(params, period, con, customers["customer_id"])
    attributes = tables.attributes
    if attributes is not None:
        bands = profiling.age_bands(attributes["age"], params.get("profiling.age_bands"))
        attributes = attributes.assign(age_band=bands)
    response = None if tables.contacts is None else campaigns.customer_response(tables.contacts)
    behaviour = unified_table(
        ranking.behaviour_table(customers, orders, period.as_of, period.window_days),
        [],
        [tables.engagement],
    )
    points = ranking.points_table(behaviour, params.get("ranking"))
    carried = ["customer_id", *(c for c in ("margin", "gap_cv") if c in behaviour.columns)]
    extras = [*groups, attributes, behaviour[carried]]
    behaviour_columns = [c for c in BEHAVIOUR_COLUMNS if c in customers.columns]
    table = unified_table(customers[behaviour_columns], extras, [tables.engagement, response])
    table = table.merge(points, on="customer_id", how="left", validate="one_to_one")
    if moves is None:
        moves = pd.DataFrame({"customer_id": table["customer_id"]}).assign(
            **{column: pd.Series(dtype="object") for column in migration.MOVE_COLUMNS}
        )
        moves["previous_net_spend"] = moves["previous_net_spend"].astype("float64")
    table = table.merge(
        moves[["customer_id", *migration.MOVE_COLUMNS]], on="customer_id", how="left", validate="one_to_one"
    )
    if "cluster" in table.columns:  # scored customers only: the others have none
        table["cluster"] = table["cluster"].astype("Int64")
    return Customer360Result(table, tables)


SECTION_NEEDS = {  # section of notebook 06 -> the source it needs
    "Demographic profiles": "customers",
    "Engagement points": "events",
    "Campaign response": "campaigns",
    "Margin points": "cost",
    "Cross-sell": "category",
}


def section_status(skipped: dict[str, str], data_columns: Sequence[str]) -> pd.DataFrame:
    """Which optional sections run and, for a skipped one, why: ``section``, ``status``, ``reason``.

    ``skipped`` is :attr:`sources.SourceTables.skipped`; ``data_columns`` the canonical columns
    mapped in ``data.columns`` (margin points need cost or margin, cross-sell needs category).
    """
    reasons = dict(skipped)
    if not {"cost", "margin"} & set(data_columns):
        reasons["cost"] = "the transactions carry no cost or margin"
    if "category" not in data_columns:
        reasons["category"] = "the transactions carry no product category"
    rows = [
        (section, "skipped" if need in reasons else "shown", reasons.get(need, ""))
        for section, need in SECTION_NEEDS.items()
    ]
    return pd.DataFrame(rows, columns=["section", "status", "reason"])


def status_sentence(status: pd.DataFrame) -> str:
    """Markdown: every section shown, or the list of skipped sections with their reasons."""
    skipped = status[status["status"] == "skipped"]
    if skipped.empty:
        return "Every section of this stage is shown: the client supplied all the sources it needs."
    items = "\n".join(f"- **{row.section}** skipped: {row.reason}." for row in skipped.itertuples())
    return f"Sections skipped for lack of data:\n\n{items}"


OUTSIDE_PERIOD = ("before_window", "after_as_of")  # source rules that drop rows dated outside the period
SOURCE_WORDS = {
    "customers": "customer table",
    "events": "engagement events",
    "campaigns": "campaign contacts",
}


def sources_sentence(quality: pd.DataFrame, customers: int) -> str:
    """The extra sources' quality (sources.SourceTables.quality) in one plain sentence per source:
    rows read, rows kept and joined to the period's customers, rows dropped or left unmatched."""
    if quality.empty:
        return "No extra source was supplied."
    parts = []
    for source, rows in quality.groupby("source", sort=False):
        by_rule = rows.set_index("rule")
        read, kept = (
            int(by_rule.loc["read", "rows"]),
            int(by_rule.loc["kept", "rows"]) if "kept" in by_rule.index else 0,
        )
        outside = int(rows.loc[rows["rule"].isin(OUTSIDE_PERIOD), "rows"].sum())
        dropped = int(rows.loc[rows["action"].isin(["dropped", "merged"]), "rows"].sum()) - outside
        unmatched = int(rows.loc[rows["action"] == "not joined", "rows"].sum())
        parts.append(
            f"**{SOURCE_WORDS.get(source, source)}**: {read:,} rows read, {kept:,} kept and matched to the "
            f"period's customers, {outside:,} outside the period, {dropped:,} dropped as unusable "
            "or repeated, "
            f"{unmatched:,} about customers with no order in the period"
        )
    return f"{customers:,} customers in the period. " + "; ".join(parts) + "."
