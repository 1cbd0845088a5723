"""Benchmark at scale: stages 01-02 on 50 and 100 million lines from a partitioned Parquet folder,
DuckDB held to a memory limit, and Spark (local) beside DuckDB on 10 million lines.

    python tests/benchmarks/bench_scale.py [--duckdb-sizes 5e7 1e8] [--spark-sizes 1e7]
        [--memory-limits 2GB none] [--write]

Data: the lines of bench_prep.py (seeded numpy: 500,000 customers, about 4 lines per invoice, 2%
without customer id, 2% "C" cancellations, 0.5% zero prices, 0.5% exact duplicates, dates over
2023-2024), generated in chunks of 5 million lines (seed and invoice numbers differ per chunk) and
written once per size as a hive-partitioned folder ``data/bench/scale_<n>/year=YYYY/month=MM/
part-<chunk>-0.parquet`` (git-ignored; 24 partitions). Each measurement is one fresh process
that loads a client file (data.path = the folder, one period: as_of 2025-01-01, 365-day window,
so every partition is read) and runs stage 01 (``prep.prepare``, then the three artifacts written
as the notebook does) and stage 02 (orders read back by the engine, ``rfm_stage.run_rfm``: the
customer table, scores, segments). DuckDB runs once per ``--memory-limits`` value
(``engine.memory_limit``; default 2GB, then ``none``: DuckDB's own limit, 80% of RAM) with
``engine.temp_directory`` = data/bench/duckdb_tmp; beside Spark, DuckDB runs with the first limit.
Spark runs with master local[2], spark.driver.memory 6g and 4 shuffle partitions. ``seconds`` are
wall-clock inside the child (stage 01, stage 02, both); ``process s`` the child process as seen from
here (JVM start included); ``peak MB`` the largest resident set of the child and all its descendants
(the JVM for Spark), sampled every 0.2 s with psutil; ``spilled MB`` the largest size of the temp
directory seen meanwhile. ``--write`` puts the table into docs/benchmarks.md between the
``bench_scale`` markers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import yaml
from bench_prep import (
    CLIENT_COLUMNS,
    synthetic_lines,
)  # sibling module: Python puts the script's folder on sys.path
from results import cpu_busy, write_table

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "bench"
TEMP_DIRECTORY = DATA / "duckdb_tmp"
CHUNK = 5_000_000
ROW_GROUP_ROWS = 1_000_000  # without a minimum, each partition gets a row group per input batch (~1,400 rows)
SPARK_CONFIG = {"spark.driver.memory": "6g", "spark.sql.shuffle.partitions": 4, "spark.ui.enabled": False}


def ensure_partitioned(n: int) -> Path:
    """The n-line folder (plus 0.5% duplicates), year=/month= partitioned, written once.

    Chunk ``c`` (5 million lines, seed ``c``) is generated once into data/bench/scale_chunks/;
    the folder of n lines holds hard links to the files of chunks 0 .. n / 5 million - 1, so the
    smaller data sets are the first part of the larger ones.
    """
    folder = DATA / f"scale_{n}"
    if (folder / "_complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for chunk, start in enumerate(range(0, n, CHUNK)):
        for part in sorted(ensure_chunk(chunk, start, min(CHUNK, n - start)).rglob("*.parquet")):
            target = folder / part.relative_to(part.parents[2])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.hardlink_to(part)
    (folder / "_complete").write_text(f"{n}\n")
    return folder


def ensure_chunk(chunk: int, start: int, size: int) -> Path:
    """Write chunk ``chunk`` (lines ``start`` .. ``start + size``) as a hive folder once; return it."""
    folder = DATA / "scale_chunks" / f"chunk_{chunk:03d}_{size}"
    if (folder / "_complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    table = synthetic_lines(size, seed=chunk, first_invoice=100_000 + start)
    table = table.append_column("year", pc.strftime(table["Date"], "%Y"))
    table = table.append_column("month", pc.strftime(table["Date"], "%m"))
    ds.write_dataset(
        table,
        folder,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([("year", pa.string()), ("month", pa.string())]), flavor="hive"
        ),
        basename_template=f"part-{chunk:03d}-{{i}}.parquet",
        min_rows_per_group=ROW_GROUP_ROWS,  # buffer each partition's rows: whole row groups, as
        max_rows_per_group=ROW_GROUP_ROWS,  # exports written by Spark or DuckDB have
    )
    (folder / "_complete").write_text(f"{size}\n")
    print(f"  wrote chunk {chunk} (lines {start:,} to {start + size:,})", file=sys.stderr, flush=True)
    return folder


def client_file(folder: Path, backend: str, memory_limit: str, out: Path) -> Path:
    engine = {"backend": backend}
    if backend == "duckdb":
        engine |= {"temp_directory": str(TEMP_DIRECTORY)}
        if memory_limit != "none":
            engine["memory_limit"] = memory_limit
    else:
        engine |= {"spark": {"master": "local[2]", "config": SPARK_CONFIG}}
    content = {
        "client": {"name": "benchmark"},
        "data": {"path": str(folder), "columns": CLIENT_COLUMNS},
        "periods": [{"name": "all", "as_of": "2025-01-01", "window_days": 365}],
        "engine": engine,
    }
    path = out / f"bench_scale_{backend}.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def measure(client: str, run_dir: str) -> dict:
    """In the child: stages 01 and 02 as a run does them; seconds and counts."""
    from analysis_utils import context, prep, rfm_stage

    run = context.open_run(client, "all", run_dir)
    started = time.perf_counter()
    prepared = prep.prepare(run.params, run.period)  # stage 01 as notebook 01 computes it
    written = {"data_quality": prepared.quality, "customer_history": prepared.history}
    for name, table in {**written, "earlier_orders": prepared.earlier, "orders": prepared.orders}.items():
        run.write_artifact(name, table)
    orders = run.orders()  # read back, as notebook 02 reads it
    stage_01 = time.perf_counter() - started
    result = rfm_stage.run_rfm(orders, run.period.as_of, run.period.window_days, run.params.get("rfm"))
    total = time.perf_counter() - started
    quality = pd.read_parquet(run.artifact_path("data_quality")).set_index("rule")["rows"]
    return {
        "stage_01_s": stage_01,
        "stage_02_s": total - stage_01,
        "seconds": total,
        "lines": int(quality["input"]),
        "files": int(quality["files"]),
        "orders": int(quality["orders"]),
        "customers": len(result.customers),
    }


def run_child(client: Path, run_dir: Path) -> dict:
    """Run one measurement in a fresh process; sample its process tree's memory and the spill folder."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(client), "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peaks = {"rss": 0, "spill": 0}

    def sample() -> None:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [parent, *parent.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                rss = 0
            spill = (
                sum(f.stat().st_size for f in TEMP_DIRECTORY.rglob("*") if f.is_file())
                if TEMP_DIRECTORY.is_dir()
                else 0
            )
            peaks["rss"], peaks["spill"] = max(peaks["rss"], rss), max(peaks["spill"], spill)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{client.name} failed with exit {proc.returncode}")
    return {
        **json.loads(out.strip().splitlines()[-1]),
        "process_s": time.perf_counter() - started,
        "peak_mb": peaks["rss"] / 2**20,
        "spill_mb": peaks["spill"] / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb-sizes", type=float, nargs="*", default=[5e7, 1e8])
    parser.add_argument("--spark-sizes", type=float, nargs="*", default=[1e7])
    parser.add_argument("--memory-limits", nargs="+", default=["2GB", "none"])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.run_dir)))
        return 0
    first_limit = args.memory_limits[0]
    plan = [("spark", int(n), "") for n in args.spark_sizes]
    plan += [("duckdb", int(n), first_limit) for n in args.spark_sizes]
    plan += [
        ("duckdb", int(n), limit)
        for n in args.duckdb_sizes
        for limit in args.memory_limits
        if ("duckdb", int(n), limit) not in plan
    ]
    rows = [
        "| engine | lines read | files | stage 01 s | stage 02 s | seconds | process s | peak MB | spilled MB"
        " | orders | customers | CPU busy before |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for backend, n, limit in sorted(plan, key=lambda item: (item[1], item[0])):
        folder = ensure_partitioned(n)
        busy = cpu_busy()
        with tempfile.TemporaryDirectory() as scratch:
            shutil.rmtree(TEMP_DIRECTORY, ignore_errors=True)
            client = client_file(folder, backend, limit, Path(scratch))
            r = run_child(client, Path(scratch) / "run")
        label = f"duckdb, memory_limit {limit}" if backend == "duckdb" else "spark local[2]"
        rows.append(
            f"| {label} | {r['lines']:,} | {r['files']} | {r['stage_01_s']:.1f} | {r['stage_02_s']:.1f} "
            f"| {r['seconds']:.1f} | {r['process_s']:.1f} | {r['peak_mb']:,.0f} | {r['spill_mb']:,.0f} "
            f"| {r['orders']:,} | {r['customers']:,} | {busy:.0%} |"
        )
        print(rows[-1], flush=True)
    markdown = "\n".join(rows)
    if args.write:
        write_table(
            "bench_scale", markdown, heading="Scale: stages 01-02 on partitioned folders, DuckDB and Spark"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
