"""Constants and helpers shared by the test modules (imported as ``helpers``)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import ibis
import pandas as pd
import yaml

from analysis_utils import paths
from analysis_utils.privacy import SALT_VARIABLE

CSV_COLUMNS = {
    "customer_id": "cust",
    "order_id": "inv",
    "order_date": "date",
    "product_id": "sku",
    "quantity": "qty",
    "unit_price": "price",
}
CSV_HEADER = "inv,cust,date,sku,qty,price"

DEFAULT_PREP = yaml.safe_load(paths.DEFAULTS_FILE.read_text())["prep"]
LINE_COLUMNS = ["customer_id", "order_id", "order_date", "product_id", "quantity", "amount"]


def lines(*rows: tuple, money: Sequence[str] = ()) -> ibis.Table:
    """Canonical lines from (customer, order, date text or None, product, quantity, amount, *money).

    ``money`` names the optional money columns (discount, cost, margin) whose values follow the
    amount in every row, in that order; None is an unreadable value.
    """
    columns = [*LINE_COLUMNS, *money]
    frame = pd.DataFrame(rows, columns=columns)
    frame["order_date"] = pd.to_datetime(frame["order_date"], format="ISO8601")
    numbers = ["quantity", "amount", *money]
    frame = frame.astype(dict.fromkeys(numbers, "float64"))
    schema = {
        "customer_id": "string",
        "order_id": "string",
        "order_date": "timestamp",
        "product_id": "string",
        **dict.fromkeys(numbers, "float64"),
    }
    return ibis.memtable(frame, schema={name: schema[name] for name in columns})


def prep_params(**changes) -> dict:
    """The default ``prep`` parameters with ``changes``; ``returns__policy="drop"`` sets a nested key."""
    params = copy.deepcopy(DEFAULT_PREP)
    for key, value in changes.items():
        node = params
        *parents, leaf = key.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return params


SPARK_OVERRIDES = (
    "engine.backend=spark",
    "engine.spark.master=local[2]",
    "engine.spark.config={spark.sql.shuffle.partitions: 2, spark.ui.enabled: false,"
    " spark.ui.showConsoleProgress: false, spark.driver.memory: 1g}",
)
"""Parameters of the tests' Spark engine: this machine's two cores, few shuffle partitions (small data)."""

TEST_SALT = "test-suite-salt"  # the pseudonym salt a consultant would export; tests of its absence unset it


def run_cli(
    *args: str, cwd: Path | None = None, salt: str | None = TEST_SALT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m analysis_utils`` as a user would (with ``CRM_WORKBOOK_SALT`` set to ``salt``,
    unset when None, and the variables of ``env`` added); returns the completed process."""
    env = {k: v for k, v in os.environ.items() if k != SALT_VARIABLE} | (env or {})
    if salt is not None:
        env[SALT_VARIABLE] = salt
    return subprocess.run(
        [sys.executable, "-m", "analysis_utils", *args],
        capture_output=True,
        text=True,
        cwd=cwd or paths.PROJECT_ROOT,
        env=env,
        timeout=600,
    )
