"""Cross-sell: category pairs with support, confidence and lift on a hand-made basket."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest
from helpers import prep_params

from analysis_utils import basket, executive, prep
from analysis_utils.config import Period
from analysis_utils.errors import ConfigError
from analysis_utils.loader import load_params

ORDERS = {"o1": "AB", "o2": "ABC", "o3": "A", "o4": "C"}  # one segment, four orders


def hand_made_baskets() -> ibis.Table:
    rows = [("k", order, category) for order, categories in ORDERS.items() for category in categories]
    return ibis.memtable(pd.DataFrame(rows, columns=["customer_id", "order_id", "category"]))


def test_support_confidence_and_lift_by_hand():
    groups = basket.group_table(pd.DataFrame({"customer_id": ["k"], "segment": ["S"]}))
    pairs = basket.category_pairs(hand_made_baskets(), groups).to_pandas()
    pairs = pairs.set_index(["category_a", "category_b"]).sort_index()
    # N = 4; A in 3 orders, B in 2, C in 2; AB in 2, AC in 1, BC in 1
    assert pairs.loc[
        ("A", "B"), ["orders", "support", "confidence_ab", "confidence_ba"]
    ].tolist() == pytest.approx([2, 0.5, 2 / 3, 1.0])
    assert pairs.loc[("A", "B"), "lift"] == pytest.approx((2 / 3) / (2 / 4))
    assert pairs.loc[("A", "C"), "lift"] == pytest.approx((1 / 3) / (2 / 4))
    assert pairs.loc[("B", "C"), "lift"] == pytest.approx(1.0)
    assert set(pairs["group_orders"]) == {4}


SETTINGS = {"min_pair_orders": 5, "min_pair_share": 0.01, "min_pair_customers": 10, "top_pairs": 5}


def pair_rows(rows: list[tuple[str, str, str, int, int, float, float]]) -> pd.DataFrame:
    columns = ["group", "category_a", "category_b", "orders", "customers", "support", "lift"]
    return pd.DataFrame(rows, columns=columns)


def test_opportunities_keep_only_pairs_above_chance_with_enough_support_and_customers():
    pairs = pair_rows(
        [
            ("S", "A", "B", 50, 40, 0.05, 1.40),  # qualifies
            ("S", "A", "C", 80, 60, 0.08, 0.96),  # less often than chance: out
            ("S", "A", "D", 90, 70, 0.09, 1.00),  # exactly chance: out (lift must exceed 1)
            ("S", "B", "C", 50, 40, 0.005, 2.00),  # under 1% of the segment's orders: out
            ("S", "B", "D", 50, 9, 0.05, 2.00),  # fewer than 10 customers: out
            ("S", "C", "D", 4, 40, 0.05, 2.00),  # fewer than 5 orders: out
            ("T", "A", "B", 20, 10, 0.01, 1.01),  # at every minimum, just above chance: qualifies
            ("U", "A", "B", 900, 500, 0.30, 0.88),  # frequent but below chance (a Champions case): out
        ]
    )
    chosen = basket.opportunities(pairs, SETTINGS)
    assert chosen[["group", "category_a", "category_b"]].values.tolist() == [["S", "A", "B"], ["T", "A", "B"]]
    assert (chosen["lift"] > 1).all()


def test_opportunities_keep_the_top_pairs_of_each_group_by_lift_then_orders():
    pairs = pair_rows(
        [
            ("S", "A", "B", 10, 10, 0.1, 1.2),
            ("S", "A", "C", 30, 10, 0.1, 1.5),
            ("S", "B", "C", 20, 10, 0.1, 1.5),
            ("T", "A", "B", 8, 10, 0.1, 1.1),
        ]
    )
    chosen = basket.opportunities(pairs, SETTINGS | {"top_pairs": 2})
    assert chosen[["group", "category_a", "category_b"]].values.tolist() == [
        ["S", "A", "C"],
        ["S", "B", "C"],
        ["T", "A", "B"],
    ]


# Segment S: k1 and k2 buy A with B together; k3 buys A only, k4 B only, k5 A and B in separate
# orders, k6 C only (4 orders). Segment T: k7 buys A only. In S: 10 orders, A in 4, B in 4, both in
# 2: lift 2 x 10 / (4 x 4) = 1.25.
AUDIENCE_ORDERS = {
    ("k1", "1"): "AB",
    ("k2", "2"): "AB",
    ("k3", "3"): "A",
    ("k4", "4"): "B",
    ("k5", "5"): "A",
    ("k5", "6"): "B",
    ("k6", "7"): "C",
    ("k6", "9"): "C",
    ("k6", "10"): "C",
    ("k6", "11"): "C",
    ("k7", "8"): "A",
}
AUDIENCE_GROUPS = {"k1": "S", "k2": "S", "k3": "S", "k4": "S", "k5": "S", "k6": "S", "k7": "T"}


def audience_inputs() -> tuple[ibis.Table, ibis.Table]:
    rows = [(k, o, c) for (k, o), categories in AUDIENCE_ORDERS.items() for c in categories]
    rows_table = ibis.memtable(pd.DataFrame(rows, columns=["customer_id", "order_id", "category"]))
    labels = pd.DataFrame({"customer_id": list(AUDIENCE_GROUPS), "segment": list(AUDIENCE_GROUPS.values())})
    return rows_table, basket.group_table(labels)


def test_pairs_count_customers_and_the_audience_is_who_bought_one_side_only():
    rows, groups = audience_inputs()
    pairs = basket.category_pairs(rows, groups).to_pandas()
    assert pairs[["group", "category_a", "category_b", "orders", "customers"]].values.tolist() == [
        ["S", "A", "B", 2, 2]
    ]
    chosen = basket.with_audience(pairs, rows, groups).iloc[0]
    # A without B: k3 only (k5 bought both, in separate orders); B without A: k4; T is another segment
    assert (chosen["customers_a_only"], chosen["customers_b_only"], chosen["audience"]) == (1, 1, 2)


def test_no_pair_qualifies_is_said_in_a_plain_sentence():
    rows, groups = audience_inputs()
    pairs = basket.category_pairs(rows, groups).to_pandas()
    chosen = basket.with_audience(basket.opportunities(pairs, SETTINGS), rows, groups)
    assert chosen.empty and {"customers_a_only", "customers_b_only", "audience"} <= set(chosen.columns)
    assert basket.cross_sell_sentence(chosen, SETTINGS, ["S", "T"]) == (
        "No pair of categories qualifies as a cross-sell opportunity in this period: none was bought "
        "together more often than chance, in at least 1% of a segment's orders (and at least 5 orders) "
        "and by at least 10 customers. No cross-sell offer is suggested."
    )


def test_cross_sell_sentence_names_the_strongest_pair_its_audience_and_the_segments_without_one():
    rows, groups = audience_inputs()
    pairs = basket.category_pairs(rows, groups).to_pandas()
    loose = {"min_pair_orders": 1, "min_pair_share": 0.0, "min_pair_customers": 1, "top_pairs": 5}
    chosen = basket.with_audience(basket.opportunities(pairs, loose), rows, groups)
    text = basket.cross_sell_sentence(chosen, loose, ["S", "T"])
    assert "The strongest: A and B among S, bought together 1.2 times as often as by chance" in text
    assert "2 customers of that segment bought one of the two but not the other" in text
    assert text.endswith("No pair qualifies for T: no cross-sell offer is suggested there.")
    table = basket.client_table(chosen)
    assert set(table.columns) <= set(executive.COLUMN_LABELS)
    assert table.iloc[0][["segment", "customers_together", "audience"]].tolist() == ["S", 2, 2]


def test_baskets_take_kept_purchase_lines_of_the_period_once_per_category():
    lines = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": ["k", "k", "k", "k", "k", "k"],
                "order_id": ["1", "1", "1", "C1", None, "2"],
                "order_date": pd.to_datetime(
                    ["2024-01-05", "2024-01-05", "2024-01-05", "2024-01-09", "2024-01-07", "2023-06-01"]
                ),
                "category": ["A", "A", "B", "B", "C", "D"],
                "amount": [5.0, 3.0, 2.0, 2.0, 4.0, 9.0],
            }
        )
    )
    period = Period("p", dt.datetime(2024, 3, 1), window_days=60)
    rows = prep.basket_rows(prep.annotate_line_rules(lines, prep_params(), period), period).to_pandas()
    # the cancellation C1 and the order before the window are out; no order id -> customer and day
    assert rows.values.tolist() == [["k", "1", "A"], ["k", "1", "B"], ["k", "k|2024-01-07", "C"]]


def test_baskets_are_empty_with_their_columns_when_the_lines_carry_no_category():
    lines = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": ["k"],
                "order_id": ["1"],
                "order_date": pd.to_datetime(["2024-01-05"]),
                "amount": [5.0],
                "quantity": [1.0],
            }
        )
    )
    period = Period("p", dt.datetime(2024, 3, 1), window_days=60)
    rows = prep.basket_rows(prep.annotate_line_rules(lines, prep_params(), period), period)
    assert rows.num_rows == 0 and rows.schema == prep.BASKET_SCHEMA


def test_new_cross_sell_minimums_are_validated():
    with pytest.raises(ConfigError) as raised:
        load_params(
            "params/clients/sample.yaml", ["basket.min_pair_share=1.5", "basket.min_pair_customers=0"]
        )
    assert "basket.min_pair_share must be between 0 and 1, got 1.5" in str(raised.value)
    assert "basket.min_pair_customers must be at least 1, got 0" in str(raised.value)
