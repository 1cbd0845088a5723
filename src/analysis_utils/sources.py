"""The optional extra sources of a client: customer table, engagement events, campaign results.

Each source is read like the transactions (:func:`analysis_utils.io.read_raw`: path, format, read
options; then the mapping of canonical columns, ``sources.<name>.columns``), typed, cleaned by the
rules of docs/methodology.md section 12, and counted in a data-quality table in the stage 01 style.
A source without a path is absent: its table is None and :attr:`SourceTables.skipped` says why.

Events and campaign contacts can be many rows: their rules and counts run in the engine (Ibis), and
only one row per customer (events) or per customer and campaign (contacts) comes out. The customer
table is customer-level and is cleaned in pandas.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from analysis_utils import paths
from analysis_utils.config import CONTACT_COLUMNS, CUSTOMER_ATTRIBUTES, SOURCE_COLUMNS, Period, RunParams
from analysis_utils.engine import engine_errors
from analysis_utils.io import (
    as_number,
    as_text,
    as_timestamp,
    check_mapped_columns,
    input_files,
    read_raw,
)

MAX_AGE_YEARS = 120
TRUE_WORDS = ("1", "yes", "y", "true", "t")
FALSE_WORDS = ("0", "no", "n", "false", "f")
QUALITY_COLUMNS = ("source", "rule", "description", "action", "unit", "rows")
RULES = {
    "read": "rows in the file",
    "missing_customer": "customer id missing",
    "duplicate_customer": "another row of the same customer id (the most complete row is kept)",
    "impossible_age": "age below 0 or above 120 years, or birth date after the period's end (age blanked)",
    "unknown_category": "value not among sources.customers.categories (value blanked)",
    "unparseable_date": "date missing or not in the source's date_format",
    "after_as_of": "dated on or after the period's as_of (in the future for this period)",
    "before_window": "dated before the period's window start",
    "unknown_event_type": "event type not among ranking.events (after sources.events.type_names)",
    "missing_campaign": "campaign id missing",
    "unreadable_response": "responded is not one of 1/0, yes/no, true/false, y/n",
    "duplicate_contact": "repeated (customer, campaign) row, merged (responded if any row says so)",
    "no_transactions": "customer id with no order in the period (not joined)",
    "no_customer_row": "customer of the period without a row in the customer table",
    "kept": "rows joined to the customers of the period",
}


@dataclass(frozen=True)
class SourceTables:
    """The cleaned optional sources of one period (None when absent) and their quality table.

    ``attributes``: one row per customer id of the customer table (customer_id, the mapped
    attributes, ``age`` in whole years at ``as_of``). ``engagement``: one row per customer with
    events in the period, ``events_<type>`` counts for every type of ``ranking.events``.
    ``contacts``: one row per (customer_id, campaign_id) with ``responded`` (bool).
    ``skipped``: source name -> why it is absent.
    """

    attributes: pd.DataFrame | None
    engagement: pd.DataFrame | None
    contacts: pd.DataFrame | None
    quality: pd.DataFrame
    skipped: dict[str, str]


def load_sources(
    params: RunParams, period: Period, con: ibis.BaseBackend, period_customers: Sequence[str]
) -> SourceTables:
    """Read, clean and count every optional source that has a path.

    ``period_customers`` are the customer ids with an order in the period (stage 02): rows of
    other ids are counted as ``no_transactions`` and left out of the tables.
    Raises ConfigError for a mapped column the file lacks, DataError for a missing or unreadable file.
    """
    sources = params.get("sources")
    known = pd.Index(pd.unique(pd.Series(period_customers, dtype="string")))
    skipped = absent_sources(sources)
    quality: list[pd.DataFrame] = []
    attributes = engagement = contacts = None
    if "customers" not in skipped:
        with _opened(con, sources["customers"], "customers") as raw:
            rows = _customer_fields(raw, sources["customers"], con).to_pandas()
        attributes, counts = clean_customers(rows, sources["customers"]["categories"], period, known)
        quality.append(counts)
    if "events" not in skipped:
        with _opened(con, sources["events"], "events") as raw:
            events = _event_fields(raw, sources["events"], con)
            engagement, counts = count_events(events, list(params.get("ranking.events")), period, known)
        quality.append(counts)
    if "campaigns" not in skipped:
        with _opened(con, sources["campaigns"], "campaigns") as raw:
            contacts, counts = campaign_contacts(
                _campaign_fields(raw, sources["campaigns"], con), period, known
            )
        quality.append(counts)
    table = pd.concat(quality, ignore_index=True) if quality else pd.DataFrame(columns=list(QUALITY_COLUMNS))
    return SourceTables(attributes, engagement, contacts, table, skipped)


def absent_sources(sources: Mapping[str, Any]) -> dict[str, str]:
    """Source name -> why it is absent, for every optional source without a path (``sources`` parameters)."""
    return {name: f"no {name} file was supplied" for name in SOURCE_COLUMNS if not sources[name]["path"]}


def check_sources(params: RunParams, con: ibis.BaseBackend) -> None:
    """Open every optional source that has a path: file present and readable, every mapped column there.

    Scans nothing beyond each file's header; raises as :func:`load_sources` would, before any notebook runs.
    """
    for name in SOURCE_COLUMNS:
        source = params.get(f"sources.{name}")
        if source["path"]:
            with _opened(con, source, name):
                pass


@contextlib.contextmanager
def _opened(con: ibis.BaseBackend, source: Mapping[str, Any], name: str) -> Iterator[ir.Table]:
    """The source's file with its own column names; engine errors become one line naming the file."""
    path = paths.resolve(source["path"])
    section = f"sources.{name}"
    raw = read_raw(con, input_files(path, source["format"], section=section), source, section=section)
    check_mapped_columns(raw, source["columns"], path, section=section)
    with engine_errors(str(path)):
        yield raw


# --- customers -----------------------------------------------------------------------------------


def _customer_fields(raw: ir.Table, source: Mapping[str, Any], con: ibis.BaseBackend) -> ir.Table:
    """Canonical customer rows: customer_id, text attributes, ``age`` or ``birth_date``."""
    columns = source["columns"]
    fields: dict[str, ir.Value] = {"customer_id": as_text(raw[columns["customer_id"]])}
    fields |= {name: as_text(raw[columns[name]]) for name in CUSTOMER_ATTRIBUTES if name in columns}
    if "age" in columns:
        fields["age"] = as_number(raw[columns["age"]])
    if "birth_date" in columns:
        fields["birth_date"] = as_timestamp(raw[columns["birth_date"]], source["date_format"], con)
    return raw.select(**fields)


def read_contacts(params: RunParams, con: ibis.BaseBackend) -> pd.DataFrame:
    """customer_id and the mapped contact columns (email, phone) of the customers source, as text.

    For ``exports.hashed_contacts`` only: the caller hashes them at once (exports.hashed_audience);
    they never reach customer_360.parquet or any other output. Empty without a mapped contact column.
    """
    source = params.get("sources.customers")
    columns = source["columns"]
    wanted = [name for name in CONTACT_COLUMNS if name in columns]
    if not source["path"] or not wanted:
        return pd.DataFrame(columns=["customer_id", *CONTACT_COLUMNS], dtype="string")
    with _opened(con, source, "customers") as raw:
        fields = {"customer_id": as_text(raw[columns["customer_id"]])}
        fields |= {name: as_text(raw[columns[name]]) for name in wanted}
        rows = raw.select(**fields).to_pandas()
    for name in CONTACT_COLUMNS:
        if name not in rows.columns:
            rows[name] = pd.NA
    return rows[["customer_id", *CONTACT_COLUMNS]].astype("string")


def clean_customers(
    rows: pd.DataFrame, categories: Mapping[str, Sequence[str]], period: Period, period_customers: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer rows -> one row per customer id, and the quality counts of the customer source.

    Rules, in order: rows without an id are dropped; of several rows of one id the most complete
    (most non-missing values) is kept, ties to the smallest values column by column (so the choice
    never depends on row order); an impossible age is blanked; a category outside
    ``sources.customers.categories`` is blanked (valid values take the listed spelling).
    ``age`` is whole years at ``as_of`` from ``birth_date``, or the mapped age rounded down.
    """
    attributes = [c for c in CUSTOMER_ATTRIBUTES if c in rows.columns]
    counts = {"read": len(rows), "missing_customer": int(rows["customer_id"].isna().sum())}
    rows = rows[rows["customer_id"].notna()].assign(age=_age_years(rows, period))
    rows = rows.drop(columns=["birth_date"], errors="ignore")
    impossible = (rows["age"] < 0) | (rows["age"] > MAX_AGE_YEARS)
    counts["impossible_age"] = int(impossible.sum())
    rows = rows.assign(age=rows["age"].mask(impossible))
    counts["unknown_category"] = 0
    for attribute in attributes:
        cleaned = _known_category(rows[attribute], categories.get(attribute))
        counts["unknown_category"] += int((rows[attribute].notna() & cleaned.isna()).sum())
        rows = rows.assign(**{attribute: cleaned})
    kept = _most_complete_row(rows)
    counts["duplicate_customer"] = len(rows) - len(kept)
    counts["no_transactions"] = int((~kept["customer_id"].isin(period_customers)).sum())
    counts["no_customer_row"] = int((~period_customers.isin(kept["customer_id"])).sum())
    joined = kept[kept["customer_id"].isin(period_customers)].reset_index(drop=True)
    counts["kept"] = len(joined)
    actions = {
        "read": "read",
        "missing_customer": "dropped",
        "duplicate_customer": "dropped",
        "impossible_age": "blanked",
        "unknown_category": "blanked",
        "no_transactions": "not joined",
        "no_customer_row": "kept without attributes",
        "kept": "kept",
    }
    units = {"unknown_category": "values", "no_customer_row": "customers", "no_transactions": "customers"}
    return joined, quality_rows("customers", counts, actions, units | {"kept": "customers"})


def _age_years(rows: pd.DataFrame, period: Period) -> pd.Series:
    """Whole years at ``as_of``: from ``birth_date`` (birthday not yet reached: one less) or ``age``."""
    if "birth_date" in rows.columns:
        born = pd.to_datetime(rows["birth_date"])
        as_of = period.as_of
        before_birthday = (born.dt.month > as_of.month) | (
            (born.dt.month == as_of.month) & (born.dt.day > as_of.day)
        )
        return (as_of.year - born.dt.year - before_birthday.astype(int)).astype("Float64")
    if "age" in rows.columns:
        return np.floor(rows["age"]).astype("Float64")
    return pd.Series(pd.NA, index=rows.index, dtype="Float64")


def _known_category(values: pd.Series, valid: Sequence[str] | None) -> pd.Series:
    """Values in the listed spelling (matched without case), NULL when not listed; all kept without a list."""
    if not valid:
        return values
    spelling = {str(v).strip().lower(): str(v) for v in valid}
    return values.str.lower().map(spelling).astype("string")


def _most_complete_row(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per customer id: most non-missing values first, then smallest values column by column."""
    values = [c for c in rows.columns if c != "customer_id"]
    ranked = rows.assign(_missing=rows[values].isna().sum(axis=1))
    ranked = ranked.sort_values(["customer_id", "_missing", *values], kind="stable", na_position="last")
    kept = ranked.drop_duplicates("customer_id", keep="first").drop(columns="_missing")
    return kept.sort_values("customer_id", ignore_index=True)


# --- events --------------------------------------------------------------------------------------


def _event_fields(raw: ir.Table, source: Mapping[str, Any], con: ibis.BaseBackend) -> ir.Table:
    """Canonical events: customer_id, event_type (lower case, renamed by ``type_names``), event_date."""
    columns = source["columns"]
    label = as_text(raw[columns["event_type"]]).lower()
    renames = {str(k).strip().lower(): str(v) for k, v in source["type_names"].items()}
    event_type = label.substitute(renames) if renames else label
    return raw.select(
        customer_id=as_text(raw[columns["customer_id"]]),
        event_type=event_type,
        event_date=as_timestamp(raw[columns["event_date"]], source["date_format"], con),
    )


def count_events(
    events: ir.Table, event_types: Sequence[str], period: Period, period_customers: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events of the period counted per customer and type, and the quality counts of the events source.

    Rules, in order: missing customer id, date missing or unparseable, dated on or after ``as_of``,
    dated before the window start, type not in ``event_types``; the rest count. Events of ids with
    no order in the period are counted as ``no_transactions`` and left out.
    """
    conditions = [
        ("missing_customer", events.customer_id.isnull()),
        ("unparseable_date", events.event_date.isnull()),
        *_period_conditions(events.event_date, period),
        ("unknown_event_type", ~events.event_type.isin(list(event_types)) | events.event_type.isnull()),
    ]
    annotated = events.mutate(rule=_first_rule(conditions))
    kept = annotated.filter(annotated.rule.isnull())
    per_type = {f"events_{t}": (kept.event_type == t).cast("int64").sum() for t in event_types}
    rule_counts = _rule_counts(annotated)
    wide = kept.group_by("customer_id").aggregate(**per_type).to_pandas()
    joined = wide["customer_id"].isin(period_customers)
    counts = {**rule_counts, "no_transactions": int(wide.loc[~joined, list(per_type)].to_numpy().sum())}
    counts["kept"] = int(wide.loc[joined, list(per_type)].to_numpy().sum())
    engagement = (
        wide[joined].astype(dict.fromkeys(per_type, "int64")).sort_values("customer_id", ignore_index=True)
    )
    return engagement, quality_rows("events", counts, _dropped_except({"no_transactions": "not joined"}))


# --- campaigns -----------------------------------------------------------------------------------


def _campaign_fields(raw: ir.Table, source: Mapping[str, Any], con: ibis.BaseBackend) -> ir.Table:
    """Canonical contacts: customer_id, campaign_id, responded (bool, NULL when unreadable), sent_date."""
    columns = source["columns"]
    word = as_text(raw[columns["responded"]]).lower()
    responded = ibis.cases(
        (word.isin(list(TRUE_WORDS)), True), (word.isin(list(FALSE_WORDS)), False), else_=ibis.null("boolean")
    )
    fields = {
        "customer_id": as_text(raw[columns["customer_id"]]),
        "campaign_id": as_text(raw[columns["campaign_id"]]),
        "responded": responded,
    }
    if "sent_date" in columns:
        fields["sent_date"] = as_timestamp(raw[columns["sent_date"]], source["date_format"], con)
    return raw.select(**fields)


def campaign_contacts(
    contacts: ir.Table, period: Period, period_customers: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (customer, campaign) of the period with ``responded``, and the campaign quality counts.

    Rules, in order: missing customer id, missing campaign id, unreadable response, and with
    ``sent_date`` mapped: date unparseable, on or after ``as_of``, before the window start. Repeated
    (customer, campaign) rows merge into one contact that responded if any row says so. Contacts of
    ids with no order in the period are counted as ``no_transactions`` and left out.
    """
    conditions = [
        ("missing_customer", contacts.customer_id.isnull()),
        ("missing_campaign", contacts.campaign_id.isnull()),
        ("unreadable_response", contacts.responded.isnull()),
    ]
    if "sent_date" in contacts.columns:
        conditions += [
            ("unparseable_date", contacts.sent_date.isnull()),
            *_period_conditions(contacts.sent_date, period),
        ]
    annotated = contacts.mutate(rule=_first_rule(conditions))
    kept = annotated.filter(annotated.rule.isnull())
    merged = kept.group_by(["customer_id", "campaign_id"]).aggregate(
        responded=kept.responded.any(), rows=kept.count()
    )
    counts = _rule_counts(annotated)
    pairs = merged.order_by(["customer_id", "campaign_id"]).to_pandas()
    counts["duplicate_contact"] = int((pairs["rows"] - 1).sum())
    joined = pairs["customer_id"].isin(period_customers)
    counts["no_transactions"] = int((~joined).sum())
    counts["kept"] = int(joined.sum())
    table = pairs.loc[joined, ["customer_id", "campaign_id", "responded"]].astype({"responded": bool})
    actions = _dropped_except({"duplicate_contact": "merged", "no_transactions": "not joined"})
    return table.reset_index(drop=True), quality_rows(
        "campaigns", counts, actions, {"kept": "contacts", "no_transactions": "contacts"}
    )


# --- shared --------------------------------------------------------------------------------------


def _period_conditions(date: ir.TimestampValue, period: Period) -> list[tuple[str, ir.BooleanValue]]:
    """Future (on or after ``as_of``) and, with a window, before its start."""
    conditions = [("after_as_of", date >= period.as_of)]
    if period.window_start is not None:
        conditions.append(("before_window", date < period.window_start))
    return conditions


def _first_rule(conditions: Sequence[tuple[str, ir.BooleanValue]]) -> ir.StringValue:
    """Name of the first rule whose condition holds, NULL for a row that stays."""
    return ibis.cases(*((condition, rule) for rule, condition in conditions), else_=ibis.null("string"))


def _rule_counts(annotated: ir.Table) -> dict[str, int]:
    """Rows per rule (``read`` = every row); kept rows are counted by the caller."""
    grouped = annotated.group_by("rule").aggregate(rows=annotated.count()).to_pandas()
    counts = {"read": int(grouped["rows"].sum())}
    counts |= {
        rule: int(n) for rule, n in zip(grouped["rule"], grouped["rows"], strict=True) if pd.notna(rule)
    }
    return counts


def _dropped_except(actions: Mapping[str, str]) -> dict[str, str]:
    """Every rule's action: ``dropped``, except read, kept and those given."""
    return {rule: "dropped" for rule in RULES} | {"read": "read", "kept": "kept"} | dict(actions)


def quality_rows(
    source: str, counts: Mapping[str, int], actions: Mapping[str, str], units: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The quality table of one source: ``read`` first, rules that touched something, ``kept`` last."""
    units = units or {}
    order = [rule for rule in RULES if rule in counts and (counts[rule] or rule in ("read", "kept"))]
    return pd.DataFrame(
        [(source, r, RULES[r], actions[r], units.get(r, "rows"), int(counts[r])) for r in order],
        columns=list(QUALITY_COLUMNS),
    )
