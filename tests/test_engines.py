"""Same answer everywhere: stages 01-02 of the sample on DuckDB and on Spark (local), and on a
date-partitioned Parquet copy of the sample against its single CSV file.

Stages run with the functions their notebooks call, on the run's engine (``prep.prepare``, then
``rfm_stage.run_rfm`` on the orders read back, as notebooks 01 and 02 do). Spark starts once per
test process (the ``spark_overrides`` session fixture) and runs the stages once, on the partitioned
copy (about a minute on 2 cores): its orders, history and customers must be DuckDB's from the single
CSV file, its data-quality table DuckDB's from the same copy (reading fewer lines changes the read
counts, nothing else). That Spark reads and types the CSV itself as DuckDB does is checked on the
canonical lines.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from analysis_utils import context, paths, prep, rfm_stage
from analysis_utils.engine import connect
from analysis_utils.io import read_transactions
from analysis_utils.loader import load_params

PERIOD = "2024"
SAMPLE_CLIENT = "params/clients/sample.yaml"
MONEY = ("amount", "monetary", "aov")
READ_RULES = ("input", "files", "partitions", "after_as_of")  # what reading fewer files changes


def run_stages(run_dir: Path, *overrides: str) -> dict[str, pd.DataFrame]:
    """Stages 01-02 of the sample's period 2024 into run_dir; every table sorted on its key."""
    run = context.open_run(SAMPLE_CLIENT, PERIOD, str(run_dir), overrides)
    prepared = prep.prepare(run.params, run.period)
    for name, table in (("orders", prepared.orders), ("customer_history", prepared.history)):
        run.write_artifact(name, table)
    settings = run.params.get("rfm")
    customers = rfm_stage.run_rfm(run.orders(), run.period.as_of, run.period.window_days, settings).customers
    read = {name: pd.read_parquet(run.artifact_path(name)) for name in ("orders", "customer_history")}
    return {
        "orders": read["orders"].sort_values(["customer_id", "order_id"], ignore_index=True),
        "history": read["customer_history"].sort_values("customer_id", ignore_index=True),
        "customers": customers.sort_values("customer_id", ignore_index=True),
        "quality": prepared.quality,
    }


def assert_same_tables(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Row for row, same columns and types; money equal to the cent, everything else exactly."""
    assert list(left.columns) == list(right.columns)
    money = [c for c in MONEY if c in left.columns]
    pd.testing.assert_frame_equal(left.drop(columns=money), right.drop(columns=money))
    for column in money:
        assert ((left[column] - right[column]).abs().fillna(0) < 0.005).all(), column


@pytest.fixture(scope="module")
def partitioned_sample(tmp_path_factory) -> Path:
    """The sample's lines as Parquet under year=YYYY/month=MM (every column text, as in the CSV),
    lines whose date does not parse under year=__HIVE_DEFAULT_PARTITION__."""
    text = pd.read_csv(
        paths.SAMPLE_DIR / "transactions.csv", sep=";", dtype=str, keep_default_na=False, na_values=[""]
    )
    lines = pa.Table.from_pandas(text, preserve_index=False)
    dates = pc.strptime(
        pc.utf8_trim_whitespace(lines["Date"]), format="%d/%m/%Y %H:%M", unit="s", error_is_null=True
    )
    lines = lines.append_column("year", pc.strftime(dates, "%Y")).append_column(
        "month", pc.strftime(dates, "%m")
    )
    folder = tmp_path_factory.mktemp("partitioned") / "sample"
    ds.write_dataset(
        lines,
        folder,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([("year", pa.string()), ("month", pa.string())]), flavor="hive"
        ),
    )
    return folder


@pytest.fixture(scope="module")
def duckdb_single(tmp_path_factory) -> dict[str, pd.DataFrame]:
    return run_stages(tmp_path_factory.mktemp("duckdb_single"))


@pytest.fixture(scope="module")
def duckdb_partitioned(tmp_path_factory, partitioned_sample) -> dict[str, pd.DataFrame]:
    return run_stages(tmp_path_factory.mktemp("duckdb_partitioned"), f"data.path={partitioned_sample}")


@pytest.fixture(scope="module")
def spark_partitioned(tmp_path_factory, spark_overrides, partitioned_sample) -> dict[str, pd.DataFrame]:
    directory = tmp_path_factory.mktemp("spark_partitioned")
    return run_stages(directory, *spark_overrides, f"data.path={partitioned_sample}")


@pytest.mark.parametrize("table", ["orders", "history", "customers"])
def test_spark_on_the_partitioned_copy_gives_duckdbs_tables_of_the_single_file(
    duckdb_single, spark_partitioned, table
):
    assert len(duckdb_single[table]) > 0
    assert_same_tables(duckdb_single[table], spark_partitioned[table])


def test_spark_counts_what_duckdb_counts(duckdb_partitioned, spark_partitioned):
    assert_same_tables(duckdb_partitioned["quality"], spark_partitioned["quality"])


def test_spark_reads_and_types_the_sample_csv_as_duckdb_does(spark_overrides):
    """Text columns, dates parsed with data.date_format (bad ones NULL), numbers, trimmed ids."""
    lines = {}
    for name, overrides in (("duckdb", ()), ("spark", spark_overrides)):
        params = load_params(SAMPLE_CLIENT, overrides)
        table = read_transactions(params, connect(params.get("engine"))).to_pyarrow().to_pandas()
        lines[name] = table.sort_values(list(table.columns), ignore_index=True)
    assert lines["duckdb"]["order_date"].isna().sum() > 0  # the sample plants unparseable dates
    assert_same_tables(lines["duckdb"], lines["spark"])


@pytest.mark.parametrize("table", ["orders", "history", "customers"])
def test_partitioned_copy_gives_the_single_files_tables(duckdb_single, duckdb_partitioned, table):
    assert_same_tables(duckdb_single[table], duckdb_partitioned[table])


def test_partitioned_copy_reads_only_partitions_before_as_of(
    duckdb_single, duckdb_partitioned, partitioned_sample
):
    single = duckdb_single["quality"].set_index("rule")
    part = duckdb_partitioned["quality"].set_index("rule")
    skipped_lines = single.loc["input", "rows"] - part.loc["input", "rows"]
    assert skipped_lines > 0  # the sample has lines dated 2025, after the period's as_of
    # every line not read is a line the single file reads only to drop as dated after as_of
    assert single.loc["after_as_of", "rows"] - part["rows"].get("after_as_of", 0) == skipped_lines
    assert part.loc["partitions", "rows"] < int(
        part.loc["partitions", "description"].split("of ")[1].split()[0]
    )
    assert single.loc["files", "rows"] == 1 and "partitions" not in single.index
    others = single.drop(index=[r for r in READ_RULES if r in single.index])
    pd.testing.assert_frame_equal(others, part.drop(index=[r for r in READ_RULES if r in part.index]))
