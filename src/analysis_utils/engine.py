"""The Ibis connection that runs line- and order-level work, and the few backend differences.

Everything else writes backend-neutral Ibis expressions. What differs between backends lives
here: how to connect, how to parse text dates without failing on bad values, and how engine
exceptions become the project's one-line errors.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from analysis_utils.errors import DataError

# Ibis 12 still asks pandas 3 for options and DuckDB for methods that now warn of their removal;
# the warnings concern Ibis' code, not ours, and would clutter every notebook's output.
warnings.filterwarnings("ignore", message=".*future.infer_string.*", module="ibis")
warnings.filterwarnings("ignore", message=".*fetch_arrow_table.*", category=DeprecationWarning)


def connect(engine: dict[str, Any]) -> ibis.BaseBackend:
    """Open the backend named by ``engine.backend`` (embedded DuckDB by default).

    Parameters
    ----------
    engine
        The ``engine`` section of the parameters: ``backend``, ``threads`` (0 = all cores),
        ``memory_limit`` (text such as ``"2GB"``; empty = the backend's default).
    """
    config: dict[str, Any] = {}
    if engine.get("threads"):
        config["threads"] = engine["threads"]
    if engine.get("memory_limit"):
        config["memory_limit"] = engine["memory_limit"]
    return ibis.duckdb.connect(**config)


@ibis.udf.scalar.builtin(name="try_strptime")
def _duckdb_try_strptime(text: str, fmt: str) -> ibis.dtype("timestamp"):
    """DuckDB's TRY_STRPTIME: NULL instead of an error for text that does not parse."""


MONEY_DECIMAL = dt.Decimal(38, 6)  # exact to a millionth of the currency unit


def exact_sum(amount: ir.NumericColumn) -> ir.FloatingScalar:
    """Sum of a money column that does not depend on row order or parallelism.

    Floating-point addition is not associative, so a parallel engine's SUM of doubles can
    differ in the last bits from run to run. Each value is rounded to a millionth and summed
    as a 38-digit decimal (exact), then returned as float64: same input, same bytes.
    """
    return amount.cast(MONEY_DECIMAL).sum().cast("float64")


def parse_timestamp(text: ir.StringValue, date_format: str, backend: ibis.BaseBackend) -> ir.Value:
    """Parse text with a strftime format; unparseable text becomes NULL on every backend.

    DuckDB's STRPTIME raises on a bad value, so DuckDB gets TRY_STRPTIME; Spark's
    TO_TIMESTAMP already returns NULL.
    """
    if backend.name == "duckdb":
        return _duckdb_try_strptime(text, date_format)
    return text.as_timestamp(date_format)


@contextlib.contextmanager
def engine_errors(context: str) -> Iterator[None]:
    """Turn an exception raised by the engine into a one-line DataError prefixed by ``context``.

    Project errors pass through unchanged; anything else is re-raised as
    ``DataError("<context>: <first line of the engine's message>")``.
    """
    try:
        yield
    except DataError:
        raise
    except Exception as err:  # the engines raise many exception types; all mean bad input here
        if type(err).__module__.split(".")[0] not in {"duckdb", "_duckdb", "ibis", "pyarrow", "pyspark"}:
            raise
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{context}: {first_line}") from None
