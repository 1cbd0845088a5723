"""Constants and helpers shared by the test modules (imported as ``helpers``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from analysis_utils import paths

CSV_COLUMNS = {
    "customer_id": "cust",
    "order_id": "inv",
    "order_date": "date",
    "product_id": "sku",
    "quantity": "qty",
    "unit_price": "price",
}
CSV_HEADER = "inv,cust,date,sku,qty,price"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m analysis_utils`` as a user would; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "analysis_utils", *args],
        capture_output=True,
        text=True,
        cwd=cwd or paths.PROJECT_ROOT,
        timeout=600,
    )
