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
    clustering,
    clv,
    comparison,
    customer360,
    outlook,
    paths,
    prep,
    ranking,
    rfm,
    rfm_stage,
    risk,
    stages,
    value_matrix,
)
from analysis_utils.config import Period, RunParams, load_params, previous_period
from analysis_utils.engine import connect
from analysis_utils.io import write_parquet

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

    def orders(self) -> ir.Table:
        """Stage 01's orders as an engine table (scanned by the engine, not loaded into pandas).

        A notebook run stand-alone (JupyterLab, nbval) may find no orders in its scratch
        folder: stage 01 is then computed here first, exactly as its notebook does.
        """
        path = self.artifact_path("orders")
        if not path.is_file():
            result = prep.prepare(self.params, self.period)
            self.write_artifact("data_quality", result.quality)
            self.write_artifact("customer_history", result.history)
            self.write_artifact("earlier_orders", result.earlier)
            self.write_artifact("orders", result.orders)
        return self.engine.read_parquet(path)

    def customers(self) -> pd.DataFrame:
        """Stage 02's customer table; computed here first when the notebook runs stand-alone."""
        path = self.artifact_path("customers")
        if not path.is_file():
            period = self.period
            result = rfm_stage.run_rfm(
                self.orders(), period.as_of, period.window_days, self.params.get("rfm")
            )
            self.write_json("rfm_thresholds", result.scorer.to_dict())
            self.write_artifact("customers", result.customers)
        return pd.read_parquet(path)

    def clusters(self) -> pd.DataFrame:
        """Stage 03's clusters; computed here first when the notebook runs stand-alone."""
        path = self.artifact_path("clusters")
        if not path.is_file():
            scored = rfm.scored_only(self.customers())
            self.write_artifact(
                "clusters", clustering.run_clustering(scored, self.params.get("clustering")).clusters
            )
        return pd.read_parquet(path)

    def earlier_orders(self) -> ir.Table:
        """Stage 01's orders before the window (customer_id, order_date, amount), for the models."""
        self.orders()  # computes stage 01 first when the notebook runs stand-alone
        return self.engine.read_parquet(self.artifact_path("earlier_orders"))

    def data_quality(self) -> pd.DataFrame:
        """Stage 01's data-quality table (what each cleaning rule removed, netted or flagged)."""
        self.orders()  # computes stage 01 first when the notebook runs stand-alone
        return pd.read_parquet(self.artifact_path("data_quality"))

    def history(self) -> pd.DataFrame:
        """Stage 01's customer history (first order in the file, orders in the previous window)."""
        self.orders()  # computes stage 01 first when the notebook runs stand-alone
        return pd.read_parquet(self.artifact_path("customer_history"))

    def period_tables(self) -> comparison.PeriodTables:
        """This period's customers, history and orders, as the period comparison holds them."""
        earlier = (
            pd.read_parquet(self.artifact_path("earlier_orders"))
            if self.artifact_path("earlier_orders").is_file()
            else None
        )
        return comparison.PeriodTables(self.period, self.customers(), self.history(), self.orders(), earlier)

    def value_matrix(self) -> pd.DataFrame:
        """Stage 04's quadrants; computed here first when the notebook runs stand-alone."""
        path = self.artifact_path("value_matrix")
        if not path.is_file():
            matrix = value_matrix.matrix_from_params(self.params.get("value_matrix"))
            placed = matrix.fit_transform(rfm.scored_only(self.customers()))
            self.write_artifact("value_matrix", placed[list(value_matrix.ARTIFACT_COLUMNS)])
        return pd.read_parquet(path)

    def future_value(self) -> clv.FutureValue:
        """Stage 05's fitted lifetime-value model and values; computed here first when the notebook
        runs stand-alone."""
        path = self.run_dir / "clv_model.joblib"
        if not path.is_file():
            period = self.period
            result = clv.future_value(
                self.orders(),
                period.window_start,
                period.as_of,
                self.params.get("clv"),
                self.earlier_orders(),
            )
            self.write_model("clv_model", result)
        return joblib.load(path)

    def future_values(self) -> pd.DataFrame:
        """Stage 05's ``future_value.parquet``: customer_id and clv.VALUE_COLUMNS per customer the
        model sees; computed here first when the notebook runs stand-alone."""
        path = self.artifact_path("future_value")
        if not path.is_file():
            self.write_artifact("future_value", self.future_value().values)
        return pd.read_parquet(path)

    def segment_values(self) -> pd.DataFrame:
        """Stage 05's ``segment_value.parquet``: per segment, expected purchases and CLV with their
        80% intervals (outlook.SEGMENT_VALUE_COLUMNS); computed here first when run stand-alone."""
        path = self.artifact_path("segment_value")
        if not path.is_file():
            scored = rfm.scored_only(outlook.with_values(self.customers(), self.future_values()))
            table = outlook.segment_value_intervals(self.future_value(), scored, self.params.get("clv"))
            self.write_artifact("segment_value", table)
        return pd.read_parquet(path)

    def churn_risk(self) -> tuple[risk.ChurnRule, pd.DataFrame]:
        """Stage 05's churn rule and ``churn_risk.parquet`` (the run's one churn-risk definition);
        computed here first when the notebook runs stand-alone."""
        path, rule_path = self.artifact_path("churn_risk"), self.run_dir / "churn_rule.json"
        if not (path.is_file() and rule_path.is_file()):
            future, settings = self.future_value(), self.params.get("churn_risk")
            rule = risk.decide(future, settings, self.params.get("clv"))
            table = risk.score_customers(
                rfm.scored_only(self.customers()), future, rule, settings, self.params.get("clv.time_unit")
            )
            self.write_json("churn_rule", rule.record())
            self.write_artifact("churn_risk", table)
        record = json.loads(rule_path.read_text(encoding="utf-8"))
        return risk.ChurnRule.from_record(record), pd.read_parquet(path)

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
        first, before = self.params.periods[0], previous_period(self.params.periods, self.period)
        if self.params.get("comparison.reference") != "first" or before is None:
            return None
        if first.name in (self.period.name, before.name):
            return None
        return self.other_period(first).period_tables()

    def other_period(self, period: Period) -> RunContext:
        """The run of another period of this client, whose artifacts a stage of this one reads:
        the runner hard-links them into ``periods/<name>/`` of this run (stages.OTHER_PERIODS) once
        that period's stages are done; a notebook run stand-alone uses that period's scratch folder,
        where its stages are computed on first use like this period's."""
        linked = self.run_dir / stages.OTHER_PERIODS / period.name
        folder = linked if linked.is_dir() else scratch_folder(self.params, period)
        folder.mkdir(parents=True, exist_ok=True)
        return RunContext(params=self.params, period=period, run_dir=folder)

    def customer_360(self) -> pd.DataFrame:
        """Stage 06's unified customer table, tiers in order; computed here first when run stand-alone."""
        path = self.artifact_path("customer_360")
        if not path.is_file():
            result = self.customer_360_result()
            self.write_artifact("source_quality", result.sources.quality)
            self.write_artifact("customer_360", result.table)
        table = pd.read_parquet(path)
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
    return RunContext(params=params, period=chosen, run_dir=folder)


def scratch_folder(params: RunParams, period: Period) -> Path:
    """``reports/_notebooks/<client>/<period>/<key>``: the stand-alone folder of these resolved
    parameters, the files they name and the code the notebooks import (:func:`stages.params_key`),
    so that a notebook run with other overrides never reuses artifacts computed with different ones."""
    return SCRATCH_DIR / params.client / period.name / stages.params_key(params, period.name)[:16]
