"""Benchmark of stage 01: read + clean + build orders, from Parquet and from CSV.

    python tests/benchmarks/bench_prep.py [--sizes 1e6 1e7] [--repeat 3] [--write]

Lines are synthetic (seeded, vectorised numpy): 500,000 customers, invoices of about 4 lines on
average, lognormal prices, and the dirt the rules handle (about 2% without customer id, 2%
cancellations with a "C" prefix, 0.5% zero prices, 0.5% exact duplicates). They are written once
per size to data/bench/ (git-ignored): Parquet with typed columns (timestamps, numbers), as
Parquet exports are, and CSV with everything as text, dates as ``YYYY-MM-DDTHH:MM:SS``. Each
measurement runs ``prep.prepare`` (parameters from a client file written to a temporary folder,
one period with as_of after the data and a 365-day window) in a fresh subprocess: the time is the
median wall-clock time of ``--repeat`` runs (seconds), the memory the largest peak resident set
size of those processes (MB). ``--write`` puts the table into docs/benchmarks.md between the
``bench_prep`` markers.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml
from results import run_child, write_table  # sibling module: Python puts the script's folder on sys.path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "bench"
CUSTOMERS = 500_000
START = np.datetime64("2023-01-01T00:00:00")
DAYS = 730
CLIENT_COLUMNS = {  # canonical column -> column of the generated files
    "order_id": "Invoice",
    "customer_id": "Customer",
    "order_date": "Date",
    "product_id": "SKU",
    "quantity": "Qty",
    "unit_price": "Price",
}


def synthetic_lines(n: int, seed: int = 0, first_invoice: int = 100_000) -> pa.Table:
    """n lines plus 0.5% exact duplicates, in client-export shape (text ids, timestamps, numbers).

    Invoice numbers run from ``first_invoice`` (so chunks generated apart do not share invoices).
    """
    rng = np.random.default_rng(seed)
    n_invoices = n // 4
    invoice_of_line = np.sort(rng.integers(0, n_invoices, n))
    customer_of_invoice = rng.integers(0, CUSTOMERS, n_invoices)
    seconds_of_invoice = rng.integers(0, DAYS * 86_400, n_invoices)
    customer = pc.utf8_lpad(pc.cast(pa.array(customer_of_invoice[invoice_of_line]), pa.string()), 6, "0")
    invoice = pc.cast(pa.array(first_invoice + invoice_of_line), pa.string())
    dates = (START + seconds_of_invoice[invoice_of_line].astype("timedelta64[s]")).astype("datetime64[s]")
    quantity = rng.integers(1, 13, n)
    price = np.round(rng.lognormal(1.0, 0.9, n), 2)
    cancelled = rng.random(n) < 0.02
    invoice = pc.if_else(pa.array(cancelled), pc.binary_join_element_wise("C", invoice, ""), invoice)
    quantity[cancelled] = -quantity[cancelled]
    price[rng.random(n) < 0.005] = 0.0
    customer = pc.if_else(pa.array(rng.random(n) < 0.02), pa.scalar(None, pa.string()), customer)
    sku = pc.binary_join_element_wise("SKU", pc.cast(pa.array(rng.integers(0, 5000, n)), pa.string()), "")
    table = pa.table(
        {
            "Invoice": invoice,
            "Customer": customer,
            "Date": pa.array(dates),
            "SKU": sku,
            "Qty": pa.array(quantity),
            "Price": pa.array(price),
        }
    )
    duplicates = rng.choice(n, size=n // 200, replace=False)
    return pa.concat_tables([table, table.take(duplicates)])


def ensure_data(n: int) -> dict[str, Path]:
    """Write the n-line data set once as Parquet and CSV; return both paths."""
    DATA.mkdir(parents=True, exist_ok=True)
    files = {"parquet": DATA / f"lines_{n}.parquet", "csv": DATA / f"lines_{n}.csv"}
    if not all(path.is_file() for path in files.values()):
        table = synthetic_lines(n)
        pq.write_table(table, files["parquet"])  # typed columns, as Parquet exports are
        as_text = pa.array(np.datetime_as_string(table.column("Date").to_numpy(), unit="s"))
        pacsv.write_csv(table.set_column(2, "Date", as_text), files["csv"])  # dates as text, as in CSV
    return files


def client_file(data_path: Path, folder: Path) -> Path:
    content = {
        "client": {"name": "benchmark"},
        "data": {
            "path": str(data_path),
            "columns": CLIENT_COLUMNS,
            "date_format": "%Y-%m-%dT%H:%M:%S",
        },
        "periods": [{"name": "all", "as_of": "2025-01-01", "window_days": 365}],
    }
    path = folder / f"bench_{data_path.suffix.lstrip('.')}.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def measure(client: str) -> dict:
    """Run in this process: stage 01 for the client file; seconds, peak MB and counts."""
    from analysis_utils import prep
    from analysis_utils.loader import load_params

    params = load_params(client)
    started = time.perf_counter()
    result = prep.prepare(params, params.period("all"))
    seconds = time.perf_counter() - started
    quality = result.quality.set_index("rule")["rows"]
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "lines": int(quality["input"]),
        "orders": int(quality["orders"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", "--lines", dest="sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    rows = [
        "| lines | format | seconds (median) | peak MB | orders out | lines per second |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(x) for x in args.sizes):
            for file_format, path in ensure_data(n).items():
                runs = [
                    run_child(__file__, "--child", str(client_file(path, Path(folder))))
                    for _ in range(args.repeat)
                ]
                seconds = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mb"] for r in runs)
                lines = runs[0]["lines"]
                rows.append(
                    f"| {lines:,} | {file_format} | {seconds:.2f} | {peak:,.0f} | {runs[0]['orders']:,} "
                    f"| {lines / seconds:,.0f} |"
                )
                print(rows[-1], flush=True)
    markdown = "\n".join(rows)
    if args.write:
        write_table("bench_prep", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
