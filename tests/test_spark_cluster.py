"""The sample client on a Spark standalone cluster gives the artifacts DuckDB gives.

A master and one worker start on 127.0.0.1 from the pyspark package's own launcher
(``pyspark/bin/spark-class``, as ``start-master.sh`` and ``start-worker.sh`` of a Spark
distribution call it), then ``crm-workbook run`` runs the sample client's first period (2023) against
``spark://127.0.0.1:<port>``: all seven stages, with two workers whose kernels each hold one Spark
session for all their notebooks. Every table artifact must be the DuckDB run's (``sample_run``) row
for row, money to the cent; the rules and thresholds it writes as JSON exactly. One period, not both:
on the cluster each costs about three minutes of this machine's two cores (both periods with the
comparison: 208 s idle), and the second period adds no Spark work the first does not do.
Skips, with its reason, when PySpark or Java is missing (``make`` installs PySpark).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli
from test_engines import assert_same_tables

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
STARTUP_SECONDS = 120
PERIOD = "2023"
SORT_KEYS = ("customer_id", "order_id", "pseudonym", "segment", "cluster", "cell", "metric", "rule")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(spark_class: Path, main_class: str, *args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("w") as sink:
        return subprocess.Popen(
            [str(spark_class), main_class, *args], stdout=sink, stderr=subprocess.STDOUT, env=env
        )


def wait_for(log: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"the Spark {log.stem} did not start ({text!r} not in its log):\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory) -> Iterator[str]:
    """A standalone master and one worker (2 cores, 2 GB) on 127.0.0.1; yields the master's URL."""
    pyspark = pytest.importorskip("pyspark", reason="PySpark is not installed (pip install .[spark])")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (17), and java is not on the PATH")
    home = Path(pyspark.__file__).parent
    spark_class = home / "bin" / "spark-class"
    folder = tmp_path_factory.mktemp("spark_cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder), "SPARK_LOCAL_IP": "127.0.0.1"}
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    master_log, worker_log = folder / "master.log", folder / "worker.log"
    master = start(
        spark_class, MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0",
        log=master_log, env=env,
    )  # fmt: skip
    worker = None
    try:
        wait_for(master_log, "I have been elected leader", master)
        worker = start(
            spark_class, WORKER_CLASS, url, "--host", "127.0.0.1", "--cores", "2", "--memory", "2g",
            "--webui-port", "0", "--work-dir", str(folder / "work"), log=worker_log, env=env,
        )  # fmt: skip
        wait_for(worker_log, "Successfully registered with master", worker)
        yield url
    finally:
        for process in (worker, master):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)


@pytest.fixture(scope="module")
def cluster_run(spark_cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cluster_reports")
    overrides = (
        "engine.backend=spark",
        f"engine.spark.master={spark_cluster}",
        # the driver (each worker's kernel) on the loopback address the executors reach; one core
        # each, so that the two jobs' sessions share the worker's two cores instead of one waiting
        "engine.spark.config={spark.driver.host: 127.0.0.1, spark.cores.max: 1, spark.executor.cores: 1,"
        " spark.executor.memory: 900m, spark.sql.shuffle.partitions: 2, spark.ui.enabled: false}",
    )
    env = {"PYSPARK_PYTHON": sys.executable}  # the executors' Python: the workbook's own
    args = ["run", "params/clients/sample.yaml", "--out", str(out), "--period", PERIOD, "--jobs", "2"]
    result = run_cli(*args, *(part for value in overrides for part in ("-p", value)), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "sample"


def sorted_table(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    keys = [c for c in SORT_KEYS if c in table.columns] or list(table.columns[:1])
    return table.sort_values(keys, ignore_index=True, kind="stable")


def test_the_cluster_writes_duckdbs_artifacts(cluster_run, sample_run):
    duckdb_dir, spark_dir = sample_run / PERIOD, cluster_run / PERIOD
    tables = sorted(path.name for path in duckdb_dir.glob("*.parquet"))
    assert tables and tables == sorted(path.name for path in spark_dir.glob("*.parquet"))
    for name in tables:
        assert_same_tables(sorted_table(duckdb_dir / name), sorted_table(spark_dir / name))
    for path in duckdb_dir.glob("*.json"):
        if path.name != "manifest.json":
            assert json.loads((spark_dir / path.name).read_text()) == json.loads(path.read_text()), path.name


def test_the_cluster_runs_every_stage_on_spark(cluster_run):
    manifest = json.loads((cluster_run / PERIOD / "manifest.json").read_text())
    assert manifest["params"]["engine"]["backend"] == "spark"
    assert manifest["params"]["engine"]["spark"]["master"].startswith("spark://127.0.0.1:")
