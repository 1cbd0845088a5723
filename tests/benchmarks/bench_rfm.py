"""Benchmark of stage 02 against the ways analysts build RFM tables today.

    python tests/benchmarks/bench_rfm.py [--lines 1e6 1e7] [--repeat 3] [--write]

Three methods on the same order lines (customer_id, order_id, order_date, amount; 500,000
customers; seeded), each in a fresh process, from reading the Parquet file to its result:

- workbook: Ibis on DuckDB builds the customer table (rfm.customer_frame), then RFMScorer scores
  and the segment map names every customer (median of ``--repeat`` runs);
- tutorial: the recipe of most blog posts: pandas groupby with lambdas, rank(method="first") +
  qcut scores, a segment from a Python function applied per row (one run);
- lifetimes: ``summary_data_from_transaction_data`` (one run), in .venv-bench
  (see requirements-bench.txt); it yields frequency/recency/T/monetary only, no scores or segments.

Peak memory is the child's maximum resident set size. ``--write`` fills the ``bench_rfm`` markers
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from results import run_child, write_table  # sibling module: Python puts the script's folder on sys.path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "bench"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
AS_OF = "2025-01-01"
CUSTOMERS = 500_000


def ensure_lines(n: int, seed: int = 1) -> Path:
    """n order lines (about 3 lines per order) written once to data/bench/."""
    path = DATA / f"rfm_lines_{n}.parquet"
    if path.is_file():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_orders = n // 3
    order_of_line = np.sort(rng.integers(0, n_orders, n))
    customer_of_order = (rng.pareto(1.2, n_orders) * 40_000).astype(np.int64) % CUSTOMERS
    seconds = rng.integers(0, 730 * 86_400, n_orders)
    table = pa.table(
        {
            "customer_id": pa.array(np.char.zfill(customer_of_order[order_of_line].astype(str), 6)),
            "order_id": pa.array(order_of_line.astype(str)),
            "order_date": pa.array(
                np.datetime64("2023-01-01") + seconds[order_of_line].astype("timedelta64[s]")
            ),
            "amount": pa.array(np.round(rng.lognormal(2.5, 1.0, n), 2)),
        }
    )
    pq.write_table(table, path)
    return path


def workbook(path: str) -> int:
    import datetime as dt

    import ibis

    from analysis_utils import rfm, segments

    orders = ibis.duckdb.connect().read_parquet(path)
    customers = rfm.customer_frame(orders, dt.datetime.fromisoformat(AS_OF), None)
    positive, _ = rfm.split_nonpositive(customers)
    scored = rfm.RFMScorer().fit_transform(positive)
    scored["segment"] = segments.load_segment_map().assign(scored, n_bins=5)
    return len(scored)


def tutorial(path: str) -> int:
    import pandas as pd

    df = pd.read_parquet(path)
    as_of = pd.Timestamp(AS_OF)
    table = df.groupby("customer_id").agg(
        {
            "order_date": lambda x: (as_of - x.max()).days,
            "order_id": lambda x: x.nunique(),
            "amount": lambda x: x.sum(),
        }
    )
    table.columns = ["recency", "frequency", "monetary"]
    table["r"] = pd.qcut(table["recency"].rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
    table["f"] = pd.qcut(table["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    table["m"] = pd.qcut(table["monetary"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)

    def segment(row):
        if row["r"] >= 4 and row["f"] >= 4:
            return "Champions"
        if row["r"] >= 3 and row["f"] >= 3:
            return "Loyal"
        if row["r"] >= 4:
            return "New"
        if row["r"] <= 2 and row["f"] >= 3:
            return "At Risk"
        return "Lost"

    table["segment"] = table.apply(segment, axis=1)
    return len(table)


def lifetimes(path: str) -> int:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    df = pd.read_parquet(path)
    summary = summary_data_from_transaction_data(
        df, "customer_id", "order_date", monetary_value_col="amount", observation_period_end=AS_OF
    )
    return len(summary)


METHODS = {"workbook": workbook, "tutorial": tutorial, "lifetimes": lifetimes}


def child(method: str, path: str) -> None:
    started = time.perf_counter()
    customers = METHODS[method](path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "customers": customers}))


def run(method: str, path: Path) -> dict:
    python = BENCH_PYTHON if method == "lifetimes" else Path(sys.executable)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return run_child(__file__, "--child", method, str(path), python=str(python), env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    rows = [
        "| method | lines | customers | seconds | peak MB | workbook is faster by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n in (int(x) for x in args.lines):
        path = ensure_lines(n)
        ours = [run("workbook", path) for _ in range(args.repeat)]
        ours_seconds = statistics.median(r["seconds"] for r in ours)
        results = {
            "workbook": {**ours[0], "seconds": ours_seconds, "peak_mb": max(r["peak_mb"] for r in ours)}
        }
        for method in ("lifetimes", "tutorial"):
            results[method] = run(method, path) if method != "lifetimes" or BENCH_PYTHON.exists() else None
        for method, result in results.items():
            if result is None:
                rows.append(f"| {method} | {n:,} | - | not installed (.venv-bench) | - | - |")
                continue
            speedup = "-" if method == "workbook" else f"{result['seconds'] / ours_seconds:.1f}x"
            rows.append(
                f"| {method} | {n:,} | {result['customers']:,} | {result['seconds']:.2f} "
                f"| {result['peak_mb']:,.0f} | {speedup} |"
            )
            print(rows[-1], flush=True)
    if args.write:
        write_table("bench_rfm", "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
