"""What a stage notebook needs to know about its run: parameters, period, and the run folder.

The runner executes each notebook with three parameters (the client file, the period name,
the run folder) plus command-line overrides; a notebook opened by hand or by nbval uses its
defaults, which point at the bundled sample and a scratch folder under ``reports/``.
"""

from __future__ import annotations

import functools
import html
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import ibis
import ibis.expr.types as ir
import joblib
import pandas as pd
import pyarrow as pa

from analysis_utils import (
    clv_stage,
    comparison,
    customer360,
    paths,
    ranking,
    risk,
    stages,
)
from analysis_utils.config import Period, RunParams, previous_period
from analysis_utils.engine import connect
from analysis_utils.io import write_parquet
from analysis_utils.loader import load_params

SCRATCH_DIR = paths.REPORTS_DIR / "_notebooks"
"""Where a notebook opened by hand or by nbval keeps the artifacts it computes (reused later by
notebooks run with the same parameters, files and code: :func:`scratch_folder`)."""


def clear_scratch() -> None:
    """Remove every artifact kept in :data:`SCRATCH_DIR`, so the next stand-alone notebook run
    computes its earlier stages with the current code instead of reusing stale ones."""
    shutil.rmtree(SCRATCH_DIR, ignore_errors=True)


@dataclass(frozen=True)
class RunContext:
    """One client x period run: resolved parameters, the period, and where artifacts go."""

    params: RunParams
    period: Period
    run_dir: Path
    overrides: tuple[str, ...] = ()  # the command line's -p overrides (stand-alone stages get them too)

    def artifact_path(self, name: str) -> Path:
        """Path of artifact ``name`` (without extension) as Parquet in the run folder."""
        return self.run_dir / f"{name}.parquet"

    def write_artifact(self, name: str, table: pa.Table | pd.DataFrame) -> Path:
        """Save an artifact reproducibly (same rows, same bytes) and return its path."""
        return write_parquet(table, self.artifact_path(name))

    def write_json(self, name: str, content: dict) -> Path:
        """Save a small JSON artifact (sorted keys, so the same content gives the same bytes)."""
        path = self.run_dir / f"{name}.json"
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(partial, path)
        return path

    @functools.cached_property
    def engine(self) -> ibis.BaseBackend:
        """The run's engine connection (``engine`` parameters), opened on first use."""
        return connect(self.params.get("engine"))

    def require(self, *names: str) -> None:
        """Make sure the artifacts ``names`` (file names) are in the run folder.

        In a runner's run they are: the graph starts a stage after the stages writing what it reads.
        A notebook run stand-alone (JupyterLab, nbval) may miss some: the stages writing them
        (:func:`stages.needed_for`) are then executed into its folder first, each as its notebook
        with this run's parameters (:func:`execution.execute_notebook`), so that no second code
        path computes a stage.
        """
        missing = [name for name in names if not (self.run_dir / name).is_file()]
        if not missing:
            return
        from analysis_utils import execution  # papermill: imported only when a stage must run

        parameters = {
            "client_params": str(self.params.source),
            "period": self.period.name,
            "run_dir": str(self.run_dir),
            "overrides": list(self.overrides),
        }
        for stage in stages.needed_for(missing):
            if not all((self.run_dir / name).is_file() for name in stage.writes):
                execution.execute_notebook(
                    stage.notebook,
                    self.run_dir / stage.notebook,
                    parameters,
                    kernel=self.params.get("run.kernel"),
                    timeout=self.params.get("run.execution_timeout"),
                    warm=self.params.get("run.warm_kernels"),
                )

    def _table(self, name: str) -> pd.DataFrame:
        self.require(f"{name}.parquet")
        return pd.read_parquet(self.artifact_path(name))

    def _engine_table(self, name: str) -> ir.Table:
        self.require(f"{name}.parquet")
        return self.engine.read_parquet(self.artifact_path(name))

    def orders(self) -> ir.Table:
        """Stage 01's orders as an engine table (scanned by the engine, not loaded into pandas)."""
        return self._engine_table("orders")

    def earlier_orders(self) -> ir.Table:
        """Stage 01's orders before the window (customer_id, order_date, amount), for the models."""
        return self._engine_table("earlier_orders")

    def baskets(self) -> ir.Table:
        """Stage 01's baskets (customer_id, order_id, category of the kept purchase lines) as an
        engine table, for the cross-sell of stage 06; no rows when the data carry no category."""
        return self._engine_table("baskets")

    def data_quality(self) -> pd.DataFrame:
        """Stage 01's data-quality table (what each cleaning rule removed, netted or flagged)."""
        return self._table("data_quality")

    def history(self) -> pd.DataFrame:
        """Stage 01's customer history (first order in the file, orders in the previous window)."""
        return self._table("customer_history")

    def customers(self) -> pd.DataFrame:
        """Stage 02's customer table (RFM values, scores, cells and segments)."""
        return self._table("customers")

    def clusters(self) -> pd.DataFrame:
        """Stage 03's clusters."""
        return self._table("clusters")

    def value_matrix(self) -> pd.DataFrame:
        """Stage 04's quadrants."""
        return self._table("value_matrix")

    def period_tables(self) -> comparison.PeriodTables:
        """This period's customers, history and orders, as the period comparison holds them."""
        self.require(*stages.PERIOD_TABLES)
        return comparison.read_period(self.period, self.run_dir)

    def future_value(self) -> clv_stage.FutureValue:
        """Stage 05's fitted lifetime-value model and values."""
        self.require("clv_model.joblib")
        return joblib.load(self.run_dir / "clv_model.joblib")

    def future_values(self) -> pd.DataFrame:
        """Stage 05's ``future_value.parquet``: customer_id and clv.VALUE_COLUMNS per customer the
        model sees."""
        return self._table("future_value")

    def segment_values(self) -> pd.DataFrame:
        """Stage 05's ``segment_value.parquet``: per segment, expected purchases and CLV with their
        80% intervals (outlook.SEGMENT_VALUE_COLUMNS)."""
        return self._table("segment_value")

    def churn_risk(self) -> tuple[risk.ChurnRule, pd.DataFrame]:
        """Stage 05's churn rule and ``churn_risk.parquet`` (the run's one churn-risk definition)."""
        self.require("churn_rule.json")
        record = json.loads((self.run_dir / "churn_rule.json").read_text(encoding="utf-8"))
        return risk.ChurnRule.from_record(record), self._table("churn_risk")

    def customer_360_result(self) -> customer360.Customer360Result:
        """Stage 06's tables computed from the earlier stages (what notebook 06 shows and saves)."""
        groups = [self.clusters(), self.value_matrix()[["customer_id", "quadrant"]], self.future_values()]
        return customer360.build_customer_360(
            self.params,
            self.period,
            self.engine,
            self.customers(),
            self.orders(),
            groups,
            self.segment_moves(),
        )

    def segment_moves(self) -> pd.DataFrame | None:
        """Each customer's segment in the previous period and the change, on the scale of the client
        report's migration matrix (comparison.customer_moves); None without a previous period."""
        before = self.previous()
        if before is None:
            return None
        return comparison.customer_moves(
            self.params, before.period_tables(), self.period_tables(), self.reference_tables()
        )

    def previous(self) -> RunContext | None:
        """The run of the period this one is compared with (config.previous_period), or None."""
        before = previous_period(self.params.periods, self.period)
        return None if before is None else self.other_period(before)

    def reference_tables(self) -> comparison.PeriodTables | None:
        """The first declared period's tables when the comparison scores every period on its scale
        (``comparison.reference: first``) and it is neither this period nor the previous one;
        else None (the comparison then needs no third period)."""
        before = previous_period(self.params.periods, self.period)
        first = (
            None
            if before is None
            else comparison.reference_period(self.params, [self.period.name, before.name])
        )
        return None if first is None else self.other_period(first).period_tables()

    def other_period(self, period: Period) -> RunContext:
        """The run of another period of this client, whose artifacts a stage of this one reads:
        the runner hard-links them into ``periods/<name>/`` of this run (stages.OTHER_PERIODS) once
        that period's stages are done; a notebook run stand-alone uses that period's scratch folder,
        where the stages writing what is read are executed on first use (:meth:`require`)."""
        linked = self.run_dir / stages.OTHER_PERIODS / period.name
        folder = linked if linked.is_dir() else scratch_folder(self.params, period)
        folder.mkdir(parents=True, exist_ok=True)
        return RunContext(params=self.params, period=period, run_dir=folder, overrides=self.overrides)

    def customer_360(self) -> pd.DataFrame:
        """Stage 06's unified customer table, tiers in order."""
        table = self._table("customer_360")
        return table.assign(tier=ranking.ordered_tiers(table["tier"], self.params.get("ranking.tiers")))

    def write_model(self, name: str, model: object) -> Path:
        """Save a fitted model (joblib) so a later period can be transformed the same way."""
        path = self.run_dir / f"{name}.joblib"
        joblib.dump(model, path)
        return path

    def describe(self) -> str:
        """Markdown stating the client, the period and its dates (first and last day), and the currency."""
        period = self.period
        last_day = period.as_of - timedelta(days=1)
        span = (
            f"{period.window_start:%d %b %Y} to {last_day:%d %b %Y}, {period.window_days} days"
            if period.window_days
            else f"all history to {last_day:%d %b %Y}"
        )
        return (
            f"**Client:** {html.escape(str(self.params.get('client.name')))} &nbsp; "
            f"**Period:** {html.escape(period.name)} ({span}) &nbsp; "
            f"**Currency:** {html.escape(str(self.params.get('client.currency')))}"
        )


def open_run(client_params: str, period: str, run_dir: str = "", overrides: Sequence[str] = ()) -> RunContext:
    """Load and validate parameters and prepare the run folder.

    Parameters
    ----------
    client_params
        Client parameter file (relative paths start at the project root).
    period
        Name of a period declared in the client file.
    run_dir
        Folder for this run's artifacts; empty = :func:`scratch_folder`.
    overrides
        ``key.sub=value`` overrides, as on the command line.
    """
    params = load_params(client_params, overrides)
    chosen = params.period(period)
    folder = paths.resolve(run_dir) if run_dir else scratch_folder(params, chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return RunContext(params=params, period=chosen, run_dir=folder, overrides=tuple(overrides))


def compared_tables(
    params: RunParams, periods: Sequence[Period], published: Path | None, overrides: Sequence[str] = ()
) -> tuple[list[comparison.PeriodTables], comparison.PeriodTables | None]:
    """The tables of the compared ``periods`` and the reference period's (comparison.reference_period;
    None when it is not needed or among ``periods``). Each comes from its run in the ``published``
    client folder when that run holds them, else from its stand-alone run (:meth:`RunContext.require`
    executes its stages 01-02 there on first use)."""

    def tables(period: Period) -> comparison.PeriodTables:
        folder = published / period.name if published is not None else None
        if folder is not None and all((folder / name).is_file() for name in comparison.PUBLISHED):
            return comparison.read_period(period, folder)
        folder = scratch_folder(params, period)
        folder.mkdir(parents=True, exist_ok=True)
        return RunContext(params, period, folder, tuple(overrides)).period_tables()

    reference = comparison.reference_period(params, [period.name for period in periods])
    return [tables(period) for period in periods], None if reference is None else tables(reference)


def scratch_folder(params: RunParams, period: Period) -> Path:
    """``reports/_notebooks/<client>/<period>/<key>``: the stand-alone folder of these resolved
    parameters, the files they name and the code the notebooks import (:func:`stages.params_key`),
    so that a notebook run with other overrides never reuses artifacts computed with different ones."""
    return SCRATCH_DIR / params.client / period.name / stages.params_key(params, period.name)[:16]
