"""Benchmark of stage 03: k selection (2..10), final fit and stability check on many customers.

    python tests/benchmarks/bench_clustering.py [--customers 1e6] [--write]

Customers are synthetic (seeded): a mix of lognormal groups in recency, frequency and monetary,
like a real base. Each size runs in a fresh subprocess; the time is wall-clock seconds of
``clustering.run_clustering`` with the default ``clustering`` parameters, and peak memory is the
child's maximum resident set size. ``--write`` puts the table into docs/benchmarks.md between the
``bench_clustering`` markers.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results import write_table  # sibling module: Python puts the script's folder on sys.path

ROOT = Path(__file__).resolve().parents[2]


def synthetic_customers(n: int, seed: int = 0) -> pd.DataFrame:
    """n customers from five behaviour groups (days, orders, currency), vectorised."""
    rng = np.random.default_rng(seed)
    centres = np.array([[10, 12, 900], [40, 4, 250], [150, 2, 80], [300, 1, 40], [20, 1, 30]], dtype=float)
    group = rng.integers(0, len(centres), n)
    noise = rng.lognormal(0, 0.35, size=(n, 3))
    values = centres[group] * noise
    frequency = np.maximum(1, np.round(values[:, 1]))
    return pd.DataFrame(
        {
            "customer_id": np.char.zfill(np.arange(n).astype(str), 7),
            "recency_days": np.round(values[:, 0]),
            "frequency": frequency,
            "monetary": values[:, 2] * frequency,
            "segment": "x",
        }
    ).assign(aov=lambda f: f["monetary"] / f["frequency"])


def measure(n: int) -> dict:
    """Run in this process: time run_clustering on n customers with the default parameters."""
    from analysis_utils import clustering, paths
    from analysis_utils.config import load_yaml

    settings = load_yaml(paths.DEFAULTS_FILE)["clustering"]
    customers = synthetic_customers(n)
    started = time.perf_counter()
    result = clustering.run_clustering(customers, settings)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "customers": n,
        "seconds": round(seconds, 2),
        "peak_mb": round(peak_mb),
        "k": result.model.k_,
        "mean_ari": round(float(result.stability["ari"].mean()), 3),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| customers | k chosen | seconds | peak MB | mean stability ARI |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['customers']:,} | {r['k']} | {r['seconds']} | {r['peak_mb']:,} | {r['mean_ari']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    rows = []
    for n in (int(c) for c in args.customers):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    markdown = table(rows)
    print(markdown)
    if args.write:
        write_table("bench_clustering", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
