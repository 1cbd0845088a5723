"""Same answer everywhere: stages 01-02 of the sample on DuckDB and on Spark (local), and on a
date-partitioned Parquet copy of the sample against its single CSV file.

Stages run as a notebook runs them (``context.open_run``, then ``run.customers()``, which builds
stage 01's artifacts first). Spark starts once per test process (the ``spark_overrides`` session
fixture); the three runs on the engines are module fixtures, about a minute each on Spark.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from analysis_utils import context, paths

PERIOD = "2024"
SAMPLE_CLIENT = "params/clients/sample.yaml"
MONEY = ("amount", "monetary", "aov")
READ_RULES = ("input", "files", "partitions", "after_as_of")  # what reading fewer files changes


def run_stages(run_dir: Path, *overrides: str) -> dict[str, pd.DataFrame]:
    """Stages 01-02 of the sample's period 2024 into run_dir; every table sorted on its key."""
    run = context.open_run(SAMPLE_CLIENT, PERIOD, str(run_dir), overrides)
    customers = run.customers()
    read = {name: pd.read_parquet(run.artifact_path(name)) for name in ("orders", "customer_history")}
    return {
        "orders": read["orders"].sort_values(["customer_id", "order_id"], ignore_index=True),
        "history": read["customer_history"].sort_values("customer_id", ignore_index=True),
        "customers": customers.sort_values("customer_id", ignore_index=True),
        "quality": pd.read_parquet(run.artifact_path("data_quality")),
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
def spark_single(tmp_path_factory, spark_overrides) -> dict[str, pd.DataFrame]:
    return run_stages(tmp_path_factory.mktemp("spark_single"), *spark_overrides)


@pytest.fixture(scope="module")
def spark_partitioned(tmp_path_factory, spark_overrides, partitioned_sample) -> dict[str, pd.DataFrame]:
    return run_stages(
        tmp_path_factory.mktemp("spark_partitioned"), *spark_overrides, f"data.path={partitioned_sample}"
    )


@pytest.mark.parametrize("table", ["orders", "history", "customers", "quality"])
def test_spark_gives_duckdbs_tables_on_the_sample(duckdb_single, spark_single, table):
    assert len(duckdb_single[table]) > 0
    assert_same_tables(duckdb_single[table], spark_single[table])


@pytest.mark.parametrize("table", ["orders", "history", "customers", "quality"])
def test_spark_gives_duckdbs_tables_on_the_partitioned_copy(duckdb_partitioned, spark_partitioned, table):
    assert_same_tables(duckdb_partitioned[table], spark_partitioned[table])


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
