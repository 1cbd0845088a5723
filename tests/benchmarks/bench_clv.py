"""Benchmark of stage 05 (the three purchase models compared on the holdout, the chosen one and
Gamma-Gamma fitted, P(alive), expected purchases and spend, CLV, and the 80% intervals), and
lifetimes' BG/NBD and Pareto/NBD fitters beside the project's on the same summary.

    python tests/benchmarks/bench_clv.py [--customers 500000] [--lines 1e7]
        [--lifetimes-sizes 500000 50000] [--lifetimes-timeout 600] [--write]

Three measurements, each in fresh subprocesses (imports done before the clock starts):

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
- ``stage`` (skipped with ``--lines 0``): ``clv_stage.future_value`` on the ``--lines``-line order file of
  bench_rfm.py (data/bench/rfm_orders_<n>.parquet: 500,000 customers over two years), all history
  before 2025-01-01, with the defaults (intervals included): everything stage 05 computes.
- ``lifetimes`` (skipped with ``--lifetimes-sizes 0``): for each of ``--lifetimes-sizes`` customers
  (default ``--customers`` and 50,000, so that a ratio exists when lifetimes' Pareto/NBD times out
  at the full size), the ``model`` summary at the end of the holdout (x, t_x, T in weeks), which the
  ``fit`` step fits. A child in the project's environment simulates it, writes x, t_x and T to a
  temporary Parquet file and times, per model (BG/NBD, Pareto/NBD),
  ``clv_models.PURCHASE_MODELS[model].fit`` (the fit with its convergence report: two starts), the
  single fit (``clv.fit_bgnbd``, ``clv_models.fit_pareto_nbd``: what lifetimes does) and every
  customer's expected purchases over the CLV horizon (12 months = 52.18 weeks). Then, per model, a
  child in .venv-bench (tests/benchmarks/requirements-bench.txt; bench_rfm.BENCH_PYTHON) reads that
  file and times ``lifetimes.BetaGeoFitter(penalizer_coef=0.0).fit`` or
  ``lifetimes.ParetoNBDFitter(penalizer_coef=0.0).fit`` on the same rows (one per customer, no
  weights, as lifetimes is fed its own summary) and ``conditional_expected_number_of_purchases_up_to_time``
  over the same horizon for every customer. A lifetimes child still running after
  ``--lifetimes-timeout`` seconds is killed and reported as timed out. Reported: the seconds,
  lifetimes / project, both sets of parameters, the largest relative difference of a parameter
  (relative to the project's) and the relative difference of the total predicted purchases.
  Without .venv-bench the lifetimes cells say "not run: .venv-bench missing".

``peak MB`` is the child's maximum resident set size (``os.wait4`` rusage). ``--write`` fills the
``bench_clv`` markers of docs/benchmarks.md with the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# sibling modules: Python puts the script's folder on sys.path
from bench_rfm import BENCH_PYTHON, ensure_orders
from results import cpu_busy, write_table

HOLDOUT_WEEKS = 26.0
SMALL_CUSTOMERS = 50_000
"""The second size of the lifetimes comparison (lifetimes' Pareto/NBD may time out at the first)."""
COMPARED = {"bgnbd": "BetaGeoFitter", "paretonbd": "ParetoNBDFitter"}
"""The project's purchase models compared with lifetimes, and lifetimes' fitter of each."""
MISSING = "not run: .venv-bench missing"


# --------------------------------------------------------------------------- children


def simulated_summaries(customers: int):
    """The ``model`` measurement's customers: the calibration summary with its holdout (``actual``,
    ``holdout_last``) and the summary (x, t_x, T, customer_id) at the end of the holdout."""
    import numpy as np

    from analysis_utils import clv, clv_choice

    truth = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    observed_days = np.random.default_rng(1).integers(7, 729, customers)  # whole days, as from dates
    simulated = clv.simulate_bgnbd(truth, observed_days / 7, seed=2, holdout=HOLDOUT_WEEKS)
    days = np.floor(simulated[["t_x", "T", "holdout_last"]] * 7) / 7  # purchase times fall on days too
    calibration = days.assign(
        customer_id=np.arange(customers).astype(str), x=simulated["x"], actual=simulated["holdout_purchases"]
    )
    summary = clv_choice.end_summary(calibration, HOLDOUT_WEEKS).assign(
        customer_id=calibration["customer_id"]
    )
    return calibration, summary


def model_child(customers: int) -> dict:
    """The ``model`` measurement: compare, fit, predict and intervals on simulated customers."""
    import numpy as np

    from analysis_utils import clv, clv_choice, clv_value, config, paths
    from analysis_utils.clv_models import PURCHASE_MODELS

    settings = config.load_yaml(paths.DEFAULTS_FILE)["clv"]
    spend_truth = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    calibration, summary = simulated_summaries(customers)
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
    """The ``stage`` measurement: clv_stage.future_value on an order file of bench_rfm.py."""
    import datetime as dt

    import ibis

    from analysis_utils import clv_stage, config, paths

    settings = config.load_yaml(paths.DEFAULTS_FILE)["clv"]  # the defaults, as a client without overrides
    start = time.perf_counter()
    orders = ibis.duckdb.connect().read_parquet(path)
    result = clv_stage.future_value(orders, None, dt.datetime(2025, 1, 1), settings)
    seconds = time.perf_counter() - start
    return {
        "customers": len(result.values),
        "repeat_buyers": result.gamma_gamma.n_customers,
        "chosen": result.model,
        "trusted": result.trusted,
        "holdout_error": result.holdout.relative_error,
        "total": seconds,
    }


def project_fits_child(customers: int, path: str) -> dict:
    """The project's side of the ``lifetimes`` measurement: simulate the summary, write x, t_x, T to
    ``path`` (Parquet) and time, per compared model, the fit with its report, the single fit and
    every customer's expected purchases over the CLV horizon."""
    from dataclasses import asdict

    import numpy as np

    from analysis_utils import clv, clv_models, config, paths

    settings = config.load_yaml(paths.DEFAULTS_FILE)["clv"]
    horizon = settings["horizon_months"] * clv.DAYS_PER_MONTH / clv.TIME_UNIT_DAYS["weeks"]
    _, summary = simulated_summaries(customers)
    summary[["x", "t_x", "T"]].to_parquet(path, index=False)
    x, t_x, T = (summary[column].to_numpy(dtype="float64") for column in ("x", "t_x", "T"))
    single = {"bgnbd": clv.fit_bgnbd, "paretonbd": clv_models.fit_pareto_nbd}
    result = {"customers": len(summary), "horizon": horizon}
    for name in COMPARED:
        model = clv_models.PURCHASE_MODELS[name]
        clock = time.perf_counter()
        report = model.fit(summary)
        fit_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        single[name](summary)
        single_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        predicted = model.expected_purchases(report.fit.params, x, t_x, T, horizon)
        result[name] = {
            "fit": fit_seconds,
            "single_fit": single_seconds,
            "predict": time.perf_counter() - clock,
            "params": asdict(report.fit.params),
            "total_purchases": float(np.sum(predicted)),
            "flagged": report.flagged,
        }
    return result


def lifetimes_child(name: str, path: str, horizon: float) -> dict:
    """lifetimes' side of the ``lifetimes`` measurement (run with .venv-bench's python): fit the
    ``name`` model's fitter on the summary in ``path`` and predict every customer's conditional
    expected purchases over ``horizon`` (time unit of the summary); seconds, parameters, total."""
    import importlib.metadata
    import platform

    import lifetimes
    import numpy as np
    import pandas as pd

    summary = pd.read_parquet(path)
    x, t_x, T = (summary[column].to_numpy() for column in ("x", "t_x", "T"))
    clock = time.perf_counter()
    fitter = getattr(lifetimes, COMPARED[name])(penalizer_coef=0.0).fit(x, t_x, T)
    fit_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    predicted = fitter.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T)
    predict_seconds = time.perf_counter() - clock
    packages = ("lifetimes", "numpy", "pandas", "scipy", "autograd")
    return {
        "fit": fit_seconds,
        "predict": predict_seconds,
        "params": {key: float(value) for key, value in fitter.params_.items()},
        "total_purchases": float(np.sum(predicted)),
        "versions": {"python": platform.python_version()}
        | {package: importlib.metadata.version(package) for package in packages},
    }


CHILDREN = {
    "model": lambda customers: model_child(int(customers)),
    "stage": stage_child,
    "project-fits": lambda customers, path: project_fits_child(int(customers), path),
    "lifetimes": lambda name, path, horizon: lifetimes_child(name, path, float(horizon)),
}
"""The children by ``--child`` kind; each takes the command line's strings."""


# --------------------------------------------------------------------------- parent


def measure(*args: str, python: Path | str = sys.executable, timeout: float | None = None) -> dict | None:
    """Run this script as a child with ``args`` (under ``python``); its JSON result plus peak memory
    and CPU busy before. With ``timeout``: a child still running after that many seconds is killed
    and the result is None."""
    busy = cpu_busy()
    process = subprocess.Popen([str(python), __file__, *args], stdout=subprocess.PIPE, text=True)
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    process.stdout.close()
    if timer:
        timer.cancel()
    if expired.is_set():
        return None
    if status != 0:
        raise SystemExit(f"benchmark child {' '.join(args)} failed with status {status}")
    return json.loads(output.strip().splitlines()[-1]) | {"peak_mb": usage.ru_maxrss / 1024, "cpu_busy": busy}


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table, the first column left-aligned and the others right-aligned."""
    rule = ("---", *["---:"] * (len(header) - 1))
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, rule, *rows])


def model_rows(model: dict, stage: dict | None, lines: int) -> list[tuple[str, ...]]:
    """The rows of the ``model`` measurement and, if run, of the ``stage`` one."""
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
    if stage:
        rows.append(
            (
                f"stage 05 on {lines:,} lines (summary, choice, fits, CLV, intervals)",
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
    return rows


MODEL_HEADER = (
    "measurement",
    "customers",
    "repeat buyers",
    "chosen",
    "compare 3 models s",
    "fit s",
    "predict s",
    "total s",
    "intervals B=100 s",
    "peak MB",
    "CPU busy before",
)
LIFETIMES_HEADER = (
    "model",
    "customers",
    "project fit s (report: 2 starts)",
    "project one fit s",
    "lifetimes fit s",
    "lifetimes / project fit",
    "lifetimes / project one fit",
    "predict s project / lifetimes",
    "project parameters",
    "lifetimes parameters",
    "max rel. diff parameters",
    "rel. diff total purchases",
    "CPU busy before (project / lifetimes)",
)


def compare_lifetimes(customers: int, timeout: float) -> tuple[list[tuple[str, ...]], dict | None]:
    """The ``lifetimes`` measurement at one size: its table rows (one per compared model) and the
    package versions of .venv-bench (None if lifetimes did not run)."""
    with tempfile.TemporaryDirectory(prefix="bench_clv_") as folder:
        path = str(Path(folder) / "summary.parquet")
        project = measure("--child", "project-fits", str(customers), path)
        print(json.dumps(project, indent=1), file=sys.stderr)
        theirs: dict[str, dict | str] = {}
        for name in COMPARED:
            if not BENCH_PYTHON.exists():
                theirs[name] = MISSING
                continue
            args = ("--child", "lifetimes", name, path, str(project["horizon"]))
            result = measure(*args, python=BENCH_PYTHON, timeout=timeout)
            theirs[name] = result if result is not None else f"timed out after {timeout:.0f} s"
            print(json.dumps(theirs[name], indent=1), file=sys.stderr)
    rows = [lifetimes_row(name, project, theirs[name]) for name in COMPARED]
    versions = next((result["versions"] for result in theirs.values() if isinstance(result, dict)), None)
    return rows, versions


def lifetimes_row(name: str, project: dict, theirs: dict | str) -> tuple[str, ...]:
    """One row of the ``lifetimes`` table: ``theirs`` is lifetimes' result or why there is none."""
    ours = project[name]

    def params(values: dict) -> str:
        return ", ".join(f"{key} {value:.4g}" for key, value in values.items())

    common = (
        {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD"}[name],
        f"{project['customers']:,}",
        f"{ours['fit']:.2f}",
        f"{ours['single_fit']:.2f}",
    )
    if isinstance(theirs, str):
        missing = ("-", "-", "-", f"{project['cpu_busy']:.0%} / -")
        return (*common, theirs, "-", "-", f"{ours['predict']:.2f} / -", params(ours["params"]), *missing)
    ours_params = ours["params"]
    param_diff = max(abs(theirs["params"][key] - value) / abs(value) for key, value in ours_params.items())
    total_diff = abs(theirs["total_purchases"] - ours["total_purchases"]) / ours["total_purchases"]
    return (
        *common,
        f"{theirs['fit']:.2f}",
        f"**{theirs['fit'] / ours['fit']:.1f}x**",
        f"{theirs['fit'] / ours['single_fit']:.1f}x",
        f"{ours['predict']:.2f} / {theirs['predict']:.2f}",
        params(ours_params),
        params(theirs["params"]),
        f"{param_diff:.1e}",
        f"{total_diff:.1e}",
        f"{project['cpu_busy']:.0%} / {theirs['cpu_busy']:.0%}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--lines", type=float, default=1e7, help="0: skip the stage measurement")
    parser.add_argument(
        "--lifetimes-sizes",
        type=int,
        nargs="+",
        help=f"customers of the lifetimes comparison (default --customers and {SMALL_CUSTOMERS}; 0: skip)",
    )
    parser.add_argument("--lifetimes-timeout", type=float, default=600.0, help="seconds per lifetimes child")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *values = args.child
        print(json.dumps(CHILDREN[kind](*values)))
        return
    model = measure("--child", "model", str(args.customers))
    print(json.dumps(model, indent=1), file=sys.stderr)
    stage = measure("--child", "stage", str(ensure_orders(int(args.lines)))) if args.lines else None
    tables = [markdown_table(MODEL_HEADER, model_rows(model, stage, int(args.lines)))]
    sizes = [size for size in args.lifetimes_sizes or [args.customers, SMALL_CUSTOMERS] if size > 0]
    if sizes:
        rows, versions = [], None
        for size in sizes:
            size_rows, size_versions = compare_lifetimes(size, args.lifetimes_timeout)
            rows += size_rows
            versions = versions or size_versions
        tables.append(markdown_table(LIFETIMES_HEADER, rows))
        if versions:
            tables.append("lifetimes side: " + ", ".join(f"{key} {value}" for key, value in versions.items()))
    print("\n\n".join(tables))
    if args.write:
        write_table("bench_clv", "\n\n".join(tables))


if __name__ == "__main__":
    main()
