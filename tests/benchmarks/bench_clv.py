"""Benchmark of stage 05 (the three purchase models compared on the holdout, the chosen one and
Gamma-Gamma fitted, P(alive), expected purchases and spend, CLV, and the 80% intervals).

    python tests/benchmarks/bench_clv.py [--customers 500000] [--lines 1e7] [--write]

Two measurements, each in a fresh subprocess (imports done before the clock starts):

- ``model``: ``--customers`` customers simulated from BG/NBD (r 0.243, alpha 4.414, a 0.793,
  b 2.426, weeks; observed for a whole number of days, uniform in 7..728, purchase times floored
  to days, as the workbook's summary from calendar dates gives them), with 26 weeks of holdout, and
  Gamma-Gamma (p 6.25, q 3.74, gamma 15.44), seeded. Timed: ``compare`` = BG/NBD, MBG/NBD and
  Pareto/NBD each fitted with its convergence report (a second start) on the calibration summary
  and scored on the holdout (clv_choice.compare_models), then the rule; ``fit`` = the chosen model
  (with its report) and Gamma-Gamma on the summary at the end of the holdout; ``predict`` =
  clv_value.customer_values for every customer (12 months); ``intervals`` = 100 parameter draws
  and every customer's 80% intervals (clv_value.parameter_draws + value_intervals). The issue's
  targets: compare + fit + predict under 30 s, intervals under 60 s.
- ``stage`` (skipped with ``--lines 0``): ``clv.future_value`` on the ``--lines``-line order file of
  bench_rfm.py (data/bench/rfm_orders_<n>.parquet: 500,000 customers over two years), all history
  before 2025-01-01, with the defaults (intervals included): everything stage 05 computes.

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

HOLDOUT_WEEKS = 26.0


def model_child(customers: int) -> dict:
    import numpy as np

    from analysis_utils import clv, clv_choice, clv_value, config, paths
    from analysis_utils.clv_models import PURCHASE_MODELS

    settings = config.load_yaml(paths.DEFAULTS_FILE)["clv"]
    truth = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend_truth = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    observed_days = np.random.default_rng(1).integers(7, 729, customers)  # whole days, as from dates
    simulated = clv.simulate_bgnbd(truth, observed_days / 7, seed=2, holdout=HOLDOUT_WEEKS)
    days = np.floor(simulated[["t_x", "T", "holdout_last"]] * 7) / 7  # purchase times fall on days too
    calibration = days.assign(
        customer_id=np.arange(customers).astype(str), x=simulated["x"], actual=simulated["holdout_purchases"]
    )
    summary = clv_choice.end_summary(calibration, HOLDOUT_WEEKS).assign(
        customer_id=calibration["customer_id"]
    )
    repeat = (summary["x"] > 0).to_numpy()
    spend = np.full(customers, np.nan)
    spend[repeat] = clv.simulate_gamma_gamma(spend_truth, summary.loc[repeat, "x"], seed=3)
    summary = summary.assign(mean_repeat_spend=spend, mean_spend=np.where(repeat, spend, 20.0))
    timings, clock = {}, time.perf_counter()
    scores, _, _ = clv_choice.compare_models(calibration, HOLDOUT_WEEKS)
    chosen = clv_choice.ranked(scores)[0]
    timings["compare"] = time.perf_counter() - clock
    clock = time.perf_counter()
    model = PURCHASE_MODELS[chosen]
    report = model.fit(summary)
    gamma_gamma = clv.fit_gamma_gamma(summary)
    timings["fit"] = time.perf_counter() - clock
    clock = time.perf_counter()
    values = clv_value.customer_values(model, report.fit.params, gamma_gamma.params, summary, settings)
    timings["predict"] = time.perf_counter() - clock
    timings["total"] = timings["compare"] + timings["fit"] + timings["predict"]
    clock = time.perf_counter()
    draws = clv_value.parameter_draws(model, report.fit, gamma_gamma, summary, 100, seed=4)
    bounds, _ = clv_value.value_intervals(model, draws, gamma_gamma.params, summary, settings)
    timings["intervals"] = time.perf_counter() - clock
    return {
        "customers": customers,
        "repeat_buyers": int(repeat.sum()),
        "distinct_triples": int(len(summary[["x", "t_x", "T"]].drop_duplicates())),
        "chosen": chosen,
        "scores": scores[["model", "eligible", "holdout_log_likelihood", "mae", "relative_error"]].to_dict(
            "list"
        ),
        "converged": bool(not report.flagged and gamma_gamma.converged),
        "clv_total": float(values["clv"].sum()),
        "clv_interval_width": float((bounds["clv_high"] - bounds["clv_low"]).median()),
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
        "chosen": result.model,
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
    parser.add_argument("--lines", type=float, default=1e7, help="0: skip the stage measurement")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, value = args.child
        result = model_child(int(value)) if kind == "model" else stage_child(value)
        print(json.dumps(result))
        return
    model = measure("--child", "model", str(args.customers))
    print(json.dumps(model, indent=1), file=sys.stderr)
    header = (
        "measurement",
        "customers",
        "repeat buyers",
        "chosen",
        "compare 3 models s",
        "fit s",
        "predict s",
    )
    header += ("total s", "intervals B=100 s", "peak MB", "CPU busy before")
    rows = [
        (
            f"model ({model['distinct_triples']:,} distinct (x, t_x, T))",
            f"{model['customers']:,}",
            f"{model['repeat_buyers']:,}",
            model["chosen"],
            f"{model['compare']:.2f}",
            f"{model['fit']:.2f}",
            f"{model['predict']:.2f}",
            f"**{model['total']:.2f}**",
            f"**{model['intervals']:.2f}**",
            f"{model['peak_mb']:,.0f}",
            f"{model['cpu_busy']:.0%}",
        )
    ]
    if args.lines:
        stage = measure("--child", "stage", str(ensure_orders(int(args.lines))))
        rows.append(
            (
                f"stage 05 on {int(args.lines):,} lines (summary, choice, fits, CLV, intervals)",
                f"{stage['customers']:,}",
                f"{stage['repeat_buyers']:,}",
                stage["chosen"],
                "-",
                "-",
                "-",
                f"{stage['total']:.2f}",
                "(in total)",
                f"{stage['peak_mb']:,.0f}",
                f"{stage['cpu_busy']:.0%}",
            )
        )
    table = "\n".join(
        "| " + " | ".join(row) + " |" for row in [header, ("---", *["---:"] * (len(header) - 1)), *rows]
    )
    print(table)
    if args.write:
        write_table("bench_clv", table)


if __name__ == "__main__":
    main()
