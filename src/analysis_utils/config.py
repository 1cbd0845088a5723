"""Parameters: YAML layers (defaults < client file < command line), their keys and types.

``params/defaults.yaml`` declares every key with its default; its types are the schema. A client
file and ``-p key.sub=value`` overrides may only use declared keys. The value rules go with the
stages (analysis_utils.parameter_rules); analysis_utils.loader runs both and raises every problem
found at once as one :class:`ConfigError`.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
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
# Mappings whose keys the consultant chooses (validated by value, not against the defaults' keys).
OPEN_MAPPINGS = ("ranking.events",)
# Keys whose value may take more than the default's type (the default's type is the schema).
ALTERNATIVE_TYPES = {
    "rfm.strategy": (str, dict),
    "rfm.saved_thresholds": (str, type(None)),
    "prep.drop_duplicates": (str, bool),
}
DROP_DUPLICATES = ("auto", True, False)


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


@dataclass(frozen=True)
class Layers:
    """One client's parameters merged (defaults < client file < overrides), before the value rules.

    ``problems``: unknown keys (with a did-you-mean), values of the wrong type, a client file name
    that cannot name a folder. ``typed``: every value has its default's type, so the value rules
    (analysis_utils.parameter_rules, run by analysis_utils.loader) can compare and index them.
    """

    source: Path
    values: dict[str, Any]
    problems: tuple[str, ...]
    typed: bool

    @property
    def params(self) -> RunParams:
        """The merged values as parameters (not yet validated by the value rules)."""
        return RunParams(client=self.source.stem, source=self.source, values=self.values)


def read_layers(
    client_file: str | Path,
    overrides: Iterable[str] = (),
    defaults_file: Path = paths.DEFAULTS_FILE,
) -> Layers:
    """Merge defaults < client file < overrides and check their keys and types against the defaults.

    Raises ConfigError naming the file when a layer cannot be read (missing, not UTF-8, invalid
    YAML, not a mapping) or an override is malformed.
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
    return Layers(source=source, values=values, problems=tuple(problems), typed=not type_problems)


def resolve(layers: Layers, problems: Sequence[str]) -> RunParams:
    """The resolved parameters: ConfigError listing ``problems`` (all of them, one line, naming the
    client file) if there are any; otherwise the client name defaults to the file's name and period
    dates are stored as ISO text."""
    if problems:
        raise ConfigError(f"{layers.source}: {_count(problems)}: " + "; ".join(problems))
    values = copy.deepcopy(layers.values)
    if not values["client"]["name"]:
        values["client"]["name"] = layers.source.stem
    values["periods"] = [_normalise_period(raw) for raw in values["periods"]]
    return RunParams(client=layers.source.stem, source=layers.source, values=values)


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
                allowed = " or ".join(type_name(kind()) for kind in ALTERNATIVE_TYPES[dotted])
                problems.append(f"{dotted} must be {allowed}, got {type_name(value)}")
        elif isinstance(default, dict) and default and dotted not in OPEN_MAPPINGS:
            if isinstance(value, Mapping):
                problems += _type_problems(value, default, f"{dotted}.")
            else:
                problems.append(f"{dotted} must be a mapping, got {type_name(value)}")
        elif not _same_kind(value, default):
            problems.append(f"{dotted} must be {type_name(default)}, got {type_name(value)}")
    return problems


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def type_name(value: Any) -> str:
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "text"}
    names |= {list: "a list", dict: "a mapping", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


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


def parse_date(value: Any) -> dt.datetime | None:
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
    as_of = parse_date(raw["as_of"])
    return {"name": raw["name"], "as_of": as_of.isoformat(sep=" "), "window_days": raw.get("window_days")}


def _to_period(raw: Mapping[str, Any]) -> Period:
    return Period(name=raw["name"], as_of=parse_date(raw["as_of"]), window_days=raw.get("window_days"))


def dump_params(params: RunParams) -> str:
    """Resolved parameters as YAML text (the copy saved with every run)."""
    return yaml.safe_dump(params.values, sort_keys=True, allow_unicode=True)
