"""Benchmark of stage 05 (BG/NBD + Gamma-Gamma fit, P(alive), expected purchases and spend, CLV).

    python tests/benchmarks/bench_clv.py [--customers 500000] [--lines 1e7] [--write]

Two measurements, each in a fresh subprocess (imports done before the clock starts):

- ``model``: ``--customers`` customers simulated from BG/NBD (r 0.243, alpha 4.414, a 0.793,
  b 2.426, weeks; observed for a whole number of days, uniform in 7..728, and purchase times
  floored to days, as the workbook's summary from calendar dates gives them) and Gamma-Gamma
  (p 6.25, q 3.74, gamma 15.44), seeded. Timed: ``fit_bgnbd``, ``fit_gamma_gamma``, then
  ``customer_lifetime_value`` (P(alive), expected purchases over 12 months, expected spend,
  discounted CLV) for every customer. This is the issue's target: fit + predict under 30 s.
- ``stage``: ``clv.future_value`` on the ``--lines``-line order file of bench_rfm.py
  (data/bench/rfm_orders_<n>.parquet: 500,000 customers over two years), all history before
  2025-01-01: the customer summary from the orders (DuckDB), both fits, the calibration/holdout
  refit and check, and CLV: everything stage 05 computes.

``peak MB`` is the child's maximum resident set size (``os.wait4`` rusage). ``--write`` fills the
``bench_clv`` markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench_rfm import ensure_orders  # sibling module: Python puts the script's folder on sys.path
from results import cpu_busy, write_table


def model_child(customers: int) -> dict:
    import numpy as np

    from analysis_utils import clv

    truth = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend_truth = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    observed_days = np.random.default_rng(1).integers(7, 729, customers)  # whole days, as from dates
    summary = clv.simulate_bgnbd(truth, observed_days / 7, seed=2)
    summary["t_x"] = np.floor(summary["t_x"] * 7) / 7  # purchase times fall on days too
    repeat = (summary["x"] > 0).to_numpy()
    spend = np.full(customers, np.nan)
    spend[repeat] = clv.simulate_gamma_gamma(spend_truth, summary.loc[repeat, "x"], seed=3)
    summary = summary.assign(customer_id=np.arange(customers).astype(str), mean_repeat_spend=spend)
    timings = {}
    start = time.perf_counter()
    bgnbd = clv.fit_bgnbd(summary)
    timings["fit_bgnbd"] = time.perf_counter() - start
    gamma_gamma = clv.fit_gamma_gamma(summary)
    timings["fit_gamma_gamma"] = time.perf_counter() - start - timings["fit_bgnbd"]
    values = clv.customer_lifetime_value(bgnbd.params, gamma_gamma.params, summary, 12, 0.1, "weeks")
    timings["predict"] = time.perf_counter() - start - timings["fit_bgnbd"] - timings["fit_gamma_gamma"]
    timings["total"] = time.perf_counter() - start
    return {
        "customers": customers,
        "repeat_buyers": int(repeat.sum()),
        "distinct_triples": int(len(summary[["x", "t_x", "T"]].drop_duplicates())),
        "converged": bool(bgnbd.converged and gamma_gamma.converged),
        "clv_total": float(values["clv"].sum()),
        **timings,
    }


def stage_child(path: str) -> dict:
    import datetime as dt

    import ibis

    from analysis_utils import clv, config, paths

    settings = config.load_yaml(paths.DEFAULTS_FILE)["clv"]  # the defaults, as a client without overrides
    start = time.perf_counter()
    orders = ibis.duckdb.connect().read_parquet(path)
    result = clv.future_value(orders, None, dt.datetime(2025, 1, 1), settings)
    seconds = time.perf_counter() - start
    return {
        "customers": len(result.values),
        "repeat_buyers": result.gamma_gamma.n_customers,
        "trusted": result.trusted,
        "holdout_error": result.holdout.relative_error,
        "total": seconds,
    }


def measure(*args: str) -> dict:
    """Run this script as a child with ``args``; its JSON result plus peak memory and CPU before."""
    busy = cpu_busy()
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark child {' '.join(args)} failed with status {status}")
    return json.loads(output.strip().splitlines()[-1]) | {"peak_mb": usage.ru_maxrss / 1024, "cpu_busy": busy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--lines", type=float, default=1e7)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, value = args.child
        result = model_child(int(value)) if kind == "model" else stage_child(value)
        print(json.dumps(result))
        return
    model = measure("--child", "model", str(args.customers))
    path = ensure_orders(int(args.lines))
    stage = measure("--child", "stage", str(path))
    header = ("measurement", "customers", "repeat buyers", "BG/NBD fit s", "Gamma-Gamma fit s", "predict s")
    header += ("total s", "peak MB", "CPU busy before")
    model_row = (
        f"model ({model['distinct_triples']:,} distinct (x, t_x, T))",
        f"{model['customers']:,}",
        f"{model['repeat_buyers']:,}",
        f"{model['fit_bgnbd']:.2f}",
        f"{model['fit_gamma_gamma']:.2f}",
        f"{model['predict']:.2f}",
        f"**{model['total']:.2f}**",
        f"{model['peak_mb']:,.0f}",
        f"{model['cpu_busy']:.0%}",
    )
    stage_row = (
        f"stage 05 on {int(args.lines):,} lines (summary, fits, holdout check, CLV)",
        f"{stage['customers']:,}",
        f"{stage['repeat_buyers']:,}",
        "-",
        "-",
        "-",
        f"{stage['total']:.2f}",
        f"{stage['peak_mb']:,.0f}",
        f"{stage['cpu_busy']:.0%}",
    )
    rows = [header, ("---", *["---:"] * (len(header) - 1)), model_row, stage_row]
    rows = ["| " + " | ".join(row) + " |" for row in rows]
    table = "\n".join(rows)
    print(table)
    if args.write:
        write_table(
            "bench_clv",
            table,
            heading="Stage 05: lifetime-value model",
            intro=(
                "Command: `python tests/benchmarks/bench_clv.py --write`. Target: fit + predict for 500,000 "
                "customers in under 30 s on a 2-core machine (the `model` row's total). Times in seconds "
                "of wall clock inside a fresh process, imports excluded."
            ),
        )


if __name__ == "__main__":
    main()
