"""The Ibis connection that runs line- and order-level work, and the few backend differences.

Everything else writes backend-neutral Ibis expressions. What differs between backends lives
here: how to connect (embedded DuckDB, or a Spark session, local or on a cluster), how to read
CSV and Parquet files, how to parse text dates without failing on bad values, and how engine
exceptions become the project's one-line errors.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from analysis_utils import paths
from analysis_utils.errors import ConfigError, DataError

# Ibis 12 still asks pandas 3 for options and DuckDB for methods that now warn of their removal;
# the warnings concern Ibis' code, not ours, and would clutter every notebook's output.
warnings.filterwarnings("ignore", message=".*future.infer_string.*", module="ibis")
warnings.filterwarnings("ignore", message=".*fetch_arrow_table.*", category=DeprecationWarning)


SPARK_MASTER_VARIABLE = "CRM_WORKBOOK_SPARK_MASTER"
"""Environment variable naming the Spark master when ``engine.spark.master`` is empty."""

SPARK_LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")
"""The driver's log configuration: errors only (Spark's JVM would otherwise print its start-up
warnings and progress bars between the run's progress lines)."""
SPARK_SETTINGS = {
    # Order dates carry no time zone: Spark must neither shift them on reading nor on returning
    # them to Python, whatever the time zone of the machine or of the cluster.
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": f'-Duser.timezone=UTC "-Dlog4j2.configurationFile={SPARK_LOG_CONFIG}"',
    "spark.ui.showConsoleProgress": "false",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    # NULL, not an error, for text that is no date or number (as DuckDB's TRY_STRPTIME and
    # TRY_CAST give): the rules count such lines instead of stopping at the first one.
    "spark.sql.ansi.enabled": "false",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
}
"""Settings every Spark session of the workbook gets (``engine.spark.config`` may add others)."""


def connect(engine: dict[str, Any], keep_row_order: bool = True) -> ibis.BaseBackend:
    """Open the backend named by ``engine.backend``: embedded DuckDB (default) or Spark.

    Parameters
    ----------
    engine
        The ``engine`` section of the parameters. DuckDB: ``threads`` (0 = all cores),
        ``memory_limit`` (text such as ``"2GB"``; empty = DuckDB's default, 80% of RAM) and
        ``temp_directory`` (folder DuckDB spills to beyond the memory limit; relative paths start
        at the project root; empty = DuckDB's default). Spark: ``spark.master`` and
        ``spark.config`` (see :func:`spark_session`).
    keep_row_order
        False lets DuckDB return the rows of a query without ORDER BY in any order
        (``preserve_insertion_order``), for work whose every result is aggregated or explicitly
        ordered, as stage 01's: materialising and spilling large tables then costs less (50
        million lines through stage 01: 47 s instead of 55 s, 88 s instead of 110 s under a 2 GB
        limit). Spark never promises an order.
    """
    if engine.get("backend", "duckdb") == "spark":
        session = spark_session(engine.get("spark", {}))  # first: it says so when PySpark is missing
        return ibis.pyspark.connect(session)
    config: dict[str, Any] = {} if keep_row_order else {"preserve_insertion_order": False}
    if engine.get("threads"):
        config["threads"] = engine["threads"]
    if engine.get("memory_limit"):
        config["memory_limit"] = engine["memory_limit"]
    if engine.get("temp_directory"):
        folder = paths.resolve(engine["temp_directory"])
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a file in its place or on its path, no permission, read-only disk
            cause = "a file is in the way" if isinstance(err, FileExistsError | NotADirectoryError) else None
            raise ConfigError(
                f"engine.temp_directory {folder}: cannot create the folder"
                f" ({cause or err.strerror or type(err).__name__})"
            ) from None
        config["temp_directory"] = str(folder)
    return ibis.duckdb.connect(**config)


def spark_session(spark: dict[str, Any]) -> Any:
    """The process's Spark session, started on first use (a JVM: about 10 s on 2 cores).

    The master is ``spark.master``, or the environment variable ``CRM_WORKBOOK_SPARK_MASTER``
    when that is empty, or ``local[*]`` (every core of this machine). ``spark.config`` adds
    Spark settings (``spark.executor.memory``, ``spark.sql.shuffle.partitions``, ...) to
    :data:`SPARK_SETTINGS`. A session already running in the process is reused: Spark then
    applies only the settings that can change at run time.

    Raises ConfigError when PySpark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine.backend is spark but PySpark is not installed: pip install 'crm-workbook[spark]'"
        ) from None
    master = spark.get("master") or os.environ.get(SPARK_MASTER_VARIABLE) or "local[*]"
    builder = SparkSession.builder.master(master).appName("crm-workbook")
    for key, value in {**SPARK_SETTINGS, **spark.get("config", {})}.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def read_parquet(con: ibis.BaseBackend, files: Sequence[Path]) -> ir.Table:
    """Open Parquet files as one table (columns of the files only: folder keys such as
    ``year=2024`` are not added; the caller has already chosen the files)."""
    names = [str(path) for path in files]
    if con.name == "pyspark":
        return _spark_view(con, con._session.read.parquet(*names))
    return con.read_parquet(names, hive_partitioning=False)


def read_csv(con: ibis.BaseBackend, files: Sequence[Path], options: dict[str, Any]) -> ir.Table:
    """Open CSV files as one table with every column as text.

    ``options`` are the project's read options (``data.read_options``): ``sep`` (default ``,``,
    or a tab for ``.tsv`` files), ``header`` (default true), ``encoding`` (default utf-8),
    ``names``, ``skip_rows``, ``quote``; ``sheet`` concerns Excel only.
    """
    names = [str(path) for path in files]
    default_sep = "\t" if ".tsv" in [s.lower() for s in files[0].suffixes] else ","
    sep, header = options.get("sep", default_sep), options.get("header", True)
    encoding = options.get("encoding", "utf-8")
    if con.name == "pyspark":
        if "skip_rows" in options:
            raise ConfigError("data.read_options.skip_rows is not supported on engine.backend spark")
        reader = con._session.read.options(sep=sep, header=header, encoding=encoding, inferSchema=False)
        if "quote" in options:
            reader = reader.option("quote", options["quote"])
        frame = reader.csv(names)
        return _spark_view(con, frame.toDF(*options["names"]) if "names" in options else frame)
    translated: dict[str, Any] = {"all_varchar": True, "delim": sep, "header": header, "encoding": encoding}
    if "names" in options:
        translated["names"] = list(options["names"])
    if "skip_rows" in options:
        translated["skip"] = int(options["skip_rows"])
    if "quote" in options:
        translated["quote"] = options["quote"]
    return con.read_csv(names, **translated)


def _spark_view(con: ibis.BaseBackend, frame: Any) -> ir.Table:
    """Register a Spark DataFrame under a fresh temporary view name and open it as an Ibis table."""
    name = f"crm_input_{uuid.uuid4().hex[:12]}"
    frame.createOrReplaceTempView(name)
    return con.table(name)


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
    """Parse text with a strftime format into a naive timestamp; unparseable text becomes NULL on
    every backend.

    DuckDB's STRPTIME raises on a bad value, so DuckDB gets TRY_STRPTIME; Spark's
    TO_TIMESTAMP returns NULL with the ANSI mode off (:data:`SPARK_SETTINGS`).
    """
    if backend.name == "duckdb":
        return _duckdb_try_strptime(text, date_format)
    return text.as_timestamp(date_format).cast(dt.Timestamp())  # naive, as the order dates are


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
        raise DataError(f"{context}: {engine_message(str(err)) or type(err).__name__}") from None


ENGINE_ADVICE = ("Original Line:", "Possible Solution", "Potential Fix", "* ", "LINE ", "^")
"""Lines of an engine message that are advice in the engine's own terms or a copy of the query."""
SCHEMA_FILES = ("Main file schema", "Current file")  # DuckDB's names of two files that disagree


def engine_message(text: str) -> str:
    """An engine's error message as one line that keeps its cause.

    DuckDB puts the problem on the first line (``CSV Error on Line: 101``) and the cause on the
    following ones (``... This file is not utf-8 encoded``; for a folder, the file and the column
    that disagree); they are kept, with the file the reader names. The reader's option listing,
    its advice in its own syntax and the copy of the query are left out. A file that is not
    UTF-8 gets the parameter that fixes it; files with different columns say which file and column.
    """
    lines = text.strip().splitlines()
    head, causes, named_file = (lines[0].strip() if lines else ""), [], None
    for line in lines[1:]:
        stripped = line.strip()
        key, equals, value = stripped.partition(" = ")
        if line.startswith("  ") and equals:  # the reader's options: only the file is of use
            named_file = value if key == "file" else named_file
        elif stripped and not stripped.startswith(ENGINE_ADVICE):
            causes.append(stripped)
    facts = dict(cause.partition(": ")[::2] for cause in causes if ": " in cause)
    if head.endswith("Schema mismatch between globbed files.") and "Current file" in facts:
        others = [cause for cause in causes if cause.partition(": ")[0] not in SCHEMA_FILES]
        first = facts.get("Main file schema", "the first file")
        return (
            f"{facts['Current file']} does not have the columns of {first}"
            f" ({'; '.join(others) or 'different columns'}): every file read together needs the same columns"
        )
    message = f"{head}: {' '.join(causes)}" if causes else head
    if named_file and named_file not in message:
        message += f" (file {named_file})"
    if "not utf-8 encoded" in message.lower():
        message += "; set read_options.encoding to the file's encoding (e.g. latin-1 or utf-16)"
    return message
