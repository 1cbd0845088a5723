"""Benchmark of stage 02 (customer table + RFM scores + segments) against the ways analysts do it today.

    python tests/benchmarks/bench_rfm.py [--sizes 1e6 1e7] [--repeat 3] [--stages] [--write]

Data: order lines with customer_id (text), order_id (text), order_date (timestamp) and amount
(float), seeded vectorised numpy, written once per size to data/bench/rfm_orders_<n>.parquet
(git-ignored). A base of 500,000 customers: the first orders go one to each customer (so all
500,000 appear once there are enough orders), the rest are drawn with gamma(0.5) activity weights
(a few heavy buyers, many one-off ones); 1 + Poisson(1.5) lines per order, 2.5 on average (lines
of one order share its order_id, customer and timestamp); dates uniform over the two years before ``as_of``
(2025-01-01); lognormal amounts rounded to cents; lines in date order, as exports are.

Methods, each measured in a fresh subprocess that first imports what it needs, then is timed
from reading the Parquet file to its result:

- ``workbook``: ``ibis.duckdb.connect().read_parquet`` -> ``rfm.customer_frame(orders, as_of,
  None)`` -> ``rfm.split_nonpositive`` -> ``RFMScorer().fit_transform`` ->
  ``load_segment_map().assign(scored, n_bins=5)``; median of ``--repeat`` runs;
- ``tutorial``: the blog recipe: ``pd.read_parquet``, ``groupby("customer_id").agg`` with three
  lambdas (days since the last order, ``nunique`` orders, sum of amounts), scores from
  ``pd.qcut(x.rank(method="first"), 5)``, a segment from a small Python function applied per row
  (``apply(axis=1)``); one run;
- ``lifetimes``: ``pd.read_parquet`` + ``lifetimes.utils.summary_data_from_transaction_data(df,
  "customer_id", "order_date", monetary_value_col="amount", observation_period_end=as_of)``; one
  run, in .venv-bench (see requirements-bench.txt: lifetimes 0.11.3 with pandas 3.1.1, numpy
  2.4.6, scipy 1.17.1, autograd 1.9.1, dill 0.4.1, pyarrow 26.0.1, Python 3.11). It stops at
  frequency / recency / T / monetary: no scores, no segments, and it counts purchase *days*;
- ``floor`` (reference, not a competitor): ``pyarrow.parquet.read_table`` of the four columns,
  ``dictionary_encode`` of customer_id and one ``np.bincount`` pass; median of ``--repeat`` runs.

Columns of the printed table: ``seconds`` is read-to-result wall time inside the child (imports
done before the clock starts; median or single run as stated in ``runs``); ``process s`` is the
wall time of the whole child process as seen by the parent (interpreter start, imports, reading,
work, exit); ``peak MB`` is the child's maximum resident set size, from the rusage the kernel
returns for that child when it is reaped (``os.wait4``: what ``getrusage(RUSAGE_CHILDREN)`` would
report in a parent that ran only this child), KB on Linux / 1024, largest over the repeats.

``--stages`` also prints where the workbook's time goes (each step timed in one fresh process).
``--write`` fills the ``bench_rfm`` markers of docs/benchmarks.md (``make bench`` passes it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from results import cpu_busy, write_table  # sibling module: Python puts the script's folder on sys.path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "bench"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
AS_OF = "2025-01-01"
CUSTOMERS = 500_000
LINES_PER_ORDER = 2.5
DAYS = 730
SLOW_METHODS = ("lifetimes", "tutorial")
BUSY: list[float] = []  # CPU busy share sampled before each measurement


# --------------------------------------------------------------------------- data


def synthetic_orders(n: int, seed: int = 2) -> pa.Table:
    """n order lines over a base of CUSTOMERS customers (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_orders = int(n / LINES_PER_ORDER)
    # every order has a line; the other lines fall on random orders: 1 + Poisson(1.5) lines per order
    order_of_line = np.concatenate([np.arange(n_orders), rng.integers(0, n_orders, n - n_orders)])
    covered = min(CUSTOMERS, n_orders // 2)
    weights = rng.gamma(0.5, size=CUSTOMERS)
    customer_of_order = np.concatenate(
        [
            rng.permutation(CUSTOMERS)[:covered],
            rng.choice(CUSTOMERS, size=n_orders - covered, p=weights / weights.sum()),
        ]
    )
    seconds_of_order = rng.integers(0, DAYS * 86_400, n_orders)
    start = np.datetime64(AS_OF, "s") - np.timedelta64(DAYS, "D")
    # export order: by time, lines of an order together
    order_of_line = order_of_line[np.lexsort((order_of_line, seconds_of_order[order_of_line]))]
    customer_names = pa.array(np.char.add("C", np.char.zfill(np.arange(CUSTOMERS).astype(str), 7)))
    order_names = pa.array(np.char.add("O", np.char.zfill(np.arange(n_orders).astype(str), 8)))
    return pa.table(
        {
            "customer_id": pa.DictionaryArray.from_arrays(
                pa.array(customer_of_order[order_of_line].astype(np.int32)), customer_names
            ).cast(pa.string()),
            "order_id": pa.DictionaryArray.from_arrays(
                pa.array(order_of_line.astype(np.int32)), order_names
            ).cast(pa.string()),
            "order_date": pa.array(
                (start + seconds_of_order[order_of_line].astype("timedelta64[s]")).astype("datetime64[us]")
            ),
            "amount": pa.array(np.round(rng.lognormal(2.5, 1.0, n), 2)),
        }
    )


def ensure_orders(n: int) -> Path:
    """Write the n-line file once to data/bench/ and return its path."""
    path = DATA / f"rfm_orders_{n}.parquet"
    if not path.is_file():
        DATA.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        pq.write_table(synthetic_orders(n), partial)
        partial.rename(path)
    return path


# --------------------------------------------------------------------------- methods
# Each method is (imports, run): imports happen before the clock starts, run(path, modules) is timed.


def workbook_imports() -> dict:
    import ibis

    from analysis_utils import rfm, rfm_scorer, segments

    return {"ibis": ibis, "rfm": rfm, "rfm_scorer": rfm_scorer, "segments": segments}


def workbook(path: str, m: dict) -> int:
    import datetime as dt

    rfm, rfm_scorer, segments = m["rfm"], m["rfm_scorer"], m["segments"]
    orders = m["ibis"].duckdb.connect().read_parquet(path)
    customers = rfm.customer_frame(orders, dt.datetime.fromisoformat(AS_OF), None)
    positive, _ = rfm.split_nonpositive(customers)
    scored = rfm_scorer.RFMScorer().fit_transform(positive)
    scored["segment"] = segments.load_segment_map().assign(scored, n_bins=5)
    return len(scored)


def workbook_stages(path: str, m: dict) -> dict:
    """Seconds of each step of the workbook path (one process, steps in sequence)."""
    import datetime as dt

    rfm, rfm_scorer, segments = m["rfm"], m["rfm_scorer"], m["segments"]
    as_of = dt.datetime.fromisoformat(AS_OF)
    times, clock = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = now - clock
        clock = now

    orders = m["ibis"].duckdb.connect().read_parquet(path)
    lap("open parquet (read_parquet)")
    expr = rfm.customer_table(orders, as_of, None)
    lap("build Ibis expression")
    arrow = expr.to_pyarrow()
    lap("DuckDB: aggregate + sort -> Arrow")
    frame = arrow.to_pandas()
    lap("Arrow -> pandas")
    customers = frame[list(rfm.CUSTOMER_DTYPES)].astype(rfm.CUSTOMER_DTYPES).reset_index(drop=True)
    lap("astype(CUSTOMER_DTYPES)")
    positive, _ = rfm.split_nonpositive(customers)
    lap("split_nonpositive")
    scored = rfm_scorer.RFMScorer().fit_transform(positive)
    lap("RFMScorer.fit_transform")
    segment_map = segments.load_segment_map()
    lap("load_segment_map")
    scored["segment"] = segment_map.assign(scored, n_bins=5)
    lap("SegmentMap.assign")
    times["customers"] = len(scored)
    return times


def tutorial_imports() -> dict:
    import pandas as pd

    return {"pd": pd}


def tutorial(path: str, m: dict) -> int:
    pd = m["pd"]
    df = pd.read_parquet(path)
    as_of = pd.Timestamp(AS_OF)
    rfm = df.groupby("customer_id").agg(
        {
            "order_date": lambda x: (as_of - x.max()).days,
            "order_id": lambda x: x.nunique(),
            "amount": lambda x: x.sum(),
        }
    )
    rfm.columns = ["recency", "frequency", "monetary"]
    rfm["R"] = pd.qcut(rfm["recency"].rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
    rfm["F"] = pd.qcut(rfm["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    rfm["M"] = pd.qcut(rfm["monetary"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)

    def segment(row):
        if row["R"] >= 4 and row["F"] >= 4:
            return "Champions"
        if row["R"] >= 3 and row["F"] >= 3:
            return "Loyal"
        if row["R"] >= 4:
            return "New"
        if row["R"] <= 2 and row["F"] >= 3:
            return "At Risk"
        return "Lost"

    rfm["segment"] = rfm.apply(segment, axis=1)
    return len(rfm)


def lifetimes_imports() -> dict:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    return {"pd": pd, "summary": summary_data_from_transaction_data}


def lifetimes(path: str, m: dict) -> int:
    df = m["pd"].read_parquet(path)
    summary = m["summary"](
        df, "customer_id", "order_date", monetary_value_col="amount", observation_period_end=AS_OF
    )
    return len(summary)


def floor_imports() -> dict:
    import pyarrow.parquet as pq_

    return {"pq": pq_}


def floor(path: str, m: dict) -> int:
    table = m["pq"].read_table(path, columns=["customer_id", "order_id", "order_date", "amount"])
    codes = table.column("customer_id").combine_chunks().dictionary_encode()
    spend = np.bincount(codes.indices.to_numpy(), weights=table.column("amount").to_numpy())
    return int((spend > 0).sum())


METHODS = {
    "workbook": (workbook_imports, workbook),
    "tutorial": (tutorial_imports, tutorial),
    "lifetimes": (lifetimes_imports, lifetimes),
    "floor": (floor_imports, floor),
    "workbook-stages": (workbook_imports, workbook_stages),
}


def child(method: str, path: str) -> None:
    imports, run = METHODS[method]
    started = time.perf_counter()
    modules = imports()
    imported = time.perf_counter()
    result = run(path, modules)
    seconds = time.perf_counter() - imported
    if isinstance(result, dict):
        print(json.dumps(result))
    else:
        print(json.dumps({"seconds": seconds, "import_s": imported - started, "customers": result}))


# --------------------------------------------------------------------------- parent


def measure(method: str, path: Path) -> dict:
    """Run one method in a fresh process; add its process wall time and peak RSS (MB)."""
    busy = cpu_busy()
    BUSY.append(busy)
    if busy > 0.25:  # other work on a 2-core machine skews every number
        print(f"warning: CPUs {busy:.0%} busy before {method} on {path.name}", file=sys.stderr)
    python = BENCH_PYTHON if method == "lifetimes" else Path(sys.executable)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryFile("w+") as errors:  # a file, so warnings can never fill a pipe
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(python), __file__, "--child", method, str(path)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
        )
        out = proc.stdout.read()
        # wait4 reaps this child and returns its own rusage (peak RSS in KB on Linux)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        proc.stdout.close()
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-3000:]
            raise RuntimeError(f"{method} on {path.name} failed ({proc.returncode}):\n{tail}")
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "process_s": wall, "peak_mb": usage.ru_maxrss / 1024}


def summarise(runs: list[dict]) -> dict:
    """Median seconds of the runs, largest peak."""
    return {
        "customers": runs[0]["customers"],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "process_s": statistics.median(r["process_s"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "runs": "median of 3" if len(runs) == 3 else f"median of {len(runs)}" if len(runs) > 1 else "1 run",
    }


HEADER = [
    "| method | lines | customers | seconds | runs | process s | peak MB | workbook is faster by |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
]


def row(method: str, n: int, result: dict | None, ours_seconds: float) -> str:
    if result is None:
        return f"| {method} | {n:,} | - | not run: .venv-bench missing | - | - | - | - |"
    speedup = "-" if method in ("workbook", "floor") else f"{result['seconds'] / ours_seconds:.1f}x"
    return (
        f"| {method} | {n:,} | {result['customers']:,} | {result['seconds']:.2f} | {result['runs']} "
        f"| {result['process_s']:.2f} | {result['peak_mb']:,.0f} | {speedup} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", "--lines", dest="sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the workbook (and floor); median")
    parser.add_argument("--methods", nargs="+", default=["workbook", "lifetimes", "tutorial", "floor"])
    parser.add_argument("--stages", action="store_true", help="also time each step of the workbook path")
    parser.add_argument("--write", action="store_true", help="fill the bench_rfm table of docs/benchmarks.md")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    rows = list(HEADER)
    print("\n".join(rows), flush=True)
    stage_reports = []
    for n in (int(x) for x in args.sizes):
        path = ensure_orders(n)
        results: dict[str, dict | None] = {}
        for method in args.methods:
            if method == "lifetimes" and not BENCH_PYTHON.exists():
                results[method] = None
                continue
            repeat = 1 if method in SLOW_METHODS else args.repeat
            results[method] = summarise([measure(method, path) for _ in range(repeat)])
        ours = results.get("workbook")
        ours_seconds = ours["seconds"] if ours else float("nan")
        for method, result in results.items():
            rows.append(row(method, n, result, ours_seconds))
            print(rows[-1], flush=True)
        if args.stages:
            stage_reports.append((n, measure("workbook-stages", path)))
    for n, stages in stage_reports:
        print(f"\nWorkbook steps, {n:,} lines ({stages['customers']:,} customers scored):")
        for name, seconds in stages.items():
            if name not in ("customers", "process_s", "peak_mb"):
                print(f"  {name:40s} {seconds:6.2f} s")
    print(f"\nCPU busy in the 0.5 s before each measurement: at most {max(BUSY, default=0):.0%}")
    if args.write:
        write_table("bench_rfm", "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
