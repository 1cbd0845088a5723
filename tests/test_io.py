"""Reading every supported format into canonical lines, and the errors for bad files."""

import gzip

import pandas as pd
import pytest
from helpers import CSV_COLUMNS, CSV_HEADER

from analysis_utils.errors import ConfigError, DataError
from analysis_utils.io import detect_format, read_transactions, write_parquet

ROWS = ["1,007,2024-01-05 10:00:00,A,2,2.5", "2,0100,2024-01-06 11:30:00,B,1,10"]


def canonical(params) -> pd.DataFrame:
    return read_transactions(params).to_pandas().sort_values("order_id").reset_index(drop=True)


def test_csv_ids_stay_text_and_amount_is_quantity_times_price(params_for, tmp_path):
    (tmp_path / "lines.csv").write_text("\n".join([CSV_HEADER, *ROWS]) + "\n", encoding="utf-8")
    lines = canonical(params_for())
    assert lines["customer_id"].tolist() == ["007", "0100"]
    assert lines["amount"].tolist() == [5.0, 10.0]
    assert lines["order_date"].tolist() == [
        pd.Timestamp("2024-01-05 10:00"),
        pd.Timestamp("2024-01-06 11:30"),
    ]


def test_semicolon_day_first_and_declared_amount_column(params_for, tmp_path):
    text = "Kunde;Datum;Betrag\n 42 ;31/01/2024 09:15;12.5\n43;1/2/2024 10:00;-3\n"
    (tmp_path / "lines.csv").write_text(text, encoding="utf-8")
    params = params_for(
        data={
            "read_options": {"sep": ";"},
            "columns": {"customer_id": "Kunde", "order_date": "Datum", "amount": "Betrag"},
            "date_format": "%d/%m/%Y %H:%M",
        }
    )
    lines = canonical(params).sort_values("customer_id")
    assert lines["customer_id"].tolist() == ["42", "43"]  # trimmed
    assert lines["amount"].tolist() == [12.5, -3.0]
    assert lines["order_date"].tolist() == [
        pd.Timestamp("2024-01-31 09:15"),
        pd.Timestamp("2024-02-01 10:00"),
    ]
    assert lines["order_id"].isna().all()  # not mapped


def test_headerless_latin1_csv_with_names(params_for, tmp_path):
    (tmp_path / "lines.csv").write_bytes("1;Zoë;2024-01-05;9.5\n".encode("latin-1"))
    params = params_for(
        data={
            "read_options": {
                "sep": ";",
                "header": False,
                "names": ["inv", "who", "when", "eur"],
                "encoding": "latin-1",
            },
            "columns": {"order_id": "inv", "customer_id": "who", "order_date": "when", "amount": "eur"},
            "date_format": "%Y-%m-%d",
        }
    )
    lines = canonical(params)
    assert lines.loc[0, "customer_id"] == "Zoë"
    assert lines.loc[0, "amount"] == 9.5


def test_gzipped_csv(params_for, tmp_path):
    path = tmp_path / "lines.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([CSV_HEADER, *ROWS]) + "\n").encode()))
    assert len(canonical(params_for(data={"path": str(path)}))) == 2


def test_parquet_integer_and_float_ids_become_text_without_decimals(params_for, tmp_path):
    frame = pd.DataFrame(
        {
            "inv": [1, 2],
            "cust": [17850.0, 13047.0],
            "date": pd.to_datetime(["2024-01-05 10:00", "2024-01-06 00:00"]),
            "sku": ["A", "B"],
            "qty": [2, 1],
            "price": [2.5, 10.0],
        }
    )
    frame.to_parquet(tmp_path / "lines.parquet")
    lines = canonical(params_for(data={"path": str(tmp_path / "lines.parquet")}))
    assert lines["customer_id"].tolist() == ["17850", "13047"]
    assert lines["order_id"].tolist() == ["1", "2"]
    assert lines["amount"].tolist() == [5.0, 10.0]


def test_excel_sheet_by_name(params_for, tmp_path):
    frame = pd.DataFrame(
        {
            "inv": ["1"],
            "cust": ["007"],
            "date": ["2024-01-05 10:00:00"],
            "sku": ["A"],
            "qty": [2],
            "price": [2.5],
        }
    )
    with pd.ExcelWriter(tmp_path / "lines.xlsx") as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        frame.to_excel(writer, sheet_name="sales", index=False)
    params = params_for(data={"path": str(tmp_path / "lines.xlsx"), "read_options": {"sheet": "sales"}})
    lines = canonical(params)
    assert lines["customer_id"].tolist() == ["007"]
    assert lines["amount"].tolist() == [5.0]


def test_unreadable_numbers_and_dates_become_null(params_for, tmp_path):
    rows = [CSV_HEADER, "1,7,2024-01-05 10:00:00,A,two,2.5", "2,8,31/02/2024,B,1,10"]
    (tmp_path / "lines.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lines = canonical(params_for())
    assert pd.isna(lines.loc[0, "amount"])
    assert pd.isna(lines.loc[1, "order_date"])


def test_discount_and_margin_are_read_as_numbers_like_amount(params_for, tmp_path):
    rows = ["inv,cust,date,sku,qty,price,rabatt,marge", "1,7,2024-01-05 10:00:00,A,2,2.5, 0.5 ,1.25"]
    rows += ["2,8,2024-01-06 10:00:00,B,1,10,n/a,", "3,9,2024-01-07 10:00:00,C,1,4,0,-1"]
    rows += ["4,9,2024-01-08 10:00:00,C,1,4,  ,2"]  # an empty discount is no discount
    (tmp_path / "lines.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    columns = {**CSV_COLUMNS, "discount": "rabatt", "margin": "marge"}
    lines = canonical(params_for(data={"columns": columns}))
    assert "cost" not in lines.columns  # margin stays margin; stage 01 derives the cost
    assert lines["discount"].tolist()[::2] == [0.5, 0.0] and pd.isna(lines.loc[1, "discount"])
    assert lines.loc[3, "discount"] == 0.0
    assert lines["margin"].tolist()[::2] == [1.25, -1.0] and pd.isna(lines.loc[1, "margin"])


def test_optional_money_columns_are_absent_when_not_mapped(params_for, tmp_path):
    (tmp_path / "lines.csv").write_text("\n".join([CSV_HEADER, *ROWS]) + "\n", encoding="utf-8")
    assert not {"discount", "cost", "margin"} & set(canonical(params_for()).columns)


def test_mapped_column_absent_is_named_with_closest_match(params_for, tmp_path):
    (tmp_path / "lines.csv").write_text("\n".join([CSV_HEADER, *ROWS]) + "\n", encoding="utf-8")
    params = params_for(
        data={"columns": {"customer_id": "customer", "order_date": "dates", "amount": "price"}}
    )
    with pytest.raises(ConfigError) as raised:
        read_transactions(params)
    message = str(raised.value)
    assert "lines.csv: column 'customer' (data.columns.customer_id) not in file" in message
    assert "column 'dates' (data.columns.order_date) not in file (did you mean 'date'?)" in message


def test_missing_and_empty_files_are_data_errors(params_for, tmp_path):
    with pytest.raises(DataError, match="lines.csv: data file not found"):
        read_transactions(params_for())
    (tmp_path / "lines.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="lines.csv: file is empty"):
        read_transactions(params_for())


def test_format_detection(tmp_path):
    assert detect_format(tmp_path / "a.CSV") == "csv"
    assert detect_format(tmp_path / "a.csv.gz") == "csv"
    assert detect_format(tmp_path / "a.parquet") == "parquet"
    assert detect_format(tmp_path / "a.xlsx") == "excel"
    assert detect_format(tmp_path / "a.dat", "csv") == "csv"
    with pytest.raises(ConfigError, match="set data.format"):
        detect_format(tmp_path / "a.dat")


def test_write_parquet_is_byte_reproducible(tmp_path):
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.5, 2.0]})
    first, second = write_parquet(frame, tmp_path / "1.parquet"), write_parquet(frame, tmp_path / "2.parquet")
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.glob(".*partial"))


def test_engine_errors_become_one_line_data_errors_naming_the_file(params_for, tmp_path):
    (tmp_path / "lines.parquet").write_bytes(b"this is not a parquet file, whatever its name says")
    with pytest.raises(DataError) as raised:
        read_transactions(params_for(data={"path": str(tmp_path / "lines.parquet")}))
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'lines.parquet'}: ")
    assert "\n" not in message and "parquet" in message.lower()


def test_float_ids_in_parquet_keep_their_exact_text_and_stay_distinct(params_for, tmp_path):
    frame = pd.DataFrame(
        {
            "inv": [1, 2, 3, 4, 5],
            "cust": [1102.9, 1103.4, 1102.0, 17850.0, float("nan")],
            "date": pd.to_datetime(["2024-01-05"] * 5),
            "sku": ["A"] * 5,
            "qty": [1] * 5,
            "price": [2.5] * 5,
        }
    )
    frame.to_parquet(tmp_path / "lines.parquet")
    lines = canonical(params_for(data={"path": str(tmp_path / "lines.parquet")}))
    assert lines["customer_id"].tolist()[:4] == ["1102.9", "1103.4", "1102", "17850"]  # never rounded
    assert pd.isna(lines.loc[4, "customer_id"])  # a NaN id is a missing id


def test_nan_and_infinite_prices_are_unreadable_amounts(params_for, tmp_path):
    frame = pd.DataFrame(
        {
            "inv": [1, 2, 3, 4],
            "cust": ["a", "b", "c", "d"],
            "date": pd.to_datetime(["2024-01-05"] * 4),
            "sku": ["A"] * 4,
            "qty": [1, 1, 1, 1],
            "price": [2.5, float("nan"), float("inf"), 1e300],
        }
    )
    frame.to_parquet(tmp_path / "lines.parquet")
    lines = canonical(params_for(data={"path": str(tmp_path / "lines.parquet")}))
    assert lines["amount"].tolist()[0] == 2.5 and lines["amount"].iloc[1:].isna().all()
    (tmp_path / "lines.csv").write_text(
        "\n".join([CSV_HEADER, "1,a,2024-01-05 10:00:00,A,1,nan", "2,b,2024-01-05 10:00:00,A,1,-inf"]) + "\n",
        encoding="utf-8",
    )
    assert canonical(params_for())["amount"].isna().all()


def test_one_nan_price_among_many_lines_counts_under_the_amount_limit(params_for, tmp_path):
    from analysis_utils import prep

    prices = [2.5] * 199 + [float("nan")]
    frame = pd.DataFrame(
        {
            "inv": range(200),
            "cust": [f"c{i % 20}" for i in range(200)],
            "date": pd.to_datetime(["2024-01-05 10:00"] * 200),
            "sku": ["A"] * 200,
            "qty": [1] * 200,
            "price": prices,
        }
    )
    frame.to_parquet(tmp_path / "lines.parquet")
    params = params_for(data={"path": str(tmp_path / "lines.parquet")})
    result = prep.prepare(params, params.period("p1"))
    quality = result.quality.set_index("rule")
    assert quality.loc["unreadable_amount", "rows"] == 1
    assert result.orders.num_rows == 199


def test_an_xlsx_that_is_a_csv_is_a_one_line_data_error(params_for, tmp_path):
    (tmp_path / "lines.xlsx").write_text("\n".join([CSV_HEADER, *ROWS]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lines.xlsx: not an Excel workbook \(a CSV file\?"):
        read_transactions(params_for(data={"path": str(tmp_path / "lines.xlsx")}))
