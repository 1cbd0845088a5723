"""Exports that write numbers with a decimal comma or a thousands separator, and separators that are
not one character (columns aligned with spaces)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis_utils.errors import ConfigError, DataError
from analysis_utils.io import read_transactions

HEADER = "inv;cust;date;sku;qty;price"


@pytest.mark.parametrize(
    ("style", "marks", "prices", "expected"),
    [
        (
            "German/Turkish",
            {"decimal": ",", "thousands": "."},
            ["1.234,56", "12,5", "7"],
            [1234.56, 12.5, 7.0],
        ),
        (
            "French",
            {"decimal": ",", "thousands": " "},
            ["1 234,56", "12,5", "1 000"],
            [1234.56, 12.5, 1000.0],
        ),
        (
            "Azerbaijani (narrow no-break space)",
            {"decimal": ",", "thousands": "\u202f"},
            ["1\u202f234,56", "0,99", "3"],
            [1234.56, 0.99, 3.0],
        ),
        ("decimal comma only", {"decimal": ","}, ["12,5", "1.234,56", "3"], [12.5, None, 3.0]),
        ("English thousands", {"thousands": ","}, ['"1,234.56"', "12.5", "3"], [1234.56, 12.5, 3.0]),
    ],
)
def test_amounts_are_read_with_the_exports_separators(tmp_path, params_for, style, marks, prices, expected):
    rows = [f"{n};c{n};2024-01-0{n} 10:00:00;A;1;{price}" for n, price in enumerate(prices, start=1)]
    (tmp_path / "lines.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    params = params_for(data={"read_options": {"sep": ";", **marks}})
    lines = read_transactions(params).to_pandas().sort_values("order_id")
    got = [None if pd.isna(value) else round(value, 6) for value in lines["unit_price"]]
    assert got == expected, style
    assert [None if pd.isna(v) else round(v, 6) for v in lines["amount"]] == expected


def test_excel_text_and_number_cells_are_read_with_the_decimal_comma(tmp_path, params_for):
    frame = pd.DataFrame(
        {
            "inv": ["1", "2", "3"],
            "cust": ["c1", "c2", "c3"],
            "date": ["2024-01-01 10:00:00", "2024-01-02 10:00:00", "2024-01-03 10:00:00"],
            "sku": ["A", "A", "A"],
            "qty": [1, 2, 1],
            "price": ["1.234,56", 12.5, "7,25"],  # text cells as the export wrote them, one stored number
        }
    )
    path = tmp_path / "lines.xlsx"
    frame.to_excel(path, index=False)
    params = params_for(data={"path": str(path), "read_options": {"decimal": ",", "thousands": "."}})
    lines = read_transactions(params).to_pandas().sort_values("order_id")
    assert list(lines["unit_price"]) == [1234.56, 12.5, 7.25]
    assert list(lines["amount"]) == [1234.56, 25.0, 7.25]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"sep": "\\s+"}, "data.read_options.sep must be one character"),
        ({"decimal": ",", "thousands": ","}, "decimal and data.read_options.thousands must differ"),
        ({"decimal": ",,"}, "data.read_options.decimal must be one character"),
        ({"thousands": "0"}, "data.read_options.thousands cannot be a digit"),
    ],
)
def test_separators_that_cannot_be_read_are_refused(params_for, options, named):
    with pytest.raises(ConfigError, match=named):
        params_for(data={"read_options": options})


def test_space_aligned_columns_are_refused_with_what_is_supported(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(data={"read_options": {"sep": "\\s+"}})
    assert "columns aligned with spaces" in str(raised.value)
    assert "export the file with one separator character" in str(raised.value)


def test_a_file_that_is_not_utf8_keeps_the_cause_line_and_the_fix(tmp_path, params_for):
    from analysis_utils import prep

    rows = [f"{n},c{n},2024-01-05 10:00:00,A,1,2" for n in range(150)]
    rows[99] = "99,Caf\xe9,2024-01-05 10:00:00,A,1,2"
    text = "\n".join(["inv,cust,date,sku,qty,price", *rows]) + "\n"
    (tmp_path / "lines.csv").write_bytes(text.encode("latin-1"))
    params = params_for()
    with pytest.raises(DataError) as raised:
        prep.prepare(params, params.period("p1"))
    message = str(raised.value)
    assert "CSV Error on Line: 101" in message
    assert "not utf-8 encoded" in message and "set read_options.encoding" in message
    assert str(tmp_path / "lines.csv") in message


def test_files_of_a_folder_that_disagree_on_columns_are_named_with_the_column(tmp_path, params_for):
    from analysis_utils import prep

    folder = tmp_path / "lines"
    folder.mkdir()
    (folder / "a.csv").write_text("inv,cust,date,sku,qty,price\n1,c1,2024-01-05 10:00:00,A,1,2\n")
    (folder / "b.csv").write_text("inv,customer,date,sku,qty,price\n2,c2,2024-01-06 10:00:00,A,1,2\n")
    params = params_for(data={"path": str(folder)})
    with pytest.raises(DataError) as raised:
        prep.prepare(params, params.period("p1"))
    message = str(raised.value)
    assert f"{folder / 'b.csv'} does not have the columns of {folder / 'a.csv'}" in message
    assert '"cust" is missing' in message
