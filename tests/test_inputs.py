"""Inputs beyond one file: globs, folders, date partitions pruned on the period's as_of; the
engine's out-of-core settings and the engine parameters' checks."""

from __future__ import annotations

import datetime as dt
import sys

import pandas as pd
import pytest
from helpers import CSV_HEADER

from analysis_utils import engine, overview
from analysis_utils.errors import ConfigError, DataError
from analysis_utils.io import input_files, read_transactions

AS_OF = dt.datetime(2024, 3, 1)


def write_csv(path, *rows: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([CSV_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def monthly_folder(tmp_path):
    """lines/year=2024/month=01..04 (one CSV each) and the folder of undated lines."""
    for month in (1, 2, 3, 4):
        write_csv(
            tmp_path / f"lines/year=2024/month={month:02d}/part-0.csv",
            f"{month},c{month},2024-{month:02d}-10 10:00:00,A,1,2",
        )
    write_csv(
        tmp_path / "lines/year=__HIVE_DEFAULT_PARTITION__/month=__HIVE_DEFAULT_PARTITION__/part-0.csv",
        "9,c9,,A,1,2",
    )
    (tmp_path / "lines/_SUCCESS").write_text("")
    return tmp_path / "lines"


def test_partitions_starting_on_or_after_as_of_are_skipped(monthly_folder):
    inputs = input_files(monthly_folder, as_of=AS_OF)
    assert [p.parent.name for p in inputs.files] == [
        "month=01",
        "month=02",
        "month=__HIVE_DEFAULT_PARTITION__",
    ]
    assert (inputs.found, inputs.pruned, inputs.partitions_found, inputs.partitions_read) == (5, 2, 4, 2)
    assert input_files(monthly_folder).pruned == 0  # no period: everything


def test_a_partition_that_starts_before_as_of_is_read_whole(monthly_folder):
    inputs = input_files(monthly_folder, as_of=dt.datetime(2024, 3, 15))  # March starts before
    assert inputs.partitions_read == 3


def test_period_before_every_partition_is_a_data_error(monthly_folder):
    with pytest.raises(DataError, match="every partition starts on or after as_of 2023-06-01"):
        input_files(monthly_folder, as_of=dt.datetime(2023, 6, 1))


def test_prepare_reads_only_needed_partitions_and_says_so(params_for, monthly_folder):
    from analysis_utils import prep

    params = params_for(data={"path": str(monthly_folder)}, prep={"max_unparseable_date_share": 0.5})
    result = prep.prepare(params, params.period("p1"))
    quality = result.quality.set_index("rule")
    assert quality.loc["input", "rows"] == 3  # January, February and the undated line
    assert (
        quality.loc["files", "rows"] == 3 and "of 5 found (2 skipped)" in quality.loc["files", "description"]
    )
    assert (
        quality.loc["partitions", "rows"] == 2 and "of 4 (others" in quality.loc["partitions", "description"]
    )
    assert pd.isna(quality.loc["files", "amount"])
    assert overview.what_was_read("duckdb", result.inputs, result.quality) == (
        "Ran on **DuckDB (embedded)**: read **3 lines** from 3 files (of 5) in 2 of 4 date partitions"
        " (the others start on or after the period's as_of)."
    )


def test_glob_reads_every_matching_file(params_for, tmp_path):
    write_csv(tmp_path / "export_1.csv", "1,a,2024-01-05 10:00:00,A,2,2.5")
    write_csv(tmp_path / "export_2.csv", "2,b,2024-01-06 10:00:00,B,1,10")
    write_csv(tmp_path / "other.csv", "3,c,2024-01-07 10:00:00,B,1,10")
    lines = read_transactions(params_for(data={"path": str(tmp_path / "export_*.csv")})).to_pandas()
    assert sorted(lines["customer_id"]) == ["a", "b"]


def test_glob_without_match_and_mixed_formats_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no file matches"):
        input_files(tmp_path / "nothing_*.csv")
    write_csv(tmp_path / "mixed/a.csv", "1,a,2024-01-05 10:00:00,A,2,2.5")
    (tmp_path / "mixed/b.parquet").write_bytes(b"")
    with pytest.raises(DataError, match="several formats"):
        input_files(tmp_path / "mixed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="folder holds no data file"):
        input_files(tmp_path / "empty")


def test_pruning_is_off_when_lines_after_as_of_are_kept(params_for, monthly_folder):
    from analysis_utils.io import period_inputs

    params = params_for(data={"path": str(monthly_folder)}, prep={"drop_after_as_of": False})
    assert period_inputs(params, params.period("p1")).pruned == 0


def test_duckdb_gets_memory_limit_and_temp_directory(tmp_path):
    con = engine.connect(
        {"backend": "duckdb", "memory_limit": "512MB", "temp_directory": str(tmp_path / "spill")}
    )
    settings = con.raw_sql(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert settings[0] in {"512.0 MiB", "488.2 MiB", "512.0 MB", "488.2 MB"}
    assert settings[1] == str(tmp_path / "spill") and (tmp_path / "spill").is_dir()


def test_engine_parameters_are_checked(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            engine={
                "backend": "sparkle",
                "memory_limit": "2 gigs",
                "spark": {"config": {"executor.memory": "2g"}},
            }
        )
    message = str(raised.value)
    assert "engine.backend must be one of duckdb, spark, got 'sparkle'" in message
    assert "engine.memory_limit must be a number and a unit" in message
    assert "engine.spark.config.executor.memory is not a Spark setting" in message
    assert params_for(engine={"backend": "spark", "memory_limit": "1.5GB"}).get("engine.backend") == "spark"


def test_spark_without_pyspark_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import now fails as if not installed
    with pytest.raises(ConfigError, match=r"PySpark is not installed: pip install 'crm-workbook\[spark\]'"):
        engine.connect({"backend": "spark", "spark": {"master": "", "config": {}}})
