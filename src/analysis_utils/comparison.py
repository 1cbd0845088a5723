"""Period comparison of one client: KPIs across periods and segment migration on a frozen scale.

Only periods that do not overlap are compared: each period with the one just before it (the
declared period ending latest at or before its window start, as in the client report), see
:func:`plan`. Reads each period's published artifacts (``reports/<client>/<period>/``) when they
exist, and otherwise computes them through the stage functions (a notebook run stand-alone).
Definitions: docs/methodology.md, section 9.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.io.formats.style import Styler

from analysis_utils import kpi, migration, segments
from analysis_utils.config import Period, RunParams, overlap_sentence, previous_period


@dataclass(frozen=True)
class PeriodTables:
    """What the comparison needs of one period: customers, history, and the orders (for margins)."""

    period: Period
    customers: pd.DataFrame
    history: pd.DataFrame
    orders: pa.Table | ir.Table
    earlier: pa.Table | pd.DataFrame | None = None  # orders before the window (stage 01), for the models

    def kpis(self) -> dict[str, float | int | None]:
        """Every KPI of :func:`analysis_utils.kpi.period_kpis`, discount and margin included."""
        return kpi.period_kpis(self.customers, self.history, self.period, orders=self.orders)


PUBLISHED = ("customers.parquet", "customer_history.parquet", "orders.parquet")
"""What a period's run must hold for :func:`read_period` (``earlier_orders.parquet`` is optional)."""


def read_period(period: Period, folder: Path) -> PeriodTables:
    """The tables of ``period`` from its run ``folder``, which holds :data:`PUBLISHED` (stages 01-02)."""
    earlier_path = folder / "earlier_orders.parquet"
    return PeriodTables(
        period,
        pd.read_parquet(folder / "customers.parquet"),
        pd.read_parquet(folder / "customer_history.parquet"),
        pq.read_table(folder / "orders.parquet"),
        pq.read_table(earlier_path) if earlier_path.is_file() else None,
    )


def reference_period(params: RunParams, names: Sequence[str]) -> Period | None:
    """The first declared period when the comparison scores every period on its scale
    (``comparison.reference: first``) and it is not among ``names`` (its tables are then needed
    besides theirs); else None."""
    first = params.periods[0]
    if params.get("comparison.reference") != "first" or first.name in names:
        return None
    return first


# --- which periods are compared --------------------------------------------------------------------


def _time_order(period: Period) -> tuple[dt.datetime, dt.datetime]:
    return period.as_of, period.window_start or dt.datetime.min


@dataclass(frozen=True)
class ComparisonPlan:
    """The pairs compared (earlier, later), in time order, and one sentence per pair left out."""

    declared: tuple[Period, ...]
    pairs: tuple[tuple[Period, Period], ...]
    skipped: tuple[str, ...]

    @property
    def periods(self) -> list[Period]:
        """Every period of some compared pair, in time order."""
        names = {p.name for pair in self.pairs for p in pair}
        return sorted((p for p in self.declared if p.name in names), key=_time_order)

    @property
    def names(self) -> list[tuple[str, str]]:
        """The compared pairs as (earlier name, later name)."""
        return [(a.name, b.name) for a, b in self.pairs]

    def sentences(self) -> str:
        """What the comparison shows and what it leaves out, in plain words (for the client)."""
        if not self.pairs:
            if len(self.declared) < 2:
                only = self.declared[0].name if self.declared else "none"
                text = f"Only one period is analysed ({only}), so there is nothing to compare it with."
            else:
                text = "Fewer than two periods can be compared, so this page shows no comparison."
        else:
            listed = _and([f"{a} with {b}" for a, b in self.names])
            text = f"This page compares {listed}: each period with the period just before it."
        return " ".join([text, *self.skipped])


def plan(periods: Sequence[Period]) -> ComparisonPlan:
    """Pairs of periods to compare: each period with its :func:`previous_period`, never two that overlap.

    Two periods overlap when their ``[window_start, as_of)`` intervals intersect (a period without
    a window covers all history before its ``as_of``); each overlapping pair gets a sentence saying
    why it is not compared.
    """
    pairs = [
        (before, period)
        for period in sorted(periods, key=_time_order)
        if (before := previous_period(periods, period)) is not None
    ]
    skipped = [
        f"{sentence}, so they are not compared."
        for i, a in enumerate(periods)
        for b in periods[i + 1 :]
        if (sentence := overlap_sentence(a, b)) is not None
    ]
    return ComparisonPlan(tuple(periods), tuple(pairs), tuple(skipped))


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- KPIs across periods ---------------------------------------------------------------------------


def kpi_trends(tables: list[PeriodTables]) -> pd.DataFrame:
    """One row per period (in order) with every KPI of :func:`PeriodTables.kpis`."""
    return pd.DataFrame([{"period": t.period.name, **t.kpis()} for t in tables])


# KPI -> (label the client reads, kind); money labels get the currency.
KPI_LABELS: dict[str, tuple[str, str]] = {
    "active_customers": ("Customers who bought", "count"),
    "new_customers": ("New customers (first order on record)", "count"),
    "returning_customers": ("Returning customers", "count"),
    "previous_customers": ("Customers of the window before", "count"),
    "churned_customers": ("Churned customers", "count"),
    "churn_rate": ("Churn rate", "rate"),
    "repurchase_rate": ("Repurchase rate (2+ orders)", "rate"),
    "orders": ("Orders", "count"),
    "revenue": ("Revenue", "money"),
    "aov": ("Average order value", "money_exact"),
    "orders_per_customer": ("Orders per customer", "ratio"),
    "revenue_per_customer": ("Revenue per customer", "money_exact"),
    "average_discount_rate": ("Average discount", "rate"),
    "gross_margin": ("Gross margin", "money"),
    "gross_margin_rate": ("Gross margin rate", "rate"),
}
FORMATS = {
    "count": "{:,.0f}",
    "rate": "{:.1%}",
    "money": "{:,.0f}",
    "money_exact": "{:,.2f}",
    "ratio": "{:,.2f}",
}
MISSING = "-"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _format(value: object, kind: str) -> str:
    return MISSING if _missing(value) else FORMATS[kind].format(value)


def _change(before: object, after: object, kind: str) -> str:
    """Relative change for counts and money, percentage points for rates; "-" when undefined."""
    if _missing(before) or _missing(after):
        return MISSING
    if kind == "rate":
        return f"{(after - before) * 100:+.1f} pts"  # type: ignore[operator]
    return MISSING if not before else f"{after / before - 1:+.1%}"  # type: ignore[operator]


def kpi_table(trends: pd.DataFrame, pairs: Sequence[tuple[str, str]], currency: str) -> Styler:
    """The KPIs as the client reads them: one row per measure, one column per period (tall, not wide).

    ``trends``: :func:`kpi_trends`. After each compared pair's later period, a column with the
    change from the earlier one (relative; in percentage points for rates). Measures without a
    value in any period are left out (see :func:`kpi_notes`); a single missing value shows "-".
    """
    by_period = trends.set_index("period")
    rows = []
    for name, (label, kind) in KPI_LABELS.items():
        if name not in by_period or by_period[name].map(_missing).all():
            continue
        unit = f" ({currency})" if kind.startswith("money") else ""
        row = {"Measure": label + unit}
        for period in by_period.index:
            row[period] = _format(by_period.at[period, name], kind)
            for before, after in pairs:
                if after == period:
                    row[f"Change from {before}"] = _change(
                        by_period.at[before, name], by_period.at[after, name], kind
                    )
        rows.append(row)
    table = pd.DataFrame(rows)
    numbers = [c for c in table.columns if c != "Measure"]
    return table.style.hide(axis="index").set_properties(subset=numbers, **{"text-align": "right"})


def kpi_notes(tables: Sequence[PeriodTables]) -> str:
    """Sentences explaining every "-" and every measure left out of :func:`kpi_table`.

    The coverage of the window before a period (and the 95% threshold) are the client report's
    (:func:`kpi.previous_window_coverage`), so both pages flag the same churn rates.
    """

    trends = kpi_trends(list(tables))
    notes = []
    for table, churn_rate in zip(tables, trends["churn_rate"], strict=True):
        period, history = table.period, table.history
        if period.window_start is None:
            notes.append(
                f"{period.name} covers all history, so it has no new, returning or churned customers."
            )
            continue
        covered = kpi.previous_window_coverage(history, period)
        days = f"the {period.window_days} days before {period.name}"
        if covered == 0 and len(history):
            start = pd.Timestamp(history["first_order_date"].min())
            notes.append(
                f"The data start on {start:%Y-%m-%d}, inside {period.name}: every customer of that period "
                f"counts as new, and nobody can be seen buying in {days}, so it has no churn rate."
            )
        elif _missing(churn_rate):
            notes.append(f"Nobody bought in {days}, so {period.name} has no churn rate.")
        elif covered < kpi.COVERAGE_WARNING:
            notes.append(
                f"The data cover only {covered:.0%} of {days}, so read its churn rate with care: "
                "customers who last bought before the data begin are not counted."
            )
    if "average_discount_rate" in trends and trends["average_discount_rate"].map(_missing).all():
        notes.append("The data hold no discounts, so the average discount is not shown.")
    if "gross_margin" in trends and trends["gross_margin"].map(_missing).all():
        notes.append("The data hold no cost of goods, so the gross margin is not shown.")
    return " ".join(notes)


TREND_KPIS = (
    "active_customers",
    "new_customers",
    "churn_rate",
    "repurchase_rate",
    "aov",
    "revenue_per_customer",
)


def trend_labels(currency: str) -> dict[str, str]:
    """Titles of the small multiples: the KPI's label, with the currency for money."""
    return {
        name: label + (f" ({currency})" if kind.startswith("money") else "")
        for name, (label, kind) in KPI_LABELS.items()
    }


def rate_kpis() -> list[str]:
    """The KPIs that are shares (drawn and written as percentages)."""
    return [name for name, (_, kind) in KPI_LABELS.items() if kind == "rate"]


# --- segment migration ---------------------------------------------------------------------------


def reference_sentence(params: RunParams) -> str:
    """How the segments of the compared periods are scored, in plain words."""
    if params.get("comparison.reference") == "first":
        return (
            f"Every period is scored on one fixed scale, the score boundaries of {params.periods[0].name}, "
            "so a customer who changes segment changed behaviour, not that the boundaries moved."
        )
    return (
        "Each period is scored on its own score boundaries, so a customer who changes segment "
        "changed rank among that period's customers."
    )


def migrations(
    tables: list[PeriodTables],
    params: RunParams,
    pairs: Sequence[tuple[str, str]] | None = None,
    reference: PeriodTables | None = None,
) -> dict[tuple[str, str], pd.DataFrame]:
    """Migration matrix of each pair (default: consecutive ``tables``), as :func:`migration_between`.

    ``pairs`` names periods of ``tables`` (for example ``plan(params.periods).names``). With
    ``comparison.reference: first`` the first declared period's edges are used: its ``tables``, or
    ``reference`` when it is not among them (:func:`reference_period`).
    """
    by_name = {t.period.name: t for t in tables}
    if pairs is None:
        names = list(by_name)
        pairs = list(zip(names, names[1:], strict=False))
    first = params.periods[0]
    reference = by_name.get(first.name, reference)
    return {(a, b): migration_between(params, by_name[a], by_name[b], reference=reference) for a, b in pairs}


def migration_between(
    params: RunParams, before: PeriodTables, after: PeriodTables, reference: PeriodTables | None = None
) -> pd.DataFrame:
    """Migration matrix from ``before`` to ``after``, on the same scale as the period comparison.

    With ``comparison.reference: first`` both are scored on the edges of the client's first
    declared period (``reference`` when it is neither of the two: ValueError when it is not
    given), so the client report of a period and the comparison agree on every move. Every
    active customer counts: those with no net spend form the group "No net spend".
    """
    return migration.migration_matrix(*_scored_pair(params, before, after, reference))


def customer_moves(
    params: RunParams, before: PeriodTables, after: PeriodTables, reference: PeriodTables | None = None
) -> pd.DataFrame:
    """Each customer of ``after`` with their segment in ``before`` and the change, on the scale of
    :func:`migration_between` (so the moves are the cells of the client report's migration matrix):
    :func:`analysis_utils.migration.customer_moves`, segments ranked as the segments file names them."""
    scored_before, scored_after = _scored_pair(params, before, after, reference)
    order = migration.segment_order(segments.load_segment_map(params.get("rfm.segments_file")))
    return migration.customer_moves(scored_before, scored_after, before.customers, order)


def _scored_pair(
    params: RunParams, before: PeriodTables, after: PeriodTables, reference: PeriodTables | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segments (customer_id, segment) of ``before`` and ``after`` on the comparison's scale."""
    by_name = {before.period.name: before.customers, after.period.name: after.customers}
    first = params.periods[0]
    if params.get("comparison.reference") == "first" and first.name not in by_name:
        if reference is None:
            raise ValueError(f"comparison.reference is first: the tables of period {first.name} are needed")
        by_name = {first.name: reference.customers, **by_name}
    scored = _scored_segments(by_name, params, first.name)
    return scored[before.period.name], scored[after.period.name]


def _scored_segments(
    by_name: dict[str, pd.DataFrame], params: RunParams, first: str
) -> dict[str, pd.DataFrame]:
    """Segments of each period's customers: on ``first``'s edges, or on each period's own."""
    rfm_params = params.get("rfm")
    if params.get("comparison.reference") == "first":
        return migration.frozen_segments(by_name, rfm_params, reference=first)
    return {
        name: migration.frozen_segments({name: c}, rfm_params, reference=name)[name]
        for name, c in by_name.items()
    }


@dataclass(frozen=True)
class MoveCounts:
    """The counts of a migration matrix: customers before, stayed, moved, gone, and new after."""

    before: int
    stayed: int
    moved: int
    gone: int
    new: int


def move_counts(matrix: pd.DataFrame) -> MoveCounts:
    """Totals of a :func:`analysis_utils.migration.migration_matrix`."""
    segments = [s for s in matrix.index if s != migration.NEW]
    before = int(matrix.loc[segments].to_numpy().sum())
    gone = int(matrix.loc[segments, migration.GONE].sum()) if migration.GONE in matrix.columns else 0
    stayed = sum(int(matrix.loc[s, s]) for s in segments if s in matrix.columns)
    new = int(matrix.loc[migration.NEW].sum()) if migration.NEW in matrix.index else 0
    return MoveCounts(before, stayed, before - stayed - gone, gone, new)


def migration_sentence(matrix: pd.DataFrame, before: PeriodTables, after: PeriodTables) -> str:
    """What happened to the customers of ``before`` in ``after``, and who arrived, in plain words.

    The counts are those of the KPI table: the customers of ``before`` are its customers who
    bought, and the arrivals split into first-time buyers (the KPI's new customers: first order
    on record) and customers back after a break, when there are any.
    """
    counts = move_counts(matrix)
    a, b = before.period.name, after.period.name
    if not counts.before:
        text = f"Nobody bought in {a}."
    else:
        text = (
            f"Of the {counts.before:,} customers who bought in {a}, {counts.stayed:,} "
            f"({counts.stayed / counts.before:.0%}) stayed in their segment in {b}, {counts.moved:,} "
            f"({counts.moved / counts.before:.0%}) moved to another segment and {counts.gone:,} "
            f"({counts.gone / counts.before:.0%}) did not buy again in {b}."
        )
    arrived = "1 customer" if counts.new == 1 else f"{counts.new:,} customers"
    text += f" {arrived} arrived who had not bought in {a}"
    first_timers = after.kpis()["new_customers"]
    if first_timers is not None and first_timers != counts.new:
        back = counts.new - first_timers
        text += f" ({first_timers:,} of them first-time buyers, {back:,} back after a break)"
    arrivals = matrix.loc[migration.NEW].drop(migration.GONE, errors="ignore") if counts.new else None
    if arrivals is not None and counts.new == 1:
        text += f", now in {arrivals.idxmax()}"
    elif arrivals is not None:
        most = "most of them are" if arrivals.max() > counts.new / 2 else "the largest group of them is"
        text += f"; {most} in {arrivals.idxmax()} ({int(arrivals.max()):,})"
    return text + "."


def migration_table(matrix: pd.DataFrame, before: str, after: str) -> Styler:
    """One row per segment of ``before``: customers, kept their segment, moved, gone, main move.

    A tall summary of the migration matrix that fits a portrait page, counts with thousands
    separators. The last column is the segment of ``after`` that most of the row's movers went
    to, "-" when nobody moved. The arrivals are in :func:`migration_sentence`.
    """
    segments = [s for s in matrix.index if s != migration.NEW]
    kept = [c for c in matrix.columns if c != migration.GONE]
    rows = []
    for segment in segments:
        counts = matrix.loc[segment]
        movers = counts[[c for c in kept if c != segment]]
        rows.append(
            {
                f"Segment in {before}": segment,
                "Customers": int(counts.sum()),
                f"Same segment in {after}": int(counts.get(segment, 0)),
                "Moved to another segment": int(movers.sum()),
                f"Did not buy in {after}": int(counts.get(migration.GONE, 0)),
                "Most who moved went to": movers.idxmax() if len(movers) and movers.max() > 0 else MISSING,
            }
        )
    table = pd.DataFrame(rows)
    counts_columns = list(table.columns[1:-1])
    return (
        table.style.format("{:,}", subset=counts_columns)
        .hide(axis="index")
        .set_properties(subset=counts_columns, **{"text-align": "right"})
    )


def check_lines(moves: Mapping[tuple[str, str], pd.DataFrame]) -> list[str]:
    """One line of counts per compared pair (for the analyst's check cell)."""
    lines = []
    for (a, b), matrix in moves.items():
        c = move_counts(matrix)
        lines.append(
            f"{a} -> {b}: {c.before:,} before, {c.stayed:,} stayed, {c.moved:,} moved, "
            f"{c.gone:,} gone, {c.new:,} new"
        )
    return lines
