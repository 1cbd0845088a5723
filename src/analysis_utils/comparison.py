"""Period comparison of one client: KPIs across periods and segment migration on a frozen scale.

Reads each period's published artifacts (``reports/<client>/<period>/``) when they exist, and
otherwise computes them through the stage functions (a notebook run stand-alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd

from analysis_utils import kpi, migration, prep, rfm_stage
from analysis_utils.config import Period, RunParams


@dataclass(frozen=True)
class PeriodTables:
    """What the comparison needs of one period."""

    period: Period
    customers: pd.DataFrame
    history: pd.DataFrame


def load_period(params: RunParams, period: Period, published: Path | None) -> PeriodTables:
    """The period's customers and history: from ``published`` run folder if complete, else computed."""
    if published is not None and all(
        (published / f"{n}.parquet").is_file() for n in ("customers", "customer_history")
    ):
        customers = pd.read_parquet(published / "customers.parquet")
        history = pd.read_parquet(published / "customer_history.parquet")
        return PeriodTables(period, customers, history)
    prepared = prep.prepare(params, period)
    orders = ibis.memtable(prepared.orders)
    result = rfm_stage.run_rfm(orders, period.as_of, period.window_days, params.get("rfm"))
    return PeriodTables(period, result.customers, prepared.history.to_pandas())


def kpi_trends(tables: list[PeriodTables]) -> pd.DataFrame:
    """One row per period (in order) with every KPI of :func:`analysis_utils.kpi.period_kpis`."""
    rows = [{"period": t.period.name, **kpi.period_kpis(t.customers, t.history, t.period)} for t in tables]
    return pd.DataFrame(rows)


def migrations(tables: list[PeriodTables], params: RunParams) -> dict[tuple[str, str], pd.DataFrame]:
    """Migration matrix of each pair of consecutive periods, scored as ``comparison.reference`` says.

    ``first``: every period on the first period's edges; ``own``: each period on its own edges.
    """
    by_name = {t.period.name: t.customers for t in tables}
    rfm_params = params.get("rfm")
    if params.get("comparison.reference") == "first":
        scored = migration.frozen_segments(by_name, rfm_params, reference=tables[0].period.name)
    else:
        scored = {
            name: migration.frozen_segments({name: c}, rfm_params, reference=name)[name]
            for name, c in by_name.items()
        }
    names = [t.period.name for t in tables]
    return {
        (a, b): migration.migration_matrix(scored[a], scored[b])
        for a, b in zip(names, names[1:], strict=False)
    }
