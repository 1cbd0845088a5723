"""Customer lists a CRM or e-mail team can load: ``exports/`` inside a finished period run folder.

What the folder holds (methodology, section "Customer lists for the CRM team"):

- ``customers.csv``: one row per customer of the period with the client's own id and everything a
  campaign needs (:data:`COLUMNS`);
- one CSV per audience (:func:`audiences`): each segment, the customers whose segment moved down
  since the previous period, the high-risk customers of the valuable segments, each tier;
- ``customers.xlsx``: one workbook with a sheet per list and summary sheets (report: client,
  prepared by, report date; lists, segments, tiers, KPIs, value matrix, clusters, moves between
  periods), written byte-reproducibly (:func:`workbook_bytes`);
- ``pseudonym_key.csv``: the pseudonym the client pages show -> the customer id;
- ``README.txt``: the folder holds raw ids and is confidential;
- ``audience_hashed.csv`` (only with ``exports.hashed_contacts``): SHA-256 digests of the customers'
  normalised e-mail and phone (:func:`hashed_audience`), for the ad platforms' customer-list uploads.

Everything but :func:`write_exports` is a pure function of tables and parameters.

The CSV files follow ``exports.csv`` (separator, decimal mark, encoding; UTF-8 with a byte order
mark by default, which Excel needs to read accents correctly).

Segment change (stage 06, migration.customer_moves): both periods are scored on the scale of the
client report's migration matrix (comparison.reference), so the moves are that matrix's cells;
segments are ranked best first in the order in which the segments file (``rfm.segments_file``)
first names them, with "No net spend" (and any segment the file does not name) last. A customer
whose segment ranks better than in the previous period moved ``up``, worse ``down``, equally
``same``; a customer absent from the previous period's customers is ``new``. The "Segment" column
is the period's own (as its report shows it); "Segment on the comparison scale" is the one compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis_utils import comparison, executive, migration, paths, privacy, rfm, segments, value_matrix
from analysis_utils.config import RunParams
from analysis_utils.errors import DataError

FOLDER = paths.EXPORTS_FOLDER
WORKBOOK = "customers.xlsx"
CUSTOMERS_CSV = "customers.csv"
KEY_CSV = "pseudonym_key.csv"
README = "README.txt"
HASHED_CSV = "audience_hashed.csv"  # exports.hashed_contacts: digests of e-mail and phone, no id
HASHED_SETTINGS = {"sep": ",", "decimal": ".", "encoding": "utf-8"}  # what the ad platforms read
REPORT_SHEET = "Report"  # first sheet: client, prepared by, period, report date
SUMMARY_SHEETS = {"report", "lists", "segments", "tiers", "kpis", "value matrix", "clusters", "moves"}
EXCEL_MAX_ROWS = 1_048_576  # rows of an Excel sheet, header included: a longer list is in its CSV only
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # earliest time a zip entry can carry: no clock in the workbook
DEFAULT_CSV = {"sep": ",", "decimal": ".", "encoding": "utf-8-sig"}

# Number formats of the workbook.
INTEGER, DECIMAL, MONEY, PROBABILITY, DATE, TEXT = "0", "0.00", "#,##0.00", "0.000", "yyyy-mm-dd", "@"
PERCENT = "0.0%"
SUMMARY_FORMATS = {  # headers of the summary sheets -> number format
    "Share of customers": PERCENT,
    "Share of revenue": PERCENT,
    "Total CLV": MONEY,
    "Revenue": MONEY,
    "Median net spend": MONEY,
    "Median order value": MONEY,
    "Median orders": DECIMAL,
    "Median days since last order": DECIMAL,
    "Fewest points": DECIMAL,
    "Most points": DECIMAL,
    "Net spend in previous period of those who moved down": MONEY,
}
MONEY_HEADERS = {  # headers that get the currency: "Revenue (GBP)"
    "CLV", "Net spend in period", "Net spend in previous period", "Total CLV", "Revenue", "Median net spend",
    "Median order value", "Net spend in previous period of those who moved down",
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column of the customer table: its source name, its header, its Excel number format."""

    name: str
    header: str
    number_format: str = "General"
    digits: int | None = None  # decimals kept in the CSV and the workbook (None: not rounded)


COLUMNS = (
    Column("customer_id", "Customer id", TEXT),
    Column("pseudonym", "Pseudonym (client reports)", TEXT),
    Column("segment", "Segment"),
    Column("previous_segment", "Segment in previous period"),
    Column("compared_segment", "Segment on the comparison scale"),
    Column("segment_change", "Segment change"),
    Column("previous_net_spend", "Net spend in previous period", MONEY, 2),
    Column("r_score", "R score", INTEGER),
    Column("f_score", "F score", INTEGER),
    Column("m_score", "M score", INTEGER),
    Column("cell", "RFM cell", TEXT),
    Column("value_type", "Value type"),
    Column("cluster_name", "Cluster"),
    Column("quadrant", "Value-matrix quadrant"),
    Column("tier", "Tier"),
    Column("points_total", "Points", DECIMAL, 2),
    Column("rank", "Rank", INTEGER),
    Column("churn_risk", "Churn risk"),
    Column("p_alive", "P(alive)", PROBABILITY, 4),
    Column("expected_purchases", "Expected purchases (CLV horizon)", DECIMAL, 2),
    Column("clv", "CLV", MONEY, 2),
    Column("clv_low", "CLV, low end of 80% interval", MONEY, 2),
    Column("clv_high", "CLV, high end of 80% interval", MONEY, 2),
    Column("p_no_purchase_horizon", "P(no purchase in CLV horizon)", PROBABILITY, 4),
    Column("frequency", "Orders in period", INTEGER),
    Column("monetary", "Net spend in period", MONEY, 2),
    Column("last_order_date", "Last order date", DATE),
    Column("loyalty_level", "Loyalty level"),
    Column("offer", "Recommended offer"),
    Column("campaign", "Recommended action"),
)
HEADERS = {column.name: column.header for column in COLUMNS}
SUMMARY_HEADERS = {  # columns of the value-matrix and cluster summaries -> their headers (in order)
    "quadrant": "Quadrant",
    "cluster_name": "Cluster",
    "customers": "Customers",
    "share_customers": "Share of customers",
    "revenue": "Revenue",
    "share_revenue": "Share of revenue",
    "median_recency_days": "Median days since last order",
    "median_frequency": "Median orders",
    "median_monetary": "Median net spend",
    "median_aov": "Median order value",
}
INTEGER_COLUMNS = ("r_score", "f_score", "m_score", "rank", "frequency")
TEXT_COLUMNS = ("tier", "segment", "cluster_name", "quadrant", "value_type", "churn_risk", "cell")
TEXT_MOVES = ("previous_segment", "compared_segment", "segment_change")

# Artifacts of the run read for the customer table: file -> columns taken (besides customer_id).
SOURCES = {
    "clusters.parquet": ("cluster_name",),
    "value_matrix.parquet": ("quadrant",),
    "customer_360.parquet": ("tier", "points_total", "rank", *migration.MOVE_COLUMNS),
    "churn_risk.parquet": ("churn_risk",),
    "future_value.parquet": (
        "p_alive",
        "expected_purchases",
        "clv",
        "clv_low",
        "clv_high",
        "p_no_purchase_horizon",
    ),  # fmt: skip
}
CUSTOMER_COLUMNS = (
    "customer_id", "segment", "r_score", "f_score", "m_score", "cell", "value_type",
    "frequency", "monetary", "last_order_date",
)  # fmt: skip


@dataclass(frozen=True)
class Audience:
    """One customer list: its name (sheet), its file, what it holds, and its customers."""

    name: str
    file: str
    description: str
    customers: pd.DataFrame


# --------------------------------------------------------------------------- pure functions


def customer_table(
    customers: pd.DataFrame,
    extra: Mapping[str, pd.DataFrame],
    playbook: pd.DataFrame,
    salt: str,
    order: Sequence[str],
) -> pd.DataFrame:
    """One row per customer of ``customers`` (customers.parquet), with the columns of :data:`COLUMNS`.

    ``extra``: file name of :data:`SOURCES` -> that artifact (a missing artifact or column leaves
    its columns empty); the segment moves come from stage 06 (customer_360.parquet, on the
    comparison's scale). ``playbook``: segments.Playbook.table() (loyalty_level, offer, campaign by
    segment). Rows sorted by segment (``order``), then customer id; numbers rounded as
    :data:`COLUMNS` says.
    """
    table = customers[[c for c in CUSTOMER_COLUMNS if c in customers.columns]].copy()
    for column in CUSTOMER_COLUMNS:
        if column not in table.columns:
            table[column] = pd.NA
    table["customer_id"] = table["customer_id"].astype("string")
    for file, columns in SOURCES.items():
        source = extra.get(file)
        if source is None:
            for column in columns:
                table[column] = pd.NA
            continue
        part = source.reindex(columns=["customer_id", *columns])
        part["customer_id"] = part["customer_id"].astype("string")
        table = table.merge(part, on="customer_id", how="left", validate="one_to_one")
    table["pseudonym"] = privacy.pseudonymise(table["customer_id"], salt)
    actions = playbook.reindex(columns=list(segments.PLAYBOOK_FIELDS))
    table = table.merge(actions, left_on="segment", right_index=True, how="left")
    for name in (*TEXT_COLUMNS, *TEXT_MOVES):
        table[name] = table[name].astype("string")
    for name in INTEGER_COLUMNS:
        table[name] = pd.to_numeric(table[name]).round().astype("Int64")
    for column in COLUMNS:
        if column.digits is not None:
            table[column.name] = pd.to_numeric(table[column.name]).astype("float64").round(column.digits)
    table["last_order_date"] = pd.to_datetime(table["last_order_date"]).dt.normalize()
    rank = {name: place for place, name in enumerate(order)}
    table["_order"] = table["segment"].map(lambda name: rank.get(name, len(order)))
    table = table.sort_values(["_order", "customer_id"], kind="stable", ignore_index=True)
    return table[[column.name for column in COLUMNS]]


def audiences(
    table: pd.DataFrame,
    order: Sequence[str],
    tiers: Sequence[str],
    valuable_segments: Sequence[str],
    previous_name: str | None,
    currency: str = "",
) -> list[Audience]:
    """The lists of the folder, in workbook order: every customer, each segment of ``order`` (those
    of the segments file always, "No net spend" when it has customers), moved down (with what those
    customers spent in the previous period), high risk in valuable segments, each tier of ``tiers``
    (best first). Each keeps the table's columns and order."""
    down = table[_is(table["segment_change"], "down")]
    spent = f"{down['previous_net_spend'].sum():,.2f} {currency}".strip()
    since = (
        f"since period {previous_name} (they spent {spent} in {previous_name})"
        if previous_name
        else "(empty: no previous period)"
    )
    lists = [Audience("Customers", CUSTOMERS_CSV, "Every customer of the period", table)]
    for name in order:
        members = table[_is(table["segment"], name)]
        if name == rfm.NONPOSITIVE_SEGMENT and members.empty:
            continue
        lists.append(Audience(name, f"segment_{slug(name)}.csv", f"Segment {name}", members))
    lists.append(
        Audience(
            "Moved down",
            "moved_down.csv",
            f"Customers whose segment moved down {since}",
            down,
        )
    )
    valuable = ", ".join(valuable_segments)
    lists.append(
        Audience(
            "High risk valuable",
            "high_risk_valuable.csv",
            f"High churn risk in the valuable segments ({valuable})",
            table[
                table["segment"].isin(list(valuable_segments)).fillna(False).astype(bool)
                & _is(table["churn_risk"], "high")
            ],
        )
    )
    for tier in tiers:
        lists.append(
            Audience(
                f"Tier {tier}", f"tier_{slug(tier)}.csv", f"Tier {tier}", table[_is(table["tier"], tier)]
            )
        )
    return _unique(lists)


def segment_summary(table: pd.DataFrame, order: Sequence[str], playbook: pd.DataFrame) -> pd.DataFrame:
    """Per segment (``order``; empty ones included): customers, share, high risk, CLV, and the actions."""
    grouped = table.groupby("segment", observed=True)
    present = [name for name in order if name != rfm.NONPOSITIVE_SEGMENT or name in grouped.groups]
    summary = pd.DataFrame(
        {
            "Customers": grouped.size(),
            "High churn risk": grouped["churn_risk"].apply(lambda s: int((s == "high").sum())),
            "Total CLV": grouped["clv"].sum(min_count=1),
        }
    ).reindex(present)
    summary["Customers"] = summary["Customers"].fillna(0).astype("int64")
    summary["High churn risk"] = summary["High churn risk"].fillna(0).astype("int64")
    summary.insert(1, "Share of customers", (summary["Customers"] / max(len(table), 1)).round(4))
    summary["Total CLV"] = summary["Total CLV"].astype("float64").round(2)
    actions = playbook.reindex(index=present, columns=list(segments.PLAYBOOK_FIELDS))
    summary = summary.join(actions.rename(columns={f: HEADERS[f] for f in segments.PLAYBOOK_FIELDS}))
    return summary.rename_axis("Segment").reset_index()


def tier_summary(table: pd.DataFrame, tiers: Sequence[str]) -> pd.DataFrame:
    """Per tier (best first): customers, share, fewest and most points, total CLV."""
    grouped = table.groupby("tier", observed=True)
    summary = pd.DataFrame(
        {
            "Customers": grouped.size(),
            "Fewest points": grouped["points_total"].min(),
            "Most points": grouped["points_total"].max(),
            "Total CLV": grouped["clv"].sum(min_count=1),
        }
    ).reindex(list(tiers))
    summary["Customers"] = summary["Customers"].fillna(0).astype("int64")
    summary.insert(1, "Share of customers", (summary["Customers"] / max(len(table), 1)).round(4))
    summary["Total CLV"] = summary["Total CLV"].astype("float64").round(2)
    return summary.rename_axis("Tier").reset_index()


def move_summary(table: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Per segment of the previous period (comparison scale, ``order``): its customers who bought
    again in this period, how many moved up, stayed, moved down, and what those who moved down
    spent in the previous period; then the customers new since the previous period. Empty without
    a previous period."""
    known = table[table["previous_segment"].notna()]
    counts = pd.crosstab(known["previous_segment"], known["segment_change"]).reindex(
        columns=["up", "same", "down"], fill_value=0
    )
    spent = (
        known[_is(known["segment_change"], "down")].groupby("previous_segment")["previous_net_spend"].sum()
    )
    present = [name for name in order if name in counts.index]
    summary = pd.DataFrame(
        {
            "Customers who bought again": counts.sum(axis=1),
            "Moved up": counts["up"],
            "Same segment": counts["same"],
            "Moved down": counts["down"],
            "Net spend in previous period of those who moved down": spent,
        }
    ).reindex(present)
    summary = summary.fillna({"Net spend in previous period of those who moved down": 0.0}).round(2)
    summary = summary.rename_axis("Segment in previous period").reset_index()
    new = int(_is(table["segment_change"], migration.NEW).sum())
    if len(known) or new:
        summary.loc[len(summary)] = ["New since the previous period", new, None, None, None, None]
    return summary


def kpi_summary(kpis: pd.DataFrame, currency: str) -> pd.DataFrame:
    """The period's KPIs (kpis.parquet, one row) as Measure, Value, Unit: rates in %, money in
    ``currency`` (2 decimals), counts whole, ratios (orders per customer) 2 decimals; a KPI the
    period cannot compute is left out."""
    labels = {name: label for name, (label, _) in comparison.KPI_LABELS.items()}
    kinds = {name: kind for name, (_, kind) in comparison.KPI_LABELS.items()}
    for name in ("top_revenue_share", "revenue_at_risk"):  # the client report's headline numbers
        labels[name] = executive.HEADLINES[name][0]
        kinds[name] = "rate" if executive.HEADLINES[name][1] == "share" else "money"
    rows = []
    for name, value in kpis.iloc[0].items():
        if name not in labels or value is None or pd.isna(value):
            continue
        kind = kinds[name]
        if kind == "rate":
            rows.append((labels[name], round(float(value) * 100, 2), "%"))
        elif kind.startswith("money"):
            rows.append((labels[name], round(float(value), 2), currency))
        elif kind == "count":
            rows.append((labels[name], int(value), "count"))
        else:
            rows.append((labels[name], round(float(value), 2), "ratio"))
    return pd.DataFrame(rows, columns=["Measure", "Value", "Unit"], dtype="object")


def quadrant_summary(placed: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """value_matrix.quadrant_summary of stage 04's quadrants, with the client's headers."""
    merged = placed[["customer_id", "quadrant", "aov", "frequency"]].merge(
        customers[["customer_id", "monetary"]], on="customer_id", validate="one_to_one"
    )
    summary = value_matrix.quadrant_summary(merged)
    return summary.rename(columns=SUMMARY_HEADERS).round(4)


def cluster_summary(clusters: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """executive.cluster_profile of stage 03's clusters (sizes, revenue, medians), client's headers."""
    clustered = customers.merge(clusters[["customer_id", "cluster", "cluster_name"]], on="customer_id")
    profile = executive.cluster_profile(clustered).drop(columns="cluster")
    columns = [c for c in SUMMARY_HEADERS if c in profile.columns and c != "quadrant"]
    return profile[columns].rename(columns=SUMMARY_HEADERS).round(4)


def report_summary(
    client: str, prepared_by: str, period: str, report_date: dt.date | None, previous: str | None
) -> pd.DataFrame:
    """The workbook's first sheet: the client, who prepared the lists, the period and its report
    date (the period's as_of, as on the client pages), and the period compared with."""
    rows = [
        ("Client", client),
        ("Prepared by", prepared_by or None),
        ("Period", period),
        ("Report date", report_date.isoformat() if report_date else None),
        ("Segment change compared with period", previous or None),
    ]
    return pd.DataFrame(rows, columns=["Item", "Value"], dtype="object")  # None: an empty cell


def normalise_email(value: Any) -> str | None:
    """An e-mail address as the ad platforms hash it: trimmed and lower-case; None when it is no
    address (empty, no ``@`` with text on both sides, or white space inside)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in text):
        return None
    return text


def normalise_phone(value: Any, default_country_code: str = "") -> str | None:
    """A phone number in E.164: ``+``, the country code and the number, digits only (at most 15).

    ``+44 20 7946 0018`` and ``0044 20 7946 0018`` keep their country code; a number written
    without one (``020 7946 0018``) loses its leading trunk ``0`` and takes ``default_country_code``
    (exports.default_country_code), or is left out (None) when that is empty; a bracketed trunk
    ``(0)`` after the country code is dropped (``+44 (0)20 ...``). Spaces, dots, dashes,
    slashes and brackets are ignored; a number with any other character, or with fewer than 8 or more
    than 15 digits, is None.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    if not text or not re.fullmatch(r"\+?[0-9 .\-/()]+", text):
        return None
    digits = re.sub(r"\D", "", text.replace("(0)", ""))  # +44 (0)20 ...: the bracketed trunk 0 is not dialled
    if text.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    else:
        code = str(default_country_code).strip().lstrip("+")
        if not code:
            return None
        number = code + digits.removeprefix("0")
    if not 8 <= len(number) <= 15 or number.startswith("0"):
        return None
    return f"+{number}"


def sha256_hex(text: str | None) -> str | None:
    """Lower-case hexadecimal SHA-256 of the UTF-8 text (None stays None)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed_audience(
    table: pd.DataFrame, contacts: pd.DataFrame, default_country_code: str, order: Sequence[str]
) -> pd.DataFrame:
    """The period's customers with a usable contact, as the ad platforms' customer-list upload:
    columns ``email`` and ``phone`` (SHA-256 of :func:`normalise_email` and :func:`normalise_phone`,
    empty when the customer has none) and ``segment``. No customer id, no plain contact.

    ``contacts``: customer_id, email, phone (sources.read_contacts). Of several rows of one customer,
    the smallest normalised e-mail and phone are kept (independent of row order). Rows sorted by
    segment (``order``), then by the digests.
    """
    plain = pd.DataFrame(
        {
            "customer_id": contacts["customer_id"].astype("string"),
            "email": [normalise_email(v) for v in contacts["email"]],
            "phone": [normalise_phone(v, default_country_code) for v in contacts["phone"]],
        }
    )
    per_customer = plain.groupby("customer_id", dropna=True)[["email", "phone"]].min()
    hashed = pd.DataFrame(
        {
            "email": [sha256_hex(v) if isinstance(v, str) else None for v in per_customer["email"]],
            "phone": [sha256_hex(v) if isinstance(v, str) else None for v in per_customer["phone"]],
        },
        index=per_customer.index,
        dtype="object",
    )
    del plain, per_customer  # the plain contacts go no further
    members = table[["customer_id", "segment"]].astype({"customer_id": "string"})
    joined = members.merge(hashed, left_on="customer_id", right_index=True, how="inner")
    joined = joined[joined["email"].notna() | joined["phone"].notna()]
    rank = {name: place for place, name in enumerate(order)}
    joined = joined.assign(_order=joined["segment"].map(lambda name: rank.get(name, len(order))))
    joined = joined.sort_values(["_order", "email", "phone"], kind="stable", na_position="last")
    return joined[["email", "phone", "segment"]].reset_index(drop=True)


def list_summary(lists: Sequence[Audience]) -> pd.DataFrame:
    """One row per list: its sheet, its CSV file, what it holds, how many customers."""
    return pd.DataFrame(
        {
            "List (sheet)": [a.name for a in lists],
            "CSV file": [a.file for a in lists],
            "Customers": [len(a.customers) for a in lists],
            "Description": [
                a.description
                + ("" if len(a.customers) < EXCEL_MAX_ROWS else " (CSV only: too long for a sheet)")
                for a in lists
            ],
        }
    )


def headed(table: pd.DataFrame) -> pd.DataFrame:
    """The customer table with its column headers (:data:`COLUMNS`), as written to CSV and Excel."""
    return table.rename(columns=HEADERS)


def csv_bytes(frame: pd.DataFrame, settings: Mapping[str, str]) -> bytes:
    """``frame`` as CSV bytes (no index; dates as YYYY-MM-DD; CRLF line ends) in ``settings``'
    separator, decimal mark and encoding. DataError when a value cannot be written in the encoding."""
    text = frame.to_csv(
        index=False,
        sep=settings["sep"],
        decimal=settings["decimal"],
        date_format="%Y-%m-%d",
        lineterminator="\r\n",
    )
    try:
        return text.encode(settings["encoding"])
    except UnicodeEncodeError as err:
        raise DataError(
            f"exports.csv.encoding {settings['encoding']} cannot write {err.object[err.start : err.end]!r};"
            " use utf-8-sig"
        ) from None


def workbook_bytes(
    sheets: Mapping[str, pd.DataFrame], formats: Mapping[str, str], stamp: dt.datetime
) -> bytes:
    """An .xlsx workbook, a sheet per entry of ``sheets`` (name -> table with its headers), as bytes.

    Written with XlsxWriter (pandas' own Excel writer, twice as fast as openpyxl here). Header row
    bold and frozen, an autofilter over the table, ``formats`` (header -> Excel number format) on
    the data cells, column widths from the headers and values. Every text is written as text, never
    as a formula or a link (a client value ``=HYPERLINK(...)`` stays those characters). Byte-
    reproducible: the document's created and modified times are ``stamp`` and every zip entry
    carries the same fixed time, so the same tables give the same bytes.
    """
    import xlsxwriter

    buffer = BytesIO()
    options = {
        "in_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "remove_timezone": True,
    }
    book = xlsxwriter.Workbook(buffer, options)
    book.set_properties({"author": "crm-workbook", "created": stamp})
    bold = book.add_format({"bold": True})
    cell_formats = {header: book.add_format({"num_format": code}) for header, code in formats.items()}
    for name, frame in sheets.items():
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, [str(header) for header in frame.columns], bold)
        for number, header in enumerate(frame.columns):
            values = [_plain(value) for value in frame[header].tolist()]
            width = max([len(str(header)), *(len(_shown(v)) for v in values[:200])], default=8)
            sheet.set_column(number, number, min(max(width + 2, 8), 60))
            sheet.write_column(1, number, values, cell_formats.get(str(header)))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(frame), max(len(frame.columns), 1) - 1)
    book.close()
    return _fixed_zip(buffer.getvalue())


def readme_text(
    client: str, period: str, previous: str | None, settings: Mapping[str, str], lists: Sequence[Audience]
) -> str:
    """``README.txt``: what the folder holds, that it is confidential, how to open the CSVs."""
    rows = "\n".join(f"  {a.file:<36} {len(a.customers):>8,}  {a.description}" for a in lists)
    change = f"compared with period {previous}" if previous else "empty: the period has no previous period"
    return (
        f"CONFIDENTIAL - customer lists of {client}, period {period}\n"
        f"{'=' * 60}\n\n"
        "This folder holds the client's RAW CUSTOMER IDS (and the key from the pseudonyms of the client\n"
        "reports to those ids). Share it only with the client's CRM or e-mail team, over a secure\n"
        "channel; never attach it to the client report.\n\n"
        f"  {WORKBOOK:<36} every list below as a sheet, plus summary sheets"
        " (report, lists, segments, tiers, KPIs,\n"
        f"  {'':<36} value matrix, clusters, moves between periods)\n"
        f"  {KEY_CSV:<36} pseudonym shown in the client reports -> customer id\n"
        f"{rows}\n\n"
        f"CSV files: separator {settings['sep']!r}, decimal mark {settings['decimal']!r},"
        f" encoding {settings['encoding']} (parameter exports.csv).\n"
        "Ids with leading zeros keep them in the workbook; when opening a CSV in Excel, import the\n"
        "id column as text.\n"
        f"Segment change: {change}, both periods on the scale of the client report's migration matrix;\n"
        "segments ranked in the order of the segments file (best first).\n"
    )


def slug(name: str) -> str:
    """A file-name part: lowercase letters, digits and ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "list"


# --------------------------------------------------------------------------- the writer


@dataclass(frozen=True)
class Exports:
    """Everything the folder holds, before it is written (:func:`build`)."""

    table: pd.DataFrame  # the customer table (source column names, :data:`COLUMNS`)
    lists: list[Audience]
    sheets: dict[str, pd.DataFrame]  # sheet name -> table with its headers, in workbook order
    formats: dict[str, str]  # header -> Excel number format
    settings: dict[str, str]  # exports.csv
    stamp: dt.datetime  # the workbook's created and modified time
    readme: str
    previous: str | None  # the previous period compared with, None when there is none
    hashed: pd.DataFrame | None = None  # audience_hashed.csv (exports.hashed_contacts), else None


def build(run_dir: Path, period_name: str) -> Exports:
    """The exports of the period run in ``run_dir`` (its artifacts and params.yaml), not yet written.

    The segment moves come from stage 06 (customer_360.parquet: the previous period on the client
    report's scale), so the exports compute nothing of another period. The pseudonyms use
    the run's salt (privacy.salt_from: CRM_WORKBOOK_SALT first, as the client report).
    """
    run_dir = Path(run_dir)
    params = run_params(run_dir)
    settings = csv_settings(params.values)
    customers = pd.read_parquet(run_dir / "customers.parquet")
    extra = {file: pd.read_parquet(run_dir / file) for file in SOURCES if (run_dir / file).is_file()}
    playbook = segments.load_playbook(params.get("rfm.playbook_file")).table()
    order = migration.segment_order(segments.load_segment_map(params.get("rfm.segments_file")))
    previous_name = _previous_name(params, period_name)
    table = customer_table(customers, extra, playbook, privacy.salt_from(params.values), order)
    tiers = [tier["name"] for tier in params.get("ranking.tiers")]
    currency = params.get("client.currency")
    lists = audiences(table, order, tiers, params.get("clv.valuable_segments"), previous_name, currency)
    formats = {column.header: column.number_format for column in COLUMNS}
    formats.update(SUMMARY_FORMATS)
    stamp = params.period(period_name).as_of if _declared(params, period_name) else dt.datetime(2000, 1, 1)
    report_date = stamp.date() if _declared(params, period_name) else None
    branding = params.values.get("report") or {}
    sheets = {
        REPORT_SHEET: report_summary(
            params.get("client.name"),
            str(branding.get("prepared_by") or ""),
            period_name,
            report_date,
            previous_name,
        ),
        "Lists": list_summary(lists),
        "Segments": segment_summary(table, order, playbook),
        "Tiers": tier_summary(table, tiers),
        **_artifact_summaries(run_dir, customers, currency),
        "Moves": move_summary(table, order),
        **{a.name: headed(a.customers) for a in lists if len(a.customers) < EXCEL_MAX_ROWS},
    }
    hashed = None
    readme = readme_text(params.get("client.name"), period_name, previous_name, settings, lists)
    if (params.values.get("exports") or {}).get("hashed_contacts"):
        from analysis_utils import engine, sources

        contacts = sources.read_contacts(params, engine.connect(params.get("engine")))
        hashed = hashed_audience(table, contacts, params.get("exports.default_country_code"), order)
        readme += (
            f"\n{HASHED_CSV}: {len(hashed):,} customers as SHA-256 digests of their e-mail"
            " (trimmed, lower-case)\n"
            "and phone (E.164), columns email, phone, segment, for the ad platforms' customer-list uploads\n"
            "(filter by segment, then drop the segment column where the platform wants only the digests).\n"
        )
    return Exports(
        hashed=hashed,
        table=table,
        lists=lists,
        sheets={name: _with_currency(frame, currency) for name, frame in sheets.items()},
        formats={_currency_header(header, currency): fmt for header, fmt in formats.items()},
        settings=settings,
        stamp=stamp,
        readme=readme,
        previous=previous_name,
    )


def write_exports(run_dir: Path, period_name: str) -> list[Path]:
    """Write ``run_dir/exports/`` (:func:`build`) for the period ``period_name``; the files written."""
    built = build(run_dir, period_name)
    folder = Path(run_dir) / FOLDER
    folder.mkdir(exist_ok=True)
    written = [
        _write(folder / audience.file, csv_bytes(headed(audience.customers), built.settings))
        for audience in built.lists
    ]
    written.append(_write(folder / KEY_CSV, csv_bytes(pseudonym_key(built.table), built.settings)))
    written.append(_write(folder / WORKBOOK, workbook_bytes(built.sheets, built.formats, built.stamp)))
    if built.hashed is not None:
        written.append(_write(folder / HASHED_CSV, csv_bytes(built.hashed, HASHED_SETTINGS)))
    written.append(_write(folder / README, built.readme.encode("utf-8")))
    return written


def run_params(run_dir: Path) -> RunParams:
    """The resolved parameters of the run in ``run_dir`` (its params.yaml)."""
    source = run_dir / "params.yaml"
    values = yaml.safe_load(source.read_text(encoding="utf-8"))
    return RunParams(client=run_dir.parent.name, source=source, values=values)


def pseudonym_key(table: pd.DataFrame) -> pd.DataFrame:
    """Columns ``pseudonym`` and ``customer id`` of every customer of ``table``, by pseudonym."""
    key = table[["pseudonym", "customer_id"]].rename(columns={"customer_id": "customer id"})
    return key.sort_values("pseudonym", ignore_index=True)


def csv_settings(values: Mapping[str, Any]) -> dict[str, str]:
    """``exports.csv`` of resolved parameters (the defaults for a run saved before the key existed)."""
    return {**DEFAULT_CSV, **(values.get("exports", {}).get("csv") or {})}


def read_csv(path: Path, settings: Mapping[str, str]) -> pd.DataFrame:
    """A CSV of the exports read back with ``settings``, every column as text except numbers."""
    return pd.read_csv(
        path,
        sep=settings["sep"],
        decimal=settings["decimal"],
        encoding=settings["encoding"],
        dtype={"Customer id": str, "customer id": str, "RFM cell": str},
    )


def read_key(run_dir: Path) -> pd.DataFrame:
    """``pseudonym_key.csv`` of a published run (columns pseudonym, customer id; ids as text)."""
    params_file = run_dir / "params.yaml"
    values = yaml.safe_load(params_file.read_text(encoding="utf-8")) if params_file.is_file() else {}
    settings = csv_settings(values or {})
    return pd.read_csv(
        run_dir / FOLDER / KEY_CSV,
        sep=settings["sep"],
        encoding=settings["encoding"],
        dtype=str,
        keep_default_na=False,
    )


# --------------------------------------------------------------------------- helpers


def _declared(params: RunParams, name: str) -> bool:
    return any(period.name == name for period in params.periods)


def _previous_name(params: RunParams, period_name: str) -> str | None:
    """The name of the period the client report compares ``period_name`` with, None without one."""
    if not _declared(params, period_name):
        return None
    before = comparison.previous_period(params.periods, params.period(period_name))
    return None if before is None else before.name


def _artifact_summaries(run_dir: Path, customers: pd.DataFrame, currency: str) -> dict[str, pd.DataFrame]:
    """The summary sheets of the report's tables that the run holds: KPIs (kpis.parquet, written by
    the client report), the value matrix (stage 04) and the clusters (stage 03)."""
    sheets = {}
    if (run_dir / "kpis.parquet").is_file():
        sheets["KPIs"] = kpi_summary(pd.read_parquet(run_dir / "kpis.parquet"), currency)
    if (run_dir / "value_matrix.parquet").is_file():
        sheets["Value matrix"] = quadrant_summary(
            pd.read_parquet(run_dir / "value_matrix.parquet"), customers
        )
    if (run_dir / "clusters.parquet").is_file():
        sheets["Clusters"] = cluster_summary(pd.read_parquet(run_dir / "clusters.parquet"), customers)
    return sheets


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _unique(lists: list[Audience]) -> list[Audience]:
    """Lists whose sheet names and file names differ (a clash gets a number)."""
    seen_names: set[str] = set()
    seen_files: set[str] = set()
    result = []
    for audience in lists:
        name, file, number = _sheet_name(audience.name), audience.file, 2
        while name.lower() in seen_names or name.lower() in SUMMARY_SHEETS:
            name = _sheet_name(f"{audience.name[:27]} {number}")
            number += 1
        stem, number = file.removesuffix(".csv"), 2
        while file in seen_files or file == KEY_CSV:
            file = f"{stem}_{number}.csv"
            number += 1
        seen_names.add(name.lower())
        seen_files.add(file)
        result.append(Audience(name, file, audience.description, audience.customers))
    return result


def _is(column: pd.Series, value: str) -> pd.Series:
    """Rows whose value is ``value`` (missing values never are)."""
    return column.astype("object").eq(value).astype(bool)


def _sheet_name(name: str) -> str:
    """Excel's rule: at most 31 characters, none of ``[]:*?/\\``, not starting or ending with ``'``."""
    return re.sub(r"[\[\]:*?/\\]", "-", name)[:31].strip("'") or "List"


def _currency_header(header: str, currency: str) -> str:
    return f"{header} ({currency})" if header in MONEY_HEADERS and currency else header


def _with_currency(frame: pd.DataFrame, currency: str) -> pd.DataFrame:
    return frame.rename(columns=lambda header: _currency_header(str(header), currency))


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def _shown(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return "yyyy-mm-dd"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _fixed_zip(data: bytes) -> bytes:
    """The same zip archive with every entry's time set to :data:`ZIP_TIME` (entries in their order)."""
    source = zipfile.ZipFile(BytesIO(data))
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()
