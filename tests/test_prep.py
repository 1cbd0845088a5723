"""Stage-01 rules on small hand-made line tables, with every expected number worked out by hand."""

from __future__ import annotations

import contextlib
import datetime as dt

import ibis
import pandas as pd
import pytest
from helpers import lines, prep_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis_utils.config import Period
from analysis_utils.errors import DataError
from analysis_utils.prep import drop_exact_duplicates, line_hash, prepare_orders

DATA = {"columns": {"order_date": "Date", "amount": "Amount"}, "date_format": "%Y-%m-%d"}
PERIOD = Period("p", as_of=dt.datetime(2024, 3, 1), window_days=None)


def run(table: ibis.Table, period: Period = PERIOD, data: dict = DATA, **changes):
    result = prepare_orders(table, prep_params(**changes), data, period, "test.csv")
    orders = result.orders.to_pandas()
    quality = result.quality.set_index("rule")
    return orders, quality


def amounts(orders: pd.DataFrame) -> dict[str, float]:
    return dict(zip(orders["order_id"], orders["amount"], strict=True))


def test_missing_customer_lines_are_dropped_and_counted():
    orders, quality = run(
        lines(("a", "1", "2024-01-01", "X", 1, 10.0), (None, "2", "2024-01-02", "X", 1, 7.5)),
        max_missing_customer_share=0.5,
    )
    assert amounts(orders) == {"1": 10.0}
    assert quality.loc["missing_customer", ["rows", "amount"]].tolist() == [1, 7.5]
    assert quality.loc["input", ["rows", "amount"]].tolist() == [2, 17.5]


def test_missing_customers_become_one_unknown_customer_when_rule_is_off():
    orders, _ = run(
        lines(("a", "1", "2024-01-01", "X", 1, 10.0), (None, "2", "2024-01-02", "X", 1, 7.5)),
        drop_missing_customer=False,
    )
    assert orders["customer_id"].tolist() == ["a", "unknown"]


def test_line_on_as_of_is_out_and_line_just_before_is_in():
    table = lines(("a", "1", "2024-02-29 23:59", "X", 1, 5.0), ("a", "2", "2024-03-01 00:00", "X", 1, 9.0))
    orders, quality = run(table)
    assert amounts(orders) == {"1": 5.0}
    assert quality.loc["after_as_of", "rows"] == 1


def test_exact_duplicates_keep_one_copy_but_same_line_in_another_order_stays():
    row = ("a", "1", "2024-01-01", "X", 1, 10.0)
    orders, quality = run(lines(row, row, row, ("a", "2", "2024-01-01", "X", 1, 10.0)))
    assert amounts(orders) == {"1": 10.0, "2": 10.0}
    assert quality.loc["duplicate", ["rows", "amount"]].tolist() == [2, 20.0]


def test_duplicates_are_kept_when_rule_is_off():
    row = ("a", "1", "2024-01-01", "X", 1, 10.0)
    orders, _ = run(lines(row, row), drop_duplicates=False)
    assert amounts(orders) == {"1": 20.0}


def test_zero_amount_lines_are_gifts_dropped_by_default():
    table = lines(("a", "1", "2024-01-01", "X", 1, 10.0), ("a", "1", "2024-01-01", "G", 1, 0.0))
    orders, quality = run(table)
    assert orders["lines"].tolist() == [1]
    assert quality.loc["zero_amount", "rows"] == 1
    orders, _ = run(table, drop_zero_amount=False)
    assert orders["lines"].tolist() == [2]


def test_return_is_netted_against_latest_earlier_order_of_same_product():
    table = lines(
        ("a", "1", "2024-01-01", "X", 1, 10.0),
        ("a", "2", "2024-01-05", "X", 2, 20.0),
        ("a", "3", "2024-01-06", "Y", 1, 4.0),
        ("a", "C9", "2024-01-07", "X", -1, -10.0),  # X bought last in order 2
        ("a", "C9", "2024-01-07", "Z", -1, -3.0),  # Z never bought: unmatched
    )
    orders, quality = run(table)
    assert amounts(orders) == {"1": 10.0, "2": 10.0, "3": 4.0}
    assert orders.set_index("order_id").loc["2", "order_date"] == pd.Timestamp("2024-01-05")
    assert orders.set_index("order_id").loc["2", "items"] == 1.0
    assert quality.loc["return_netted", ["action", "rows", "amount"]].tolist() == ["netted", 1, -10.0]
    assert quality.loc["return_unmatched", ["action", "rows", "amount"]].tolist() == ["dropped", 1, -3.0]


def test_return_before_any_purchase_of_it_is_unmatched():
    table = lines(("a", "C1", "2024-01-01", "X", -1, -5.0), ("a", "2", "2024-01-05", "X", 1, 8.0))
    orders, quality = run(table)
    assert amounts(orders) == {"2": 8.0}
    assert quality.loc["return_unmatched", "rows"] == 1


def test_cancellation_prefix_makes_the_line_a_return_whatever_its_sign():
    table = lines(("a", "1", "2024-01-01", "X", 3, 30.0), ("a", "C1", "2024-01-02", "X", 1, 10.0))
    orders, _ = run(table)
    assert amounts(orders) == {"1": 20.0}


def test_returns_dropped_under_drop_policy():
    table = lines(("a", "1", "2024-01-01", "X", 3, 30.0), ("a", "C1", "2024-01-02", "X", -1, -10.0))
    orders, quality = run(table, returns__policy="drop")
    assert amounts(orders) == {"1": 30.0}
    assert quality.loc["return_dropped", ["rows", "amount"]].tolist() == [1, -10.0]


def test_lines_without_order_id_form_one_order_per_customer_and_day():
    table = lines(
        ("a", None, "2024-01-01 09:00", "X", 1, 1.0),
        ("a", None, "2024-01-01 17:00", "Y", 1, 2.0),
        ("a", None, "2024-01-02 09:00", "X", 1, 4.0),
        ("b", None, "2024-01-01 09:00", "X", 1, 8.0),
    )
    orders, _ = run(table)
    assert amounts(orders) == {"a|2024-01-01": 3.0, "a|2024-01-02": 4.0, "b|2024-01-01": 8.0}


def test_orders_before_window_start_are_dropped_by_order_date():
    period = Period("p", as_of=dt.datetime(2024, 3, 1), window_days=30)  # window starts 2024-01-31
    table = lines(
        ("a", "1", "2024-01-30 23:00", "X", 1, 5.0),
        ("a", "2", "2024-01-31 00:00", "X", 1, 6.0),
        ("a", "C2", "2024-02-02", "X", -1, -1.0),
    )
    orders, quality = run(table, period=period)
    assert amounts(orders) == {"2": 5.0}
    assert quality.loc["before_window", ["unit", "rows", "amount"]].tolist() == ["orders", 1, 5.0]


def test_nonpositive_orders_are_reported_and_dropped_only_when_asked():
    table = lines(
        ("a", "1", "2024-01-01", "X", 1, 10.0),
        ("a", "C1", "2024-01-02", "X", -1, -10.0),
        ("b", "2", "2024-01-03", "X", 1, 4.0),
    )
    orders, quality = run(table)
    assert amounts(orders) == {"1": 0.0, "2": 4.0}
    assert quality.loc["nonpositive_order", ["action", "rows"]].tolist() == ["kept", 1]
    orders, quality = run(table, drop_nonpositive_orders=True)
    assert amounts(orders) == {"2": 4.0}
    assert quality.loc["nonpositive_order", ["action", "rows"]].tolist() == ["dropped", 1]


def test_excluded_customers_are_dropped():
    table = lines(("a", "1", "2024-01-01", "X", 1, 10.0), ("999", "2", "2024-01-01", "X", 1, 50.0))
    orders, quality = run(table, exclude_customers=["999"])
    assert orders["customer_id"].tolist() == ["a"]
    assert quality.loc["excluded_customer", "amount"] == 50.0


def test_extreme_order_is_flagged_not_dropped():
    regular = [(f"c{i}", str(i), f"2024-01-{i + 1:02d}", "X", 1, 10.0 * (1 + i % 5)) for i in range(20)]
    table = lines(*regular, ("z", "99", "2024-01-25", "X", 1, 100_000.0))
    orders, quality = run(table)
    assert orders.loc[orders["is_extreme"], "order_id"].tolist() == ["99"]
    assert len(orders) == 21
    assert quality.loc["extreme_amount", ["action", "rows", "amount"]].tolist() == ["flagged", 1, 100_000.0]
    orders, _ = run(table, extreme__flag=False)
    assert not orders["is_extreme"].any()


def test_carried_columns_take_smallest_value_of_the_order():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "order_id": ["1", "1"],
            "order_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
            "channel": ["store", "online"],
            "amount": [1.0, 2.0],
        }
    )
    orders = prepare_orders(ibis.memtable(frame), prep_params(), DATA, PERIOD, "t").orders.to_pandas()
    assert orders["channel"].tolist() == ["online"]
    assert orders["items"].isna().all()


def test_too_many_unparseable_dates_stop_the_run_naming_the_column():
    table = lines(("a", "1", None, "X", 1, 1.0), ("a", "2", "2024-01-02", "X", 1, 1.0))
    with pytest.raises(DataError, match=r"test.csv: column 'Date': 1 of 2 lines \(50.0%\) do not parse"):
        run(table)
    orders, quality = run(table, max_unparseable_date_share=0.5)
    assert quality.loc["unparseable_date", "rows"] == 1


def test_period_before_all_data_is_named():
    table = lines(("a", "1", "2024-05-01", "X", 1, 1.0))
    with pytest.raises(
        DataError,
        match=r"period 'p' ends \(as_of 2024-03-01\) before the first order in the file \(2024-05-01\)",
    ):
        run(table)


def test_nothing_left_after_cleaning_is_an_error():
    with pytest.raises(DataError, match="no orders left in period 'p' after cleaning"):
        run(lines(("a", "1", "2024-01-01", "X", 1, 0.0)))


# ---- optional money columns: discount, cost or margin ---------------------------------------

ORDER_COLUMNS = ["customer_id", "order_id", "order_date", "amount", "items", "lines", "is_extreme"]
MONEY_DATA = {
    "columns": {"order_date": "Date", "amount": "Amount", "discount": "Rabatt", "cost": "EK"},
    "date_format": "%Y-%m-%d",
}
MARGIN_DATA = {
    "columns": {"order_date": "Date", "amount": "Amount", "discount": "Rabatt", "margin": "Marge"},
    "date_format": "%Y-%m-%d",
}
# Customer a: order 1 = X (2 units, list 20.00, discount 2.00, net 18.00, cost 10.00) + Y (10.00, no
# discount, cost 4.00); one X comes back (net 9.00, its discount 1.00, its cost 5.00). Customer b:
# order 2 = X at 20.00, cost 12.00. Margins are amount - cost: 8.00, 6.00, 8.00; the return's -4.00.
COST_LINES = lines(
    ("a", "1", "2024-01-01", "X", 2, 18.0, 2.0, 10.0),
    ("a", "1", "2024-01-01", "Y", 1, 10.0, 0.0, 4.0),
    ("a", "R1", "2024-01-05", "X", -1, -9.0, 1.0, 5.0),  # a return: negative amount, positive money
    ("b", "2", "2024-01-03", "X", 1, 20.0, 0.0, 12.0),
    money=("discount", "cost"),
)
MARGIN_LINES = lines(
    ("a", "1", "2024-01-01", "X", 2, 18.0, 2.0, 8.0),
    ("a", "1", "2024-01-01", "Y", 1, 10.0, 0.0, 6.0),
    ("a", "C1", "2024-01-05", "X", 1, 9.0, 1.0, 4.0),  # a cancellation written all positive
    ("b", "2", "2024-01-03", "X", 1, 20.0, 0.0, 8.0),
    money=("discount", "margin"),
)


@pytest.mark.parametrize("table, data", [(COST_LINES, MONEY_DATA), (MARGIN_LINES, MARGIN_DATA)])
def test_return_nets_its_discount_and_cost_into_the_same_order_as_its_amount(table, data):
    orders, quality = run(table, data=data)
    assert orders.columns.tolist() == [*ORDER_COLUMNS[:4], "discount", "cost", *ORDER_COLUMNS[4:]]
    by_order = orders.set_index("order_id")
    # order 1: amount 18 + 10 - 9 = 19, discount 2 + 0 - 1 = 1, cost 10 + 4 - 5 = 9 (margin 10)
    assert by_order.loc["1", ["amount", "discount", "cost"]].tolist() == [19.0, 1.0, 9.0]
    assert by_order.loc["2", ["amount", "discount", "cost"]].tolist() == [20.0, 0.0, 12.0]
    assert quality.loc["return_netted", ["rows", "amount"]].tolist() == [1, -9.0]


def test_dropped_returns_take_their_discount_and_cost_with_them():
    orders, _ = run(COST_LINES, data=MONEY_DATA, returns__policy="drop")
    assert orders.set_index("order_id").loc["1", ["amount", "discount", "cost"]].tolist() == [28.0, 2.0, 14.0]


def test_without_money_columns_orders_keep_their_columns():
    orders, _ = run(lines(("a", "1", "2024-01-01", "X", 1, 10.0)))
    assert orders.columns.tolist() == ORDER_COLUMNS


@pytest.mark.parametrize(
    "money, data, column",
    [(("discount", "cost"), MONEY_DATA, "EK"), (("discount", "margin"), MARGIN_DATA, "Marge")],
)
def test_unreadable_cost_or_margin_is_an_unreadable_amount_naming_its_column(money, data, column):
    table = lines(
        ("a", "1", "2024-01-01", "X", 1, 10.0, 0.0, None),
        ("a", "2", "2024-01-02", "X", 1, 5.0, 1.0, 2.0),
        money=money,
    )
    with pytest.raises(DataError, match=rf"test.csv: column '{column}': 1 of 2 lines \(50.0%\) are missing"):
        run(table, data=data)
    orders, quality = run(table, data=data, max_unparseable_amount_share=0.5)
    assert orders["order_id"].tolist() == ["2"]
    assert quality.loc["unreadable_amount", ["rows", "amount"]].tolist() == [1, 10.0]
    assert (
        quality.loc["unreadable_amount", "description"]
        == f"amount, discount or {money[1]} missing or not a number"
    )


def test_unreadable_amount_and_discount_are_both_named():
    table = lines(
        ("a", "1", "2024-01-01", "X", 1, None, 0.0, 1.0),
        ("a", "2", "2024-01-02", "X", 1, 5.0, None, 2.0),
        ("a", "3", "2024-01-03", "X", 1, 5.0, 0.0, 2.0),
        money=("discount", "cost"),
    )
    with pytest.raises(DataError, match=r"columns 'Amount', 'Rabatt': 2 of 3 lines"):
        run(table, data=MONEY_DATA)


# ---- properties -------------------------------------------------------------------------

line_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", None]),
        st.sampled_from(["1", "2", "3", "C4", None]),
        st.sampled_from(["2024-01-01", "2024-01-02 10:00", "2024-02-01", "2024-03-05", None]),
        st.sampled_from(["X", "Y"]),
        st.integers(-2, 3),
        st.sampled_from([0.0, 1.25, 5.0, -3.0, 40.0]),
    ),
    min_size=1,
    max_size=14,
)
PROPERTY_PREP = {"max_unparseable_date_share": 1.0}
slow_db = settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def prepared(rows):
    try:
        return run(lines(*rows), **PROPERTY_PREP)
    except DataError:
        return None


@slow_db
@given(line_rows)
def test_every_amount_is_accounted_for(rows):
    """input = dropped lines + dropped returns + dropped orders + kept orders (cents)."""
    outcome = prepared(rows)
    if outcome is None:
        return
    orders, quality = outcome
    removed = quality[(quality["action"] == "dropped")]["amount"].sum()
    assert round(quality.loc["input", "amount"], 2) == round(removed + orders["amount"].sum(), 2)


@slow_db
@given(line_rows)
def test_cleaning_never_increases_positive_amounts_or_rows(rows):
    outcome = prepared(rows)
    if outcome is None:
        return
    orders, quality = outcome
    positive_in = sum(r[5] for r in rows if r[5] > 0 and not (r[1] or "").startswith("C"))
    assert orders["amount"].clip(lower=0).sum() <= positive_in + 1e-9
    assert orders["lines"].sum() <= len(rows)


@slow_db
@given(line_rows, st.randoms(use_true_random=False))
def test_result_does_not_depend_on_row_order(rows, random):
    shuffled = rows[:]
    random.shuffle(shuffled)
    first, second = prepared(rows), prepared(shuffled)
    assert (first is None) == (second is None)
    if first is not None:
        pd.testing.assert_frame_equal(first[0], second[0])
        pd.testing.assert_frame_equal(first[1], second[1])


@slow_db
@given(line_rows)
def test_preparing_prepared_orders_again_changes_nothing(rows):
    """Idempotence: orders fed back as lines come out unchanged (non-positive orders dropped)."""
    try:
        once = prepare_orders(
            lines(*rows), prep_params(drop_nonpositive_orders=True, **PROPERTY_PREP), DATA, PERIOD, "t"
        ).orders
    except DataError:
        return
    as_lines = once.drop(["is_extreme", "lines"]).rename_columns(
        ["quantity" if name == "items" else name for name in once.drop(["is_extreme", "lines"]).column_names]
    )
    again = prepare_orders(
        ibis.memtable(as_lines), prep_params(drop_nonpositive_orders=True), DATA, PERIOD, "t"
    )
    pd.testing.assert_frame_equal(
        once.to_pandas().drop(columns="lines"), again.orders.to_pandas().drop(columns="lines")
    )


duplicate_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", None]),
        st.sampled_from(["1", "2"]),
        st.sampled_from([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]),
        st.sampled_from([0.0, 1.25, 5.0]),
    ),
    min_size=1,
    max_size=12,
)


@slow_db
@given(duplicate_rows, st.sampled_from(["own", "collide"]))
def test_exact_duplicates_match_pandas_even_when_every_hash_collides(rows, hashes):
    """One copy of each distinct line stays, counted as pandas' drop_duplicates does, whether the
    lines have their own hashes or all share one (every line then goes through the comparison)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    schema = {"customer_id": "string", "order_id": "string", "order_date": "timestamp", "amount": "float64"}
    table = ibis.memtable(frame, schema=schema)
    table = table.mutate(line_hash=ibis.literal(7, "int64") if hashes == "collide" else line_hash(table))
    with contextlib.ExitStack() as cached:
        kept, counts = drop_exact_duplicates(table, cached)
        kept = kept.to_pandas()
    dropped = frame[frame.duplicated()]

    def as_rows(table: pd.DataFrame) -> list[tuple]:
        rows = [tuple(None if pd.isna(v) else v for v in row) for row in table.itertuples(index=False)]
        return sorted(rows, key=repr)

    assert as_rows(kept) == sorted(set(as_rows(frame)), key=repr)
    assert counts[["rows", "zero_rows"]].iloc[0].tolist() == [
        len(dropped),
        int((dropped["amount"] == 0).sum()),
    ]
    assert counts["amount"].iloc[0] == pytest.approx(dropped["amount"].sum())


def test_too_many_lines_without_customer_id_stop_the_run_naming_share_and_file():
    with_id = [("a", str(i), "2024-01-01", "X", 1, 10.0) for i in range(3)]
    without = [(None, str(i), "2024-01-02", "X", 1, 5.0) for i in range(10, 13)]
    with pytest.raises(DataError) as raised:
        run(lines(*with_id, *without))
    message = str(raised.value)
    assert message.startswith("test.csv: ")
    assert "3 of 6 lines (50.0%) have no customer id" in message
    assert "prep.max_missing_customer_share = 0.4" in message
    orders, quality = run(lines(*with_id, *with_id[:1], *without[:1]))  # 1 of 5 lines (20%): below the limit
    assert quality.loc["missing_customer", "rows"] == 1


def test_identical_lines_without_order_id_or_time_are_separate_purchases_by_default():
    row = ("a", None, "2024-01-01", "X", 1, 10.0)
    orders, quality = run(lines(row, row))
    assert orders["amount"].tolist() == [20.0] and "duplicate" not in quality.index
    orders, quality = run(lines(row, row), drop_duplicates=True)  # explicitly asked for
    assert orders["amount"].tolist() == [10.0] and quality.loc["duplicate", "rows"] == 1


def test_identical_lines_with_a_time_of_day_are_duplicates_by_default():
    row = ("a", None, "2024-01-01 10:15", "X", 1, 10.0)
    orders, quality = run(lines(row, row, ("b", None, "2024-01-02", "X", 1, 4.0)))
    assert orders.set_index("customer_id")["amount"].to_dict() == {"a": 10.0, "b": 4.0}
    assert quality.loc["duplicate", "rows"] == 1


def test_nothing_left_names_the_rule_that_removed_every_line():
    with pytest.raises(DataError) as raised:
        run(lines(("a", "9", "2024-01-01", "X", 1, 0.0)))  # a gift: zero amount
    assert "no orders left in period 'p' after cleaning: all 1 lines: zero amount" in str(raised.value)
    table = lines(("a", "1", "2024-01-01", "X", 1, 0.0), ("a", "2", "2023-01-01", "X", 1, 5.0))
    with pytest.raises(DataError) as raised:
        run(table, period=Period("p", as_of=dt.datetime(2024, 3, 1), window_days=30))
    message = str(raised.value)
    assert "of 2 lines read, 1 lines: zero amount (gift or free item)" in message
    assert "1 orders: order dated before the period's window start" in message
