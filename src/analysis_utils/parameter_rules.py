"""The value rules of the parameters, one function per stage (and two for the runner's own steps).

``params/defaults.yaml`` gives every key its type (config checks keys and types); these rules go
beyond types: choices, ranges, column mappings, date formats, periods, files. Each stage in
:data:`analysis_utils.stages.STAGES` names its rules beside its notebook and parameter sections, and
a rule reads only the sections its stage declares (tests/test_stages.py holds this); the loader
(:func:`analysis_utils.loader.load_params`) runs every rule of the graph on typed values and lists
every problem at once. A rule takes the merged parameters and returns one sentence per problem.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import re
from collections.abc import Mapping
from typing import Any

from analysis_utils import paths
from analysis_utils.config import (
    CANONICAL_COLUMNS,
    CONTACT_COLUMNS,
    CUSTOMER_ATTRIBUTES,
    SOURCE_COLUMNS,
    RunParams,
    parse_date,
    type_name,
)

FILE_FORMATS = ("auto", "csv", "parquet", "excel")
NUMBER_CHARACTERS = "0123456789+-eE"  # what a number is written with besides its separators
READ_OPTIONS = ("sep", "header", "names", "encoding", "skip_rows", "quote", "sheet", "decimal", "thousands")
EARLIEST_AS_OF = dt.datetime(1900, 1, 1)  # periods must fit the engines' and pandas' timestamps
LATEST_AS_OF = dt.datetime(2262, 1, 1)  # (pandas: 1677-09-21 .. 2262-04-11)
MAX_WINDOW_DAYS = 36_525  # 100 years; the previous window (twice as far back) then starts after 1677
RFM_METRICS = ("recency", "frequency", "monetary")
RFM_STRATEGIES = ("quantile", "fixed", "saved")
STRFTIME_CODES = set("aAbBcdfHIjmMpSUwWxXyYzZ%")
MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")


def data_prep(params: RunParams) -> list[str]:
    """Stage 01 (data, prep, engine): the file, its column mapping, read options and date format, the
    cleaning thresholds, the engine."""
    problems = _choice_problems(
        params,
        {
            "data.format": FILE_FORMATS,
            "prep.returns.policy": ("net", "drop"),
            "engine.backend": ("duckdb", "spark"),
        },
    )
    problems += _fraction_problems(
        params,
        (
            "prep.max_unparseable_date_share",
            "prep.max_unparseable_amount_share",
            "prep.max_missing_customer_share",
        ),
    )
    if params.get("prep.extreme.z_threshold") <= 0:
        problems.append("prep.extreme.z_threshold must be positive")
    problems += [
        f"prep.exclude_customers must list quoted ids, got {item!r}"
        for item in params.get("prep.exclude_customers")
        if not isinstance(item, str)
    ]
    if not params.get("data.path"):
        problems.append("data.path is required")
    problems += _column_problems(params.get("data.columns"))
    problems += _read_option_problems(params.get("data.read_options"))
    problems += _date_format_problems(params.get("data.date_format"))
    return problems + _engine_problems(params.get("engine"))


def rfm_scores(params: RunParams) -> list[str]:
    """Stage 02 (rfm): bins, strategies and thresholds per metric, weights, the Pareto share."""
    problems = _choice_problems(params, {"rfm.value_type_split": ("mean", "median")})
    return problems + _rfm_problems(params.get("rfm"))


def clustering(params: RunParams) -> list[str]:
    """Stage 03 (clustering): k or the range it is chosen from, features, runs."""
    return _clustering_problems(params.get("clustering"))


def value_matrix(params: RunParams) -> list[str]:
    """Stage 04 (value_matrix): how the split points are placed."""
    return _choice_problems(params, {"value_matrix.split": ("median", "mean", "fixed")})


def future_value(params: RunParams) -> list[str]:
    """Stage 05 (clv, churn_risk): the purchase model and its horizon, the churn-risk bands."""
    problems = _choice_problems(
        params,
        {
            "clv.time_unit": ("days", "weeks"),
            "clv.model": ("auto", "bgnbd", "mbgnbd", "paretonbd"),
            "churn_risk.score": ("auto", "overdue", "p_alive", "p_no_purchase", "expected_purchases"),
        },
    )
    problems += _fraction_problems(params, ("clv.annual_discount_rate", "clv.max_holdout_error"))
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
    return problems + _clv_problems(params.get("clv"))


def customer_360(params: RunParams) -> list[str]:
    """Stage 06 (sources, ranking, profiling, campaigns, basket): the optional sources, the points
    model and tiers, profile groups, confidence levels, cross-sell thresholds."""
    problems = _choice_problems(
        params,
        {
            "ranking.tier_by": ("share", "points"),
            "ranking.scale": ("data", "fixed"),
            **{f"sources.{name}.format": FILE_FORMATS for name in SOURCE_COLUMNS},
        },
    )
    problems += _fraction_problems(params, ("basket.min_pair_share",))
    problems += _source_problems(params.get("sources"))
    problems += _ranking_problems(params.get("ranking"))
    return problems + _profiling_problems(
        params.get("profiling"), params.get("campaigns"), params.get("basket")
    )


def client_report(params: RunParams) -> list[str]:
    """Stage 09 (report): the cohort unit and the logo file."""
    problems = _choice_problems(params, {"report.cohort_unit": ("month", "quarter")})
    return problems + _logo_problems(params.get("report.logo"))


def period_comparison(params: RunParams) -> list[str]:
    """The comparison (comparison): which period's scale segments are scored on."""
    return _choice_problems(params, {"comparison.reference": ("first", "own")})


def periods(params: RunParams) -> list[str]:
    """The runner's periods: names usable as folder names, dates the engines can hold, windows."""
    return _period_problems(params.get("periods"))


def exports(params: RunParams) -> list[str]:
    """The runner's customer lists (exports, sources.customers): CSV dialect, hashed contacts."""
    problems = _exports_problems(params.get("exports.csv"))
    return problems + _hashed_contact_problems(params.get("exports"), params.get("sources.customers"))


def _choice_problems(params: RunParams, choices: Mapping[str, tuple[Any, ...]]) -> list[str]:
    """A problem for every dotted key whose value is not one of its allowed values."""
    return [
        f"{dotted} must be one of {', '.join(allowed)}, got {params.get(dotted)!r}"
        for dotted, allowed in choices.items()
        if params.get(dotted) not in allowed
    ]


def _fraction_problems(params: RunParams, keys: tuple[str, ...]) -> list[str]:
    """A problem for every dotted key whose value is not a share between 0 and 1."""
    return [
        f"{dotted} must be between 0 and 1, got {params.get(dotted)}"
        for dotted in keys
        if not 0 <= params.get(dotted) <= 1
    ]


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
        as_of = None if raw.get("as_of") is None else parse_date(raw["as_of"])
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
                f"engine.spark.config.{key} must be text, a number or true/false, got {type_name(value)}"
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
    if settings["calibration_end"] and parse_date(settings["calibration_end"]) is None:
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
