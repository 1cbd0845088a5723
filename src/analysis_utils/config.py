"""Parameters: YAML layers (defaults < client file < command line), validated before anything runs.

``params/defaults.yaml`` declares every key with its default; its types are the schema. A client
file and ``-p key.sub=value`` overrides may only use declared keys. Every problem found is
collected and raised at once as one :class:`ConfigError`.
"""

from __future__ import annotations

import codecs
import copy
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from analysis_utils import paths
from analysis_utils.errors import ConfigError

CANONICAL_COLUMNS = (
    "customer_id",
    "order_id",
    "order_date",
    "amount",
    "quantity",
    "unit_price",
    "product_id",
    "category",
    "channel",
    "store",
    "discount",
    "cost",
    "margin",
)
CUSTOMER_ATTRIBUTES = ("gender", "income_band", "region", "education", "occupation", "signup_channel")
# Contact columns of the customers source: read ONLY to write exports/audience_hashed.csv (SHA-256
# digests, exports.hashed_contacts), never joined into customer_360.parquet nor shown anywhere else.
CONTACT_COLUMNS = ("email", "phone")
SOURCE_COLUMNS = {  # optional extra sources: canonical columns, required and optional
    "customers": {
        "required": ("customer_id",),
        "optional": (*CUSTOMER_ATTRIBUTES, "age", "birth_date", *CONTACT_COLUMNS),
    },
    "events": {"required": ("customer_id", "event_type", "event_date"), "optional": ()},
    "campaigns": {"required": ("customer_id", "campaign_id", "responded"), "optional": ("sent_date",)},
}
NUMBER_CHARACTERS = "0123456789+-eE"  # what a number is written with besides its separators
READ_OPTIONS = ("sep", "header", "names", "encoding", "skip_rows", "quote", "sheet", "decimal", "thousands")
CHOICES = {
    "data.format": ("auto", "csv", "parquet", "excel"),
    "prep.returns.policy": ("net", "drop"),
    "engine.backend": ("duckdb", "spark"),
    "rfm.value_type_split": ("mean", "median"),
    "value_matrix.split": ("median", "mean", "fixed"),
    "comparison.reference": ("first", "own"),
    "report.cohort_unit": ("month", "quarter"),
    "ranking.tier_by": ("share", "points"),
    "ranking.scale": ("data", "fixed"),
    **{f"sources.{name}.format": ("auto", "csv", "parquet", "excel") for name in SOURCE_COLUMNS},
    "clv.time_unit": ("days", "weeks"),
    "clv.model": ("auto", "bgnbd", "mbgnbd", "paretonbd"),
    "churn_risk.score": ("auto", "overdue", "p_alive", "p_no_purchase", "expected_purchases"),
}
# Mappings whose keys the consultant chooses (validated by value, not against the defaults' keys).
OPEN_MAPPINGS = ("ranking.events",)
# Keys whose value may take more than the default's type (the default's type is the schema).
ALTERNATIVE_TYPES = {
    "rfm.strategy": (str, dict),
    "rfm.saved_thresholds": (str, type(None)),
    "prep.drop_duplicates": (str, bool),
}
DROP_DUPLICATES = ("auto", True, False)
EARLIEST_AS_OF = dt.datetime(1900, 1, 1)  # periods must fit the engines' and pandas' timestamps
LATEST_AS_OF = dt.datetime(2262, 1, 1)  # (pandas: 1677-09-21 .. 2262-04-11)
MAX_WINDOW_DAYS = 36_525  # 100 years; the previous window (twice as far back) then starts after 1677
RFM_METRICS = ("recency", "frequency", "monetary")
RFM_STRATEGIES = ("quantile", "fixed", "saved")
FRACTIONS = (
    "prep.max_unparseable_date_share",
    "prep.max_unparseable_amount_share",
    "prep.max_missing_customer_share",
    "clv.annual_discount_rate",
    "clv.max_holdout_error",
    "basket.min_pair_share",
)
STRFTIME_CODES = set("aAbBcdfHIjmMpSUwWxXyYzZ%")
MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """One analysis period: orders dated in ``[window_start, as_of)`` count.

    ``as_of`` is the exclusive end (midnight starting that day). ``window_days`` is the
    lookback in days; ``None`` means all history before ``as_of``.
    """

    name: str
    as_of: dt.datetime
    window_days: int | None = None

    @property
    def window_start(self) -> dt.datetime | None:
        """First instant of the window, or None when the period has no lookback limit."""
        if self.window_days is None:
            return None
        return self.as_of - dt.timedelta(days=self.window_days)


@dataclass(frozen=True)
class RunParams:
    """Resolved parameters of one client: the merged, validated values and where they came from."""

    client: str
    source: Path
    values: dict[str, Any]

    def get(self, dotted: str) -> Any:
        """Value at a dotted key, for example ``params.get("prep.returns.policy")``."""
        node: Any = self.values
        for part in dotted.split("."):
            node = node[part]
        return node

    @property
    def data_path(self) -> Path:
        """Absolute path of the transactions file."""
        return paths.resolve(self.values["data"]["path"])

    @property
    def periods(self) -> list[Period]:
        """Every declared period, in file order."""
        return [_to_period(raw) for raw in self.values["periods"]]

    def period(self, name: str) -> Period:
        """The period called ``name``; ConfigError listing the known names otherwise."""
        for period in self.periods:
            if period.name == name:
                return period
        known = ", ".join(p.name for p in self.periods)
        raise ConfigError(f"{self.source}: period {name!r} is not declared (periods: {known})")


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; ConfigError naming the file when missing, unreadable or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start});"
            " save the file as UTF-8"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the parameter file ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML ({getattr(err, 'problem', err)})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of parameters, got {type(loaded).__name__}")
    return loaded


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Turn ``["prep.returns.policy=drop", "periods=[...]"]`` into a nested dict; values typed as YAML."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-p {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"-p {item!r}: value is not valid YAML") from None
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_params(
    client_file: str | Path,
    overrides: Iterable[str] = (),
    defaults_file: Path = paths.DEFAULTS_FILE,
) -> RunParams:
    """Load defaults < client file < overrides, validate everything, return the resolved parameters.

    Raises
    ------
    ConfigError
        Listing every problem found (unknown keys with a did-you-mean, wrong types, bad choices,
        bad date format, periods without ``as_of``), naming the client file.
    """
    source = paths.resolve(client_file)
    defaults = load_yaml(defaults_file)
    layers = deep_merge(load_yaml(source), parse_overrides(overrides))
    problems = list(_unknown_keys(layers, defaults, ""))
    values = deep_merge(defaults, layers)
    type_problems = _type_problems(values, defaults, "")
    problems += type_problems
    problems += _drop_duplicates_problems(values)
    client_problem = paths.folder_name_problem(source.stem)
    if client_problem:  # the client's reports folder is named after the file
        problems.append(f"client file name {source.stem!r} (names the reports folder) {client_problem}")
    if not type_problems:  # value checks compare and index typed values; unknown keys do not stop them
        problems += _value_problems(values)
    if problems:
        raise ConfigError(f"{source}: {_count(problems)}: " + "; ".join(problems))
    if not values["client"]["name"]:
        values["client"]["name"] = source.stem
    values["periods"] = [_normalise_period(raw) for raw in values["periods"]]
    return RunParams(client=source.stem, source=source, values=values)


def _drop_duplicates_problems(values: Mapping[str, Any]) -> list[str]:
    """``prep.drop_duplicates`` is true, false or the text ``auto`` (other types: :func:`_type_problems`)."""
    value = values.get("prep", {}).get("drop_duplicates")
    if isinstance(value, str) and value not in DROP_DUPLICATES:
        return [
            f"prep.drop_duplicates must be true/false, got text {value!r}; or auto (drop only"
            " when the lines carry an order id or a time of day)"
        ]
    return []


def _count(problems: list[str]) -> str:
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


def _unknown_keys(given: Mapping[str, Any], schema: Mapping[str, Any], prefix: str):
    """Yield a problem for every key of ``given`` that ``schema`` does not declare."""
    for key, value in given.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            close = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            yield f"unknown parameter {dotted}{hint}"
        elif (
            isinstance(schema[key], dict)
            and schema[key]
            and isinstance(value, Mapping)
            and dotted not in OPEN_MAPPINGS
        ):
            yield from _unknown_keys(value, schema[key], f"{dotted}.")


def _type_problems(values: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> list[str]:
    """A problem for every value whose type differs from its default's type."""
    problems = []
    for key, default in schema.items():
        dotted, value = f"{prefix}{key}", values.get(key)
        if dotted in ALTERNATIVE_TYPES:
            if not isinstance(value, ALTERNATIVE_TYPES[dotted]):
                allowed = " or ".join(_type_name(kind()) for kind in ALTERNATIVE_TYPES[dotted])
                problems.append(f"{dotted} must be {allowed}, got {_type_name(value)}")
        elif isinstance(default, dict) and default and dotted not in OPEN_MAPPINGS:
            if isinstance(value, Mapping):
                problems += _type_problems(value, default, f"{dotted}.")
            else:
                problems.append(f"{dotted} must be a mapping, got {_type_name(value)}")
        elif not _same_kind(value, default):
            problems.append(f"{dotted} must be {_type_name(default)}, got {_type_name(value)}")
    return problems


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def _type_name(value: Any) -> str:
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "text"}
    names |= {list: "a list", dict: "a mapping", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def _value_problems(values: dict[str, Any]) -> list[str]:
    """Checks that go beyond types: choices, ranges, column mapping, date format, periods."""
    params = RunParams(client="", source=Path(), values=values)
    problems = []
    for dotted, allowed in CHOICES.items():
        if params.get(dotted) not in allowed:
            problems.append(f"{dotted} must be one of {', '.join(allowed)}, got {params.get(dotted)!r}")
    for dotted in FRACTIONS:
        if not 0 <= params.get(dotted) <= 1:
            problems.append(f"{dotted} must be between 0 and 1, got {params.get(dotted)}")
    if not 0 < params.get("churn_risk.medium_ratio") < params.get("churn_risk.high_ratio"):
        problems.append("churn_risk.medium_ratio must be positive and below churn_risk.high_ratio")
    if not 0 < params.get("churn_risk.medium_lift") < params.get("churn_risk.high_lift"):
        problems.append("churn_risk.medium_lift must be positive and below churn_risk.high_lift")
    if not 0 < params.get("churn_risk.high_p_alive") < params.get("churn_risk.medium_p_alive") < 1:
        problems.append(
            "churn_risk.high_p_alive and churn_risk.medium_p_alive must satisfy 0 < high < medium < 1"
        )
    if not 0 < params.get("churn_risk.medium_p_none") < params.get("churn_risk.high_p_none") < 1:
        problems.append(
            "churn_risk.medium_p_none and churn_risk.high_p_none must satisfy 0 < medium < high < 1"
        )
    if params.get("prep.extreme.z_threshold") <= 0:
        problems.append("prep.extreme.z_threshold must be positive")
    if not params.get("data.path"):
        problems.append("data.path is required")
    problems += _column_problems(params.get("data.columns"))
    problems += _read_option_problems(params.get("data.read_options"))
    problems += _date_format_problems(params.get("data.date_format"))
    problems += _period_problems(params.get("periods"))
    problems += _rfm_problems(params.get("rfm"))
    problems += _clustering_problems(params.get("clustering"))
    problems += _engine_problems(params.get("engine"))
    problems += _source_problems(params.get("sources"))
    problems += _ranking_problems(params.get("ranking"))
    problems += _profiling_problems(params.get("profiling"), params.get("campaigns"), params.get("basket"))
    problems += _clv_problems(params.get("clv"))
    problems += _exports_problems(params.get("exports.csv"))
    problems += _logo_problems(params.get("report.logo"))
    problems += _hashed_contact_problems(params.get("exports"), params.get("sources.customers"))
    problems += [
        f"prep.exclude_customers must list quoted ids, got {item!r}"
        for item in params.get("prep.exclude_customers")
        if not isinstance(item, str)
    ]
    return problems


def _column_problems(columns: Mapping[str, Any]) -> list[str]:
    problems = []
    for canonical, source in columns.items():
        if canonical not in CANONICAL_COLUMNS:
            close = difflib.get_close_matches(str(canonical), CANONICAL_COLUMNS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"data.columns.{canonical} is not a canonical column{hint}")
        elif not isinstance(source, str) or not source:
            problems.append(f"data.columns.{canonical} must name a column of the file, got {source!r}")
    for required in ("customer_id", "order_date"):
        if required not in columns:
            problems.append(f"data.columns.{required} is required")
    if "amount" not in columns and not {"quantity", "unit_price"} <= set(columns):
        problems.append("data.columns needs amount, or both quantity and unit_price")
    if {"cost", "margin"} <= set(columns):
        problems.append(
            "data.columns.cost and data.columns.margin are both mapped;"
            " map one of them (margin = amount - cost)"
        )
    return problems


def _read_option_problems(options: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in options:
        if key not in READ_OPTIONS:
            close = difflib.get_close_matches(str(key), READ_OPTIONS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"data.read_options.{key} is not a known read option{hint}")
    if "header" in options and not isinstance(options["header"], bool):
        problems.append("data.read_options.header must be true/false")
    if "names" in options and not isinstance(options["names"], list):
        problems.append("data.read_options.names must be a list of column names")
    skip = options.get("skip_rows", 0)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        problems.append(f"data.read_options.skip_rows must be a whole number of lines >= 0, got {skip!r}")
    sep = options.get("sep", ",")
    if not isinstance(sep, str) or len(sep) != 1:
        problems.append(
            f"data.read_options.sep must be one character such as ',', ';', '|' or a tab, got {sep!r};"
            " columns aligned with spaces (pandas' '\\s+') cannot be read: export the file with one"
            " separator character between columns"
        )
    marks = {key: options.get(key, default) for key, default in (("decimal", "."), ("thousands", ""))}
    for key, mark in marks.items():
        if not isinstance(mark, str) or len(mark) > 1 or (key == "decimal" and not mark):
            problems.append(f"data.read_options.{key} must be one character such as ',' or '.', got {mark!r}")
        elif mark and mark in NUMBER_CHARACTERS:
            problems.append(f"data.read_options.{key} cannot be a digit, a sign or 'e', got {mark!r}")
    if marks["decimal"] == marks["thousands"]:
        problems.append("data.read_options.decimal and data.read_options.thousands must differ")
    return problems


def _date_format_problems(date_format: str) -> list[str]:
    codes = re.findall(r"%(.)", date_format)
    bad = sorted({code for code in codes if code not in STRFTIME_CODES})
    if not codes:
        return [f"data.date_format {date_format!r} has no %-codes (for example %Y-%m-%d)"]
    if bad:
        return [f"data.date_format {date_format!r} has unknown codes: " + ", ".join("%" + c for c in bad)]
    return []


def _period_problems(periods: list[Any]) -> list[str]:
    if not periods:
        return ["periods must list at least one period with a name and an as_of date"]
    problems, names = [], []
    for index, raw in enumerate(periods):
        where = f"periods[{index}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where} must be a mapping with name, as_of and optional window_days")
            continue
        unknown = set(raw) - {"name", "as_of", "window_days"}
        problems += [f"{where}.{key} is not a period key (name, as_of, window_days)" for key in unknown]
        name = raw.get("name")
        name_problem = paths.folder_name_problem(name)  # the period's reports folder is named after it
        if name_problem:
            problems.append(f"{where}.name {name_problem}, got {name!r}")
        names.append(name)
        as_of = None if raw.get("as_of") is None else _parse_date(raw["as_of"])
        if raw.get("as_of") is None:
            problems.append(f'{where}.as_of is required (exclusive end date, e.g. "2025-01-01")')
        elif as_of is None:
            problems.append(f"{where}.as_of {raw['as_of']!r} is not a date (YYYY-MM-DD)")
        elif not EARLIEST_AS_OF <= as_of.replace(tzinfo=None) <= LATEST_AS_OF:
            problems.append(
                f"{where}.as_of {raw['as_of']!r} must lie between {EARLIEST_AS_OF:%Y-%m-%d}"
                f" and {LATEST_AS_OF:%Y-%m-%d}"
            )
        window = raw.get("window_days")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            problems.append(f"{where}.window_days must be a positive whole number of days, got {window!r}")
        elif window is not None and window > MAX_WINDOW_DAYS:
            problems.append(
                f"{where}.window_days must be at most {MAX_WINDOW_DAYS:,} (100 years), got {window:,}"
            )
    duplicated = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    problems += [f"period name {name!r} is used twice" for name in duplicated]
    return problems


def shared_span(a: Period, b: Period) -> tuple[dt.datetime | None, dt.datetime] | None:
    """The instants both periods cover, ``[start, end)``, or None when they do not overlap.

    A period covers ``[window_start, as_of)``; one without ``window_days`` covers all history
    before its ``as_of`` (``start`` is None only when neither has a window). Periods that merely
    touch (one's ``as_of`` is the other's window start) do not overlap.
    """
    starts = [s for s in (a.window_start, b.window_start) if s is not None]
    start = max(starts) if starts else None
    end = min(a.as_of, b.as_of)
    if start is not None and start >= end:
        return None
    return start, end


def overlap_sentence(a: Period, b: Period) -> str | None:
    """``"2011 and all overlap (both include 2010-12-10 to 2011-12-09)"``, or None when they do not."""
    shared = shared_span(a, b)
    if shared is None:
        return None
    start, end = shared
    last_day = (end - dt.timedelta(microseconds=1)).date()  # as_of is exclusive
    span = f"all history up to {last_day}" if start is None else f"{start.date()} to {last_day}"
    return f"{a.name} and {b.name} overlap (both include {span})"


def previous_period(periods: Sequence[Period], period: Period) -> Period | None:
    """The period ``period`` is compared with: the one ending latest at or before its window start.

    None for a period without a window (it covers all history) or when no period ends in time;
    on a tie, the first declared. The same rule as the client report's previous period.
    """
    start = period.window_start
    if start is None:
        return None
    earlier = [p for p in periods if p.as_of <= start and p.name != period.name]
    return max(earlier, key=lambda p: p.as_of) if earlier else None


def period_warnings(periods: list[Period]) -> list[str]:
    """One line per overlapping pair of periods, in declared order.

    Overlapping periods are legitimate (each gets its own report), so this is a warning, not a
    problem; the period comparison leaves such pairs out.
    """
    return [
        f"periods {sentence}: each gets its own report, but the period comparison leaves this pair out"
        for i, a in enumerate(periods)
        for b in periods[i + 1 :]
        if (sentence := overlap_sentence(a, b)) is not None
    ]


def _rfm_problems(rfm: Mapping[str, Any]) -> list[str]:
    problems = []
    if not 3 <= rfm["n_bins"] <= 10:
        problems.append(f"rfm.n_bins must be between 3 and 10, got {rfm['n_bins']}")
    strategy = rfm["strategy"]
    chosen = strategy if isinstance(strategy, Mapping) else {"": strategy}
    for metric, name in chosen.items():
        where = f"rfm.strategy.{metric}" if metric else "rfm.strategy"
        if metric and metric not in RFM_METRICS:
            problems.append(f"{where} is not a metric ({', '.join(RFM_METRICS)})")
        elif name not in RFM_STRATEGIES:
            problems.append(f"{where} must be one of {', '.join(RFM_STRATEGIES)}, got {name!r}")
    if "saved" in chosen.values() and not rfm["saved_thresholds"]:
        problems.append("rfm.saved_thresholds must name a thresholds file when a strategy is saved")
    for metric in rfm["thresholds"]:
        if metric not in RFM_METRICS:
            problems.append(f"rfm.thresholds.{metric} is not a metric ({', '.join(RFM_METRICS)})")
    weights = rfm["weights"]
    if (
        len(weights) != 3
        or not all(isinstance(w, int | float) and w >= 0 for w in weights)
        or not sum(weights)
    ):
        problems.append(f"rfm.weights must be three non-negative numbers with a positive sum, got {weights}")
    if not 0 < rfm["pareto_top_share"] <= 1:
        problems.append(f"rfm.pareto_top_share must be in (0, 1], got {rfm['pareto_top_share']}")
    return problems


def _clustering_problems(clustering: Mapping[str, Any]) -> list[str]:
    problems = []
    k_range = clustering["k_range"]
    if len(k_range) != 2 or not all(isinstance(k, int) for k in k_range) or not 2 <= k_range[0] < k_range[1]:
        problems.append(f"clustering.k_range must be two whole numbers 2 <= low < high, got {k_range}")
    if clustering["k"] == 1 or clustering["k"] < 0:
        problems.append(f"clustering.k must be 0 (choose) or at least 2, got {clustering['k']}")
    if not clustering["features"]:
        problems.append("clustering.features must list at least one customer column")
    for key in ("n_init", "silhouette_sample", "stability_runs"):
        if clustering[key] < 1:
            problems.append(f"clustering.{key} must be at least 1, got {clustering[key]}")
    return problems


def _engine_problems(engine: Mapping[str, Any]) -> list[str]:
    problems = []
    if engine["threads"] < 0:
        problems.append(f"engine.threads must be 0 (all cores) or a positive number, got {engine['threads']}")
    if engine["memory_limit"] and not MEMORY_SIZE.match(engine["memory_limit"]):
        problems.append(
            f'engine.memory_limit must be a number and a unit (KB, MB, GB, TB), e.g. "2GB",'
            f" got {engine['memory_limit']!r}"
        )
    for key, value in engine["spark"]["config"].items():
        if not str(key).startswith("spark."):
            problems.append(f"engine.spark.config.{key} is not a Spark setting (they start with 'spark.')")
        elif not isinstance(value, str | int | float | bool):
            problems.append(
                f"engine.spark.config.{key} must be text, a number or true/false, got {_type_name(value)}"
            )
    return problems


def _source_problems(sources: Mapping[str, Any]) -> list[str]:
    """Column mappings, read options and date formats of the optional sources that have a path."""
    problems = []
    for name, spec in SOURCE_COLUMNS.items():
        source, where = sources[name], f"sources.{name}"
        columns = source["columns"]
        if not source["path"]:  # absent source: its mapping, if any, is not used
            continue
        known = (*spec["required"], *spec["optional"])
        for canonical, column in columns.items():
            if canonical not in known:
                close = difflib.get_close_matches(str(canonical), known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(
                    f"{where}.columns.{canonical} is not a column of {name} ({', '.join(known)}){hint}"
                )
            elif not isinstance(column, str) or not column:
                problems.append(f"{where}.columns.{canonical} must name a column of the file, got {column!r}")
        problems += [
            f"{where}.columns.{required} is required"
            for required in spec["required"]
            if required not in columns
        ]
        if {"age", "birth_date"} <= set(columns):
            problems.append(f"{where}.columns.age and {where}.columns.birth_date are both mapped; map one")
        problems += [p.replace("data.", f"{where}.") for p in _read_option_problems(source["read_options"])]
        problems += [p.replace("data.", f"{where}.") for p in _date_format_problems(source["date_format"])]
    for attribute, values in sources["customers"]["categories"].items():
        if attribute not in CUSTOMER_ATTRIBUTES:
            problems.append(f"sources.customers.categories.{attribute} is not a text attribute of customers")
        elif not isinstance(values, list) or not values:
            problems.append(f"sources.customers.categories.{attribute} must list the valid values")
    return problems


def _ranking_problems(ranking: Mapping[str, Any]) -> list[str]:
    """Data-scaled points, points tiers, regularity tiers, event points and caps, the customer tiers."""
    problems = [
        f"ranking.data_points.{criterion} must be a number >= 0, got {points}"
        for criterion, points in ranking["data_points"].items()
        if not (_is_number(points) and 0 <= points < float("inf"))
    ]
    problems += _step_problems(ranking["spend_tiers"], "ranking.spend_tiers", "from")
    problems += _step_problems(ranking["margin_tiers"], "ranking.margin_tiers", "from")
    regularity = ranking["regularity"]
    problems += _step_problems(regularity["tiers"], "ranking.regularity.tiers", "max_cv")
    if regularity["min_order_days"] < 3:
        problems.append(
            "ranking.regularity.min_order_days must be at least 3 (two gaps between purchase days)"
        )
    for event_type, rule in ranking["events"].items():
        where = f"ranking.events.{event_type}"
        if not isinstance(rule, Mapping) or set(rule) != {"points", "cap"}:
            problems.append(f"{where} must be a mapping with points and cap")
        elif not all(_is_number(rule[key]) and rule[key] >= 0 for key in ("points", "cap")):
            problems.append(f"{where}.points and .cap must be numbers >= 0, got {dict(rule)}")
    tiers = ranking["tiers"]
    if not tiers or not all(
        isinstance(t, Mapping) and set(t) == {"name", "top_share", "min_points"} for t in tiers
    ):
        return [
            *problems,
            "ranking.tiers must list tiers, best first, each with name, top_share and min_points",
        ]
    names = [t["name"] for t in tiers]
    shares = [t["top_share"] for t in tiers]
    floors = [t["min_points"] for t in tiers]
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        problems.append(f"ranking.tiers names must be distinct text, got {names}")
    if not all(_is_number(v) for v in shares + floors):
        problems.append("ranking.tiers top_share and min_points must be numbers")
    else:
        if (
            not all(0 < a < b for a, b in zip(shares, shares[1:], strict=False))
            or shares[0] <= 0
            or shares[-1] != 1
        ):
            problems.append(
                f"ranking.tiers top_share must increase from above 0 to exactly 1 (the last), got {shares}"
            )
        if not all(a > b for a, b in zip(floors, floors[1:], strict=False)) or floors[-1] != 0:
            problems.append(f"ranking.tiers min_points must decrease to exactly 0 (the last), got {floors}")
    return problems


def _step_problems(steps: Any, where: str, bound: str) -> list[str]:
    """Stepwise points: a list of {<bound>: number, points: number >= 0}, bounds strictly increasing."""
    shape = f"{where} must list steps {{{bound}: number, points: number >= 0}}"
    if not all(isinstance(s, Mapping) and set(s) == {bound, "points"} for s in steps):
        return [shape]
    values = [s[bound] for s in steps]
    if not all(_is_number(s[bound]) and _is_number(s["points"]) and s["points"] >= 0 for s in steps):
        return [shape]
    if not all(a < b for a, b in zip(values, values[1:], strict=False)):
        return [f"{where}: {bound} must be strictly increasing, got {values}"]
    return []


def _profiling_problems(
    profiling: Mapping[str, Any], campaigns: Mapping[str, Any], basket: Mapping[str, Any]
) -> list[str]:
    problems = []
    if profiling["min_group_size"] < 1:
        problems.append(f"profiling.min_group_size must be at least 1, got {profiling['min_group_size']}")
    bands = profiling["age_bands"]
    if not all(_is_number(b) for b in bands) or not all(
        a < b for a, b in zip(bands, bands[1:], strict=False)
    ):
        problems.append(f"profiling.age_bands must be strictly increasing ages in years, got {bands}")
    for dotted, value in (
        ("profiling.alpha", profiling["alpha"]),
        ("campaigns.confidence", campaigns["confidence"]),
    ):
        if not 0 < value < 1:
            problems.append(f"{dotted} must be between 0 and 1 (exclusive), got {value}")
    for key in ("min_pair_orders", "min_pair_customers", "top_pairs"):
        if basket[key] < 1:
            problems.append(f"basket.{key} must be at least 1, got {basket[key]}")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _clv_problems(settings: Mapping[str, Any]) -> list[str]:
    problems = []
    if settings["calibration_end"] and _parse_date(settings["calibration_end"]) is None:
        problems.append(f"clv.calibration_end must be a quoted ISO date, got {settings['calibration_end']!r}")
    if not 1 <= settings["horizon_months"] <= 120:
        problems.append(
            f"clv.horizon_months must be a whole number in 1..120, got {settings['horizon_months']}"
        )
    if settings["min_repeat_buyers"] < 1:
        problems.append(f"clv.min_repeat_buyers must be at least 1, got {settings['min_repeat_buyers']}")
    if settings["top_customers"] < 1:
        problems.append(f"clv.top_customers must be at least 1, got {settings['top_customers']}")
    if not 0 <= settings["interval_draws"] <= 10_000:
        draws = settings["interval_draws"]
        problems.append(f"clv.interval_draws must be a whole number in 0..10000, got {draws}")
    return problems


def _exports_problems(csv: Mapping[str, Any]) -> list[str]:
    problems = []
    if len(csv["sep"]) != 1 or csv["sep"] in '\r\n"':
        problems.append(
            f"exports.csv.sep must be one character (not a quote or line break), got {csv['sep']!r}"
        )
    if csv["decimal"] not in (".", ","):
        problems.append(f"exports.csv.decimal must be '.' or ',', got {csv['decimal']!r}")
    elif csv["decimal"] == csv["sep"]:
        problems.append(f"exports.csv.decimal and exports.csv.sep must differ, both are {csv['sep']!r}")
    try:
        codecs.lookup(csv["encoding"])
        "a".encode(csv["encoding"])  # a text encoding, not a bytes-to-bytes codec such as base64
    except LookupError:
        problems.append(
            f"exports.csv.encoding must be a text encoding such as utf-8-sig, got {csv['encoding']!r}"
        )
    return problems


def _hashed_contact_problems(exports: Mapping[str, Any], customers: Mapping[str, Any]) -> list[str]:
    """``exports.hashed_contacts`` needs a customers file mapping email or phone; the country code is
    1 to 3 digits (an optional leading +)."""
    problems = []
    code = str(exports["default_country_code"]).strip()
    if code and not re.fullmatch(r"\+?[1-9]\d{0,2}", code):
        problems.append(f"exports.default_country_code must be 1 to 3 digits such as 44 or +1, got {code!r}")
    mapped = customers["path"] and any(name in customers["columns"] for name in CONTACT_COLUMNS)
    if exports["hashed_contacts"] and not mapped:
        problems.append(
            "exports.hashed_contacts needs sources.customers.columns.email or"
            " sources.customers.columns.phone (a customers file with a contact column)"
        )
    return problems


LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")


def _logo_problems(logo: str) -> list[str]:
    """``report.logo``: empty, or an existing PNG, JPEG or SVG file (by name and by content)."""
    if not logo:
        return []
    path = paths.resolve(logo)
    if path.suffix.lower() not in LOGO_SUFFIXES:
        return [f"report.logo must be a PNG, JPEG or SVG file (.png, .jpg, .jpeg, .svg), got {logo!r}"]
    if not path.is_file():
        return [f"report.logo: no such file {logo!r} (paths start at the project root)"]
    try:
        head = path.read_bytes()[:4096]
    except OSError as err:
        return [f"report.logo: cannot read {logo!r} ({err.strerror or type(err).__name__})"]
    suffix = path.suffix.lower()
    valid = (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        if suffix == ".png"
        else head.startswith(b"\xff\xd8\xff")
        if suffix in (".jpg", ".jpeg")
        else b"<svg" in head.lower()
    )
    if not valid:
        return [f"report.logo: {logo!r} is not a {suffix[1:].upper()} image"]
    return []


def _parse_date(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _normalise_period(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Store periods with ISO text dates so resolved parameters serialise identically everywhere."""
    as_of = _parse_date(raw["as_of"])
    return {"name": raw["name"], "as_of": as_of.isoformat(sep=" "), "window_days": raw.get("window_days")}


def _to_period(raw: Mapping[str, Any]) -> Period:
    return Period(name=raw["name"], as_of=_parse_date(raw["as_of"]), window_days=raw.get("window_days"))


def dump_params(params: RunParams) -> str:
    """Resolved parameters as YAML text (the copy saved with every run)."""
    return yaml.safe_dump(params.values, sort_keys=True, allow_unicode=True)
