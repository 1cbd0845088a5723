"""Customer lists for the CRM team (exports/): the table, the lists, CSV, the workbook, the key, lookup."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from helpers import TEST_SALT

from analysis_utils import (
    cli,
    comparison,
    exports,
    manifest,
    migration,
    privacy,
    report,
    rfm,
    sample,
    segments,
)
from analysis_utils.config import dump_params
from analysis_utils.errors import ConfigError
from analysis_utils.io import file_sha256
from analysis_utils.loader import load_params

SALT = "exports-test-salt"
SAMPLE_TYPES = "data/sample/customer_types.csv"
PERIODS = [
    {"name": "p1", "as_of": "2024-01-01", "window_days": 365},
    {"name": "p2", "as_of": "2025-01-01", "window_days": 366},
]
# customer id -> (segment now, segment before or None, tier, churn risk)
CASES = {
    "0001": ("Champions", "Champions", "Platinum", "low"),
    "0002": ("Loyal", "Champions", "Gold", "medium"),
    "0003": ("At Risk", "Loyal", "Silver", "high"),
    "0004": ("Lost", "At Risk", "Bronze", "high"),
    "0005": ("Champions", "Lost", "Gold", "low"),
    "0006": ("New", None, "Bronze", "low"),
    "0007": (rfm.NONPOSITIVE_SEGMENT, None, "Bronze", None),
}
PLAYBOOK = segments.load_playbook().table()


def customers_frame() -> pd.DataFrame:
    ids = list(CASES)
    n = len(ids)
    scored = [CASES[i][0] != rfm.NONPOSITIVE_SEGMENT for i in ids]
    score = [float(k % 5 + 1) if ok else np.nan for k, ok in enumerate(scored)]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "recency_days": range(n),
            "frequency": [k + 1 for k in range(n)],
            "monetary": [100.5 + k for k in range(n)],
            "aov": [(100.5 + k) / (k + 1) for k in range(n)],
            "last_order_date": pd.to_datetime([f"2024-12-{k + 1:02d} 13:45" for k in range(n)]),
            "r_score": score,
            "f_score": score,
            "m_score": score,
            "cell": [f"{int(s)}{int(s)}{int(s)}" if s == s else None for s in score],
            "segment": [CASES[i][0] for i in ids],
            "value_type": ["Important value"] * n,
            "p_alive": [0.123456 + k / 10 for k in range(n)],
            "expected_purchases": [1.23456 * k for k in range(n)],
            "clv": [1000.0 / (k + 1) for k in range(n)],
        }
    )


def write_run(
    client_dir: Path,
    params_values: dict,
    period: str,
    customers: pd.DataFrame,
    moves: pd.DataFrame | None = None,
) -> Path:
    """A published-looking period run folder with the artifacts exports reads (``moves``: stage 06's
    segment moves, migration.customer_moves; None for a period without a previous period)."""
    run = client_dir / period
    run.mkdir(parents=True)
    (run / "params.yaml").write_text(dump_params_values(params_values), encoding="utf-8")
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    customers.to_parquet(run / "customers.parquet")
    ids = customers["customer_id"]
    pd.DataFrame({"customer_id": ids, "cluster": 0, "cluster_name": "Clientes fiéis"}).to_parquet(
        run / "clusters.parquet"
    )
    pd.DataFrame(
        {"customer_id": ids, "aov": customers["aov"], "frequency": customers["frequency"], "quadrant": "Best"}
    ).to_parquet(run / "value_matrix.parquet")
    tiers = pd.Categorical([CASES[i][2] for i in ids], categories=["Platinum", "Gold", "Silver", "Bronze"])
    c360 = pd.DataFrame(
        {"customer_id": ids, "tier": tiers, "points_total": [10.0 * k for k in range(len(ids))], "rank": 1}
    )
    if moves is not None:
        c360 = c360.merge(moves, on="customer_id", how="left")
    c360.to_parquet(run / "customer_360.parquet")
    scored = [i for i in ids if CASES[i][3] is not None]
    pd.DataFrame({"customer_id": scored, "churn_risk": [CASES[i][3] for i in scored]}).to_parquet(
        run / "churn_risk.parquet"
    )
    return run


def dump_params_values(values: dict) -> str:
    from analysis_utils.config import RunParams

    return dump_params(RunParams(client="acme", source=Path(), values=values))


@pytest.fixture
def runs(tmp_path, params_for, monkeypatch):
    """Client folder with p1 and p2 published by hand; returns (client_dir, params values)."""
    monkeypatch.delenv(privacy.SALT_VARIABLE, raising=False)
    params = params_for(periods=PERIODS, report={"pseudonym_salt": SALT}, client={"currency": "EUR"})
    client_dir = tmp_path / "reports" / "acme"
    now = customers_frame()
    before = now[now["customer_id"].map(lambda i: CASES[i][1] is not None)].copy()
    before["segment"] = before["customer_id"].map(lambda i: CASES[i][1])
    write_run(client_dir, params.values, "p1", before)
    order = migration.segment_order(segments.load_segment_map())
    write_run(client_dir, params.values, "p2", now, migration.customer_moves(before, now, before, order))
    return client_dir, params.values


def ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["customer_id"])


# --------------------------------------------------------------------------- pure rules


def test_segment_change_follows_the_segments_file_order():
    order = migration.segment_order(segments.load_segment_map())
    assert order[0] == "Champions" and order[-1] == rfm.NONPOSITIVE_SEGMENT
    now = pd.Series(["Loyal", "Champions", "Lost", "New", "Lost"])
    before = pd.Series(["Champions", "Loyal", "Lost", None, rfm.NONPOSITIVE_SEGMENT])
    assert migration.segment_change(now, before, order).tolist() == ["down", "up", "same", "new", "up"]


def test_customer_table_joins_every_source_and_the_playbook(runs):
    client_dir, _ = runs
    table = exports.build(client_dir / "p2", "p2").table
    assert list(table.columns) == [c.name for c in exports.COLUMNS]
    assert len(table) == len(CASES) and table["customer_id"].is_unique
    row = table.set_index("customer_id").loc["0003"]
    assert (row["segment"], row["previous_segment"], row["segment_change"]) == ("At Risk", "Loyal", "down")
    assert (row["tier"], row["churn_risk"], row["quadrant"]) == ("Silver", "high", "Best")
    assert row["cluster_name"] == "Clientes fiéis"
    assert row["campaign"] == PLAYBOOK.loc["At Risk", "campaign"]
    assert row["offer"] == PLAYBOOK.loc["At Risk", "offer"]
    assert row["pseudonym"] == privacy.pseudonymise(pd.Series(["0003"]), SALT).iloc[0]
    assert row["last_order_date"] == pd.Timestamp("2024-12-03")  # the day, not the time
    changes = table.set_index("customer_id")["segment_change"].to_dict()
    assert changes == {"0001": "same", "0002": "down", "0003": "down", "0004": "down", "0005": "up",
                       "0006": "new", "0007": "new"}  # fmt: skip
    unscored = table.set_index("customer_id").loc["0007"]
    assert pd.isna(unscored["churn_risk"]) and pd.isna(unscored["r_score"])
    assert table["segment"].iloc[0] == "Champions" and table["segment"].iloc[-1] == rfm.NONPOSITIVE_SEGMENT


def test_lists_hold_the_right_customers(runs):
    client_dir, _ = runs
    built = exports.build(client_dir / "p2", "p2")
    lists = {a.name: a for a in built.lists}
    assert ids(lists["Moved down"].customers) == {"0002", "0003", "0004"}
    assert ids(lists["High risk valuable"].customers) == {"0003"}  # 0004 is high risk but Lost
    assert ids(lists["Champions"].customers) == {"0001", "0005"}
    assert ids(lists["Tier Bronze"].customers) == {"0004", "0006", "0007"}
    assert ids(lists[rfm.NONPOSITIVE_SEGMENT].customers) == {"0007"}
    assert len(lists["Hibernating"].customers) == 0  # every segment of the file has its list
    assert lists["Customers"].file == exports.CUSTOMERS_CSV
    assert len({a.file for a in built.lists}) == len(built.lists)
    assert built.previous == "p1"


def test_without_a_previous_period_the_change_is_empty(runs):
    client_dir, values = runs
    run = client_dir / "p2"
    only_p2 = {**values, "periods": [values["periods"][1]]}
    (run / "params.yaml").write_text(dump_params_values(only_p2), encoding="utf-8")
    c360 = pd.read_parquet(run / "customer_360.parquet")  # stage 06 finds no previous period either
    c360.assign(**{column: None for column in migration.MOVE_COLUMNS}).to_parquet(
        run / "customer_360.parquet"
    )
    built = exports.build(run, "p2")
    assert built.previous is None
    assert built.table["segment_change"].isna().all()
    assert len({a.name: a for a in built.lists}["Moved down"].customers) == 0
    assert "the period has no previous period" in built.readme


# --------------------------------------------------------------------------- the written folder


def check_workbook(path: Path, built: exports.Exports) -> None:
    """Every sheet of the workbook holds the table it came from: headers, values, formats, filter."""
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(built.sheets)
    for name, frame in built.sheets.items():
        sheet = book[name]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == list(frame.columns), name
        assert len(rows) == len(frame) + 1, name
        for got, expected in zip(rows[1:], frame.itertuples(index=False, name=None), strict=True):
            assert list(got) == [exports._plain(value) for value in expected], name
        assert sheet.freeze_panes == "A2"
        assert (
            sheet.auto_filter.ref
            == f"A1:{openpyxl.utils.get_column_letter(len(frame.columns))}{len(frame) + 1}"
        )
        assert all(cell.font.bold for cell in sheet[1])
        for number, header in enumerate(frame.columns, start=1):
            if len(frame) and header in built.formats:
                assert sheet.cell(row=2, column=number).number_format == built.formats[header], (name, header)


def check_csv(path: Path, frame: pd.DataFrame, settings: dict) -> None:
    """The CSV read back with the configured separator, decimal mark and encoding equals ``frame``."""
    read = exports.read_csv(path, settings)
    assert list(read.columns) == list(frame.columns)
    assert len(read) == len(frame)
    for header in frame.columns:
        expected, got = frame[header].reset_index(drop=True), read[header]
        if pd.api.types.is_datetime64_any_dtype(expected):
            pd.testing.assert_series_equal(
                pd.to_datetime(got), expected, check_names=False, check_dtype=False
            )
        elif pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected):
            np.testing.assert_allclose(
                pd.to_numeric(got).to_numpy("float64"), expected.to_numpy("float64", na_value=np.nan)
            )
        else:
            assert (
                got.astype("object").where(got.notna(), None).tolist()
                == expected.astype("object").where(expected.notna(), None).tolist()
            ), header


@pytest.mark.parametrize(
    "csv",
    [
        {},
        {"sep": ";", "decimal": ",", "encoding": "cp1252"},
        {"sep": "\t", "decimal": ",", "encoding": "utf-16"},
    ],
)
def test_written_folder_reads_back_exactly(runs, csv):
    client_dir, values = runs
    run = client_dir / "p2"
    if csv:
        values = {**values, "exports": {"csv": csv}}
        (run / "params.yaml").write_text(dump_params_values(values), encoding="utf-8")
    written = exports.write_exports(run, "p2")
    folder = run / exports.FOLDER
    assert {p.name for p in written} == {p.name for p in folder.iterdir()}
    built = exports.build(run, "p2")
    settings = exports.csv_settings(values)
    for audience in built.lists:
        check_csv(folder / audience.file, exports.headed(audience.customers), settings)
    check_workbook(folder / exports.WORKBOOK, built)
    assert "CLV (EUR)" in built.sheets["Customers"].columns
    key = exports.read_key(run)
    assert dict(zip(key["pseudonym"], key["customer id"], strict=True)) == dict(
        zip(built.table["pseudonym"], built.table["customer_id"], strict=True)
    )
    assert set(key["customer id"]) == set(CASES)  # leading zeros kept
    raw = (folder / exports.CUSTOMERS_CSV).read_bytes()
    if not csv:
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads the accents
        assert "Clientes fiéis".encode() in raw
    else:
        assert "Clientes fiéis".encode(csv["encoding"].replace("utf-16", "utf-16-le")) in raw
    readme = (folder / exports.README).read_text(encoding="utf-8")
    assert "CONFIDENTIAL" in readme and "RAW CUSTOMER IDS" in readme


def test_a_second_write_gives_the_same_bytes(runs):
    client_dir, _ = runs
    run = client_dir / "p2"
    exports.write_exports(run, "p2")
    first = {p.name: p.read_bytes() for p in (run / exports.FOLDER).iterdir()}
    exports.write_exports(run, "p2")
    second = {p.name: p.read_bytes() for p in (run / exports.FOLDER).iterdir()}
    assert first == second
    book = openpyxl.load_workbook(run / exports.FOLDER / exports.WORKBOOK)
    assert book.properties.created == dt.datetime(2025, 1, 1) == book.properties.modified


def test_a_value_the_encoding_cannot_write_is_a_one_line_error():
    frame = pd.DataFrame({"name": ["Łódź"]})
    with pytest.raises(exports.DataError, match="exports.csv.encoding cp1252 cannot write"):
        exports.csv_bytes(frame, {"sep": ";", "decimal": ",", "encoding": "cp1252"})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('exports.csv.sep=";;"', "exports.csv.sep must be one character"),
        ('exports.csv.decimal=","', "exports.csv.decimal and exports.csv.sep must differ"),
        ("exports.csv.decimal=x", "exports.csv.decimal must be '.' or ','"),
        ("exports.csv.encoding=base64", "exports.csv.encoding must be a text encoding"),
        ("exports.csv.encoding=klingon", "exports.csv.encoding must be a text encoding"),
    ],
)
def test_csv_settings_are_validated(params_for, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        params_for((override,))


# --------------------------------------------------------------------------- lookup


def test_lookup_prints_ids_and_names_unknown_pseudonyms(runs, capsys):
    client_dir, _ = runs
    exports.write_exports(client_dir / "p2", "p2")
    client_file = client_dir.parents[1] / "acme.yaml"
    known = privacy.pseudonymise(pd.Series(["0003", "0006"]), SALT).tolist()
    out = ["--out", str(client_dir.parent)]
    assert cli.main(["lookup", str(client_file), *known, *out]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{known[0]}\t0003", f"{known[1]}\t0006"]
    assert cli.main(["lookup", str(client_file), known[0], "Cffffffffffffffff", *out]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{known[0]}\t0003"]
    assert captured.err.strip().splitlines() == [
        "error: unknown pseudonym Cffffffffffffffff: not in the keys of acme periods p2"
    ]
    assert cli.main(["lookup", str(client_file), known[0], *out, "--period", "p1"]) == 1
    assert "has a pseudonym key for period p1" in capsys.readouterr().err


# --------------------------------------------------------------------------- the sample run, end to end


def test_sample_run_writes_exports_linked_only_from_the_analyst_index(sample_run):
    for period in ("2023", "2024"):
        folder = sample_run / period / exports.FOLDER
        assert (folder / exports.WORKBOOK).is_file() and (folder / exports.KEY_CSV).is_file()
        index = (sample_run / period / "index.html").read_text(encoding="utf-8")
        assert "Customer lists (confidential: raw ids)" in index
        assert "href='exports/customers.xlsx'" in index and "href='exports/customers.csv'" in index
        recorded = manifest.read(sample_run / period)["exports"]  # every list the CRM team gets, hashed
        on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert sorted(recorded) == on_disk and exports.WORKBOOK in recorded
        assert all(recorded[name] == file_sha256(folder / name) for name in on_disk)
    pages = list(sample_run.glob("*/*.client.html"))
    assert pages
    for page in pages:
        assert "exports/" not in page.read_text(encoding="utf-8"), page
    assert not (sample_run / "comparison" / exports.FOLDER).exists()


def test_sample_pseudonym_key_resolves_every_pseudonym_of_the_client_report(sample_run):
    for period in ("2023", "2024"):
        page = (sample_run / period / "09_client_report.client.html").read_text(encoding="utf-8")
        shown = set(re.findall(r"\bC[0-9a-f]{16}\b", page))
        assert shown, period
        key = exports.read_key(sample_run / period)
        mapping = dict(zip(key["pseudonym"], key["customer id"], strict=True))
        assert shown <= set(mapping), period
        found = list(shown)
        again = privacy.pseudonymise(pd.Series([mapping[p] for p in found]), TEST_SALT)
        assert again.tolist() == found  # the key round-trips: id -> the same pseudonym
    result = cli.main(["lookup", "params/clients/sample.yaml", found[0], "--out", str(sample_run.parent)])
    assert result == 0


def test_sample_exports_match_their_tables_and_find_the_downgrades(sample_run, tmp_path, monkeypatch):
    """On a copy of 2024 alone: every sheet and CSV equals its table; the moved-down list is the
    lower triangle of the client report's migration matrix, carries 2023's net spend, and finds the
    customers the sample plants as fading in its final year (sample.LAPSED_REPEAT_TYPES)."""
    monkeypatch.setenv(privacy.SALT_VARIABLE, TEST_SALT)
    client_dir = tmp_path / "sample"
    shutil.copytree(
        sample_run / "2024", client_dir / "2024", ignore=shutil.ignore_patterns("*.html", "*.ipynb")
    )
    run = client_dir / "2024"
    exports.write_exports(run, "2024")
    built = exports.build(run, "2024")
    assert built.previous == "2023"
    values = pd.read_parquet(run / "future_value.parquet").set_index("customer_id")  # stage 05's own file
    table = built.table.set_index("customer_id")
    modelled = values.reindex(table.index).dropna(subset=["clv_low"])
    assert len(modelled) > 0.9 * len(table)
    for column in ("clv_low", "clv_high"):
        assert np.allclose(table.loc[modelled.index, column], modelled[column].round(2), atol=0.005)
    bounded = table.loc[modelled.index]
    assert (bounded["clv_low"] <= bounded["clv"] + 0.01).all()
    assert (bounded["clv"] <= bounded["clv_high"] + 0.01).all()
    check_workbook(run / exports.FOLDER / exports.WORKBOOK, built)
    for audience in built.lists:
        check_csv(run / exports.FOLDER / audience.file, exports.headed(audience.customers), built.settings)

    params = load_params("params/clients/sample.yaml")
    before = comparison.read_period(params.period("2023"), sample_run / "2023")
    after = comparison.read_period(params.period("2024"), sample_run / "2024")
    matrix = comparison.migration_between(params, before, after)
    rank = {name: place for place, name in enumerate(migration.segment_order(segments.load_segment_map()))}
    cells = [
        (a, b) for a in matrix.index for b in matrix.columns if a != migration.NEW and b != migration.GONE
    ]
    downgrades = sum(int(matrix.loc[a, b]) for a, b in cells if rank[b] > rank[a])
    moved = {a.name: a for a in built.lists}["Moved down"].customers
    assert len(moved) == downgrades > 0  # the same moves as the client report's matrix
    spent = before.customers.set_index("customer_id")["monetary"].reindex(moved["customer_id"]).round(2)
    assert np.allclose(moved["previous_net_spend"].to_numpy(), spent.to_numpy())
    assert f"{spent.sum():,.2f} GBP in 2023" in {a.name: a for a in built.lists}["Moved down"].description
    page = (sample_run / "2024" / "09_client_report.client.html").read_text(encoding="utf-8")
    said = f"{len(moved):,} customers moved down to a lower segment since 2023; in 2023 they spent "
    said += f"{spent.sum():,.0f} GBP"
    assert said in page  # the client report counts the same customers as the list

    truth = pd.read_csv(SAMPLE_TYPES, dtype=str).set_index("customer_id")["planted_type"]
    returning = after.customers[after.customers["customer_id"].isin(before.customers["customer_id"])]
    planted = truth.reindex(returning["customer_id"]).isin(sample.LAPSED_REPEAT_TYPES).to_numpy()
    fading = set(returning["customer_id"][planted])
    found = fading & set(moved["customer_id"])
    assert len(found) >= 0.8 * len(fading)  # the planted downgrades are found
    share_in_list = truth.reindex(moved["customer_id"]).isin(sample.LAPSED_REPEAT_TYPES).mean()
    assert share_in_list >= 1.4 * len(fading) / len(returning)  # and the list is rich in them

    moves = built.sheets["Moves"].set_index("Segment in previous period")
    assert int(moves["Moved down"].sum()) == len(moved)
    book = openpyxl.load_workbook(run / exports.FOLDER / exports.WORKBOOK, read_only=True)
    kpis = pd.read_parquet(run / "kpis.parquet").iloc[0]
    kpi_rows = {row[0]: row[1] for row in book["KPIs"].iter_rows(min_row=2, values_only=True)}
    assert kpi_rows["Customers who bought"] == kpis["active_customers"]
    assert kpi_rows["Churn rate"] == pytest.approx(100 * kpis["churn_rate"], abs=0.005)
    assert kpi_rows["Revenue"] == pytest.approx(kpis["revenue"], abs=0.005)
    quadrants = pd.read_parquet(run / "value_matrix.parquet")["quadrant"].value_counts()
    sheet = {row[0]: row[1] for row in book["Value matrix"].iter_rows(min_row=2, values_only=True)}
    assert {k: v for k, v in sheet.items() if v} == quadrants.to_dict()
    clusters = pd.read_parquet(run / "clusters.parquet")["cluster_name"].value_counts()
    sheet = {row[0]: row[1] for row in book["Clusters"].iter_rows(min_row=2, values_only=True)}
    assert sheet == clusters.to_dict()
    first = (run / exports.FOLDER / exports.WORKBOOK).read_bytes()
    exports.write_exports(run, "2024")
    assert (run / exports.FOLDER / exports.WORKBOOK).read_bytes() == first


def test_run_index_without_exports_has_no_lists_section(tmp_path):
    assert report._exports_section(tmp_path) == ""


def test_a_list_longer_than_an_excel_sheet_is_in_its_csv_only(runs, monkeypatch):
    client_dir, _ = runs
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 3)  # lists of 3 customers or more: too long
    built = exports.build(client_dir / "p2", "p2")
    assert "Customers" not in built.sheets and "Moved down" not in built.sheets
    assert "High risk valuable" in built.sheets  # 1 customer
    lists = built.sheets["Lists"].set_index("List (sheet)")["Description"]
    assert lists["Customers"].endswith("(CSV only: too long for a sheet)")


def test_workbook_texts_stay_texts_never_formulas_or_links(tmp_path):
    """A client value that looks like a formula or a link is written as the text it is: opening the
    workbook runs nothing and follows nothing."""
    hostile = ['=HYPERLINK("http://evil.example","click")', "=1+1", "+SUM(A1:A2)", "http://x.example", "007"]
    frame = pd.DataFrame({"Customer id": hostile, "Net spend": [1.5, 2.0, np.nan, 4.0, 5.0]})
    path = tmp_path / "book.xlsx"
    path.write_bytes(
        exports.workbook_bytes({"List": frame}, {"Net spend": exports.MONEY}, dt.datetime(2025, 1, 1))
    )
    sheet = openpyxl.load_workbook(path)["List"]
    cells = [sheet.cell(row=row, column=1) for row in range(2, 7)]
    assert [cell.value for cell in cells] == hostile
    assert {cell.data_type for cell in cells} == {"s"}
    assert not sheet._hyperlinks
    assert sheet.cell(row=4, column=2).value is None  # missing stays empty
