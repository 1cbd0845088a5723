"""Period comparison of one client: KPIs across periods and segment migration on a frozen scale.

Reads each period's published artifacts (``reports/<client>/<period>/``) when they exist, and
otherwise computes them through the stage functions (a notebook run stand-alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis_utils import kpi, migration, prep, rfm_stage
from analysis_utils.config import Period, RunParams


@dataclass(frozen=True)
class PeriodTables:
    """What the comparison needs of one period: customers, history, and the orders (for margins)."""

    period: Period
    customers: pd.DataFrame
    history: pd.DataFrame
    orders: pa.Table | ir.Table

    def kpis(self) -> dict[str, float | int | None]:
        """Every KPI of :func:`analysis_utils.kpi.period_kpis`, discount and margin included."""
        return kpi.period_kpis(self.customers, self.history, self.period, orders=self.orders)


PUBLISHED = ("customers", "customer_history", "orders")


def load_period(params: RunParams, period: Period, published: Path | None) -> PeriodTables:
    """The period's tables: from ``published`` run folder if complete, else computed (stages 01-02)."""
    if published is not None and all((published / f"{n}.parquet").is_file() for n in PUBLISHED):
        customers = pd.read_parquet(published / "customers.parquet")
        history = pd.read_parquet(published / "customer_history.parquet")
        return PeriodTables(period, customers, history, pq.read_table(published / "orders.parquet"))
    prepared = prep.prepare(params, period)
    orders = ibis.memtable(prepared.orders)
    result = rfm_stage.run_rfm(orders, period.as_of, period.window_days, params.get("rfm"))
    return PeriodTables(period, result.customers, prepared.history.to_pandas(), prepared.orders)


def kpi_trends(tables: list[PeriodTables]) -> pd.DataFrame:
    """One row per period (in order) with every KPI of :func:`PeriodTables.kpis`."""
    return pd.DataFrame([{"period": t.period.name, **t.kpis()} for t in tables])


def migrations(tables: list[PeriodTables], params: RunParams) -> dict[tuple[str, str], pd.DataFrame]:
    """Migration matrix of each pair of consecutive periods, scored as ``comparison.reference`` says.

    ``first``: every period on the first period's edges; ``own``: each period on its own edges.
    """
    scored = _scored_segments({t.period.name: t.customers for t in tables}, params, tables[0].period.name)
    names = [t.period.name for t in tables]
    return {
        (a, b): migration.migration_matrix(scored[a], scored[b])
        for a, b in zip(names, names[1:], strict=False)
    }


def migration_between(params: RunParams, before: PeriodTables, after: PeriodTables) -> pd.DataFrame:
    """Migration matrix from ``before`` to ``after``, on the same scale as the period comparison.

    With ``comparison.reference: first`` both are scored on the edges of the client's first
    declared period (computed here when it is neither of the two), so the client report of a
    period and the comparison agree on every move.
    """
    by_name = {before.period.name: before.customers, after.period.name: after.customers}
    first = params.periods[0]
    if params.get("comparison.reference") == "first" and first.name not in by_name:
        by_name = {first.name: load_period(params, first, None).customers, **by_name}
    scored = _scored_segments(by_name, params, first.name)
    return migration.migration_matrix(scored[before.period.name], scored[after.period.name])


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
