"""Cross-sell: category pairs with support, confidence and lift on a hand-made basket."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest
from helpers import prep_params

from analysis_utils import basket
from analysis_utils.config import Period

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


def test_top_pairs_keep_frequent_pairs_by_lift_per_group():
    pairs = pd.DataFrame(
        {
            "group": ["S", "S", "S", "T"],
            "category_a": ["A", "A", "B", "A"],
            "category_b": ["B", "C", "C", "B"],
            "orders": [10, 3, 10, 8],
            "lift": [1.2, 5.0, 1.5, 0.9],
        }
    )
    top = basket.top_pairs(pairs, min_orders=5, top_n=1)
    assert top[["group", "category_a", "category_b"]].values.tolist() == [["S", "B", "C"], ["T", "A", "B"]]


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
    rows = basket.baskets(lines, prep_params(), period).to_pandas().sort_values(["order_id", "category"])
    # the cancellation C1 and the order before the window are out; no order id -> customer and day
    assert rows.values.tolist() == [["k", "1", "A"], ["k", "1", "B"], ["k", "k|2024-01-07", "C"]]
