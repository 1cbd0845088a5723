"""Tests of stage 02 RFM staging and scoring (analysis_utils.rfm)."""

import json
from datetime import UTC, datetime

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_utils.errors import ConfigError, DataError
from analysis_utils.rfm import CUSTOMER_DTYPES, customer_frame, customer_table, split_nonpositive
from analysis_utils.rfm_scorer import RFMScorer, balanced_edges, bin_edges_table
from analysis_utils.rfm_views import pareto, value_types

AS_OF = datetime(2024, 3, 1)


def orders_table(rows: list[tuple[str, str, str, float]]) -> ibis.Table:
    """Orders memtable from (customer_id, order_id, order_date, amount) rows."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    frame = frame.assign(
        order_date=pd.to_datetime(frame["order_date"], format="ISO8601"),
        amount=frame["amount"].astype("float64"),
        items=np.nan,
        lines=np.int64(1),
    )
    return ibis.memtable(frame)


ORDERS = orders_table(
    [
        # window start (30 days before 2024-03-01) is 2024-01-31 00:00: counted
        ("edge", "e1", "2024-01-31 00:00", 10.0),
        ("edge", "e0", "2024-01-30 23:59", 99.0),  # one minute before the window
        # as_of itself is excluded; the evening before has recency 1
        ("late", "l1", "2024-02-29 23:00", 40.0),
        ("late", "l2", "2024-03-01 00:00", 99.0),
        # two rows of one order and a second order on the same day
        ("lines", "x1", "2024-02-10 09:00", 10.0),
        ("lines", "x1", "2024-02-10 09:00", 5.0),
        ("lines", "x2", "2024-02-10 17:00", 20.0),
        # a return larger than the purchase
        ("returner", "r1", "2024-02-05 12:00", 30.0),
        ("returner", "r2", "2024-02-20 12:00", -50.0),
        # three orders 10 days apart
        ("regular", "g1", "2024-02-01 08:00", 12.0),
        ("regular", "g2", "2024-02-11 18:00", 12.0),
        ("regular", "g3", "2024-02-21 10:00", 12.0),
    ]
)


def expected_customers(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(CUSTOMER_DTYPES))
    frame = frame.assign(
        first_order_date=pd.to_datetime(frame["first_order_date"]),
        last_order_date=pd.to_datetime(frame["last_order_date"]),
    )
    return frame.astype(CUSTOMER_DTYPES)


# --------------------------------------------------------------------------- customer table


def test_customer_frame_exact_values_in_a_30_day_window():
    customers = customer_frame(ORDERS, AS_OF, window_days=30)
    expected = expected_customers(
        [
            # id, recency, frequency, monetary, aov, first, last, tenure, order_days, interpurchase
            ("edge", 30, 1, 10.0, 10.0, "2024-01-31", "2024-01-31", 30, 1, np.nan),
            ("late", 1, 1, 40.0, 40.0, "2024-02-29", "2024-02-29", 1, 1, np.nan),
            ("lines", 20, 2, 35.0, 17.5, "2024-02-10", "2024-02-10", 20, 1, np.nan),
            ("regular", 9, 3, 36.0, 12.0, "2024-02-01", "2024-02-21", 29, 3, 10.0),
            ("returner", 10, 2, -20.0, -10.0, "2024-02-05", "2024-02-20", 25, 2, 15.0),
        ]
    )
    pd.testing.assert_frame_equal(customers, expected)


def test_without_window_all_history_before_as_of_counts():
    customers = customer_frame(ORDERS, AS_OF, window_days=None).set_index("customer_id")
    assert customers.loc["edge", ["frequency", "monetary", "recency_days"]].tolist() == [2, 109.0, 30]
    assert customers.loc["edge", "mean_interpurchase_days"] == 1.0
    assert customers.loc["late", "frequency"] == 1  # as_of stays excluded


def test_customer_table_is_an_ibis_expression_sorted_by_customer():
    table = customer_table(ORDERS, AS_OF, window_days=30)
    assert isinstance(table, ibis.Table)
    assert table.to_pandas()["customer_id"].tolist() == ["edge", "late", "lines", "regular", "returner"]


def test_customer_frame_of_an_empty_window_keeps_its_columns_and_dtypes():
    customers = customer_frame(ORDERS, datetime(2020, 1, 1), window_days=30)
    assert customers.empty
    assert customers.dtypes.astype(str).to_dict() == CUSTOMER_DTYPES


def test_split_nonpositive_reports_returners_separately():
    customers = customer_frame(ORDERS, AS_OF, window_days=30)
    positive, nonpositive = split_nonpositive(customers)
    assert nonpositive["customer_id"].tolist() == ["returner"]
    assert positive["customer_id"].tolist() == ["edge", "late", "lines", "regular"]
    assert len(positive) + len(nonpositive) == len(customers)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: customer_table(ORDERS.drop("amount"), AS_OF, 30), DataError, "amount"),
        (lambda: customer_table(ORDERS, AS_OF, 0), ConfigError, "window_days"),
        (lambda: customer_table(ORDERS, AS_OF, 30.5), ConfigError, "window_days"),
        (
            lambda: customer_table(ORDERS, AS_OF.replace(tzinfo=UTC), 30),
            ConfigError,
            "as_of",
        ),
    ],
)
def test_customer_table_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- scorer, by hand

HAND = pd.DataFrame(
    {
        "customer_id": [f"c{i:02d}" for i in range(12)],
        "recency_days": [2, 2, 5, 9, 14, 20, 30, 41, 60, 75, 120, 300],
        "frequency": [1, 1, 1, 1, 1, 2, 2, 3, 4, 5, 8, 13],
        "monetary": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0],
    }
)


def test_balanced_edges_by_hand_with_heavy_ties_on_frequency():
    # distinct 1,2,3,4,5,8,13 with cumulative counts 5,7,8,9,10,11,12 (N=12, 5 bins):
    # edge 1 target 12/5=2.4 -> value 1 (5; no lower value); edge 2 target 5+7/4=6.75 -> 2 (7);
    # edge 3 target 7+5/3=8.67 -> 4 (9 beats 8); edge 4 target 9+3/2=10.5 -> 5 (10 ties 11, lower)
    assert balanced_edges(HAND["frequency"].to_numpy(), 5).tolist() == [1.0, 2.0, 4.0, 5.0]


def test_scorer_by_hand():
    scorer = RFMScorer(n_bins=5).fit(HAND)
    # recency: distinct 2,5,9,14,20,30,41,60,75,120,300, cumulative 2,3,...,12
    # targets 2.4 -> 2 (2); 4.5 -> 9 (4, tie with 5 goes lower); 6.67 -> 30 (7); 9.5 -> 60 (9)
    assert scorer.bin_edges_["recency"].tolist() == [2.0, 9.0, 30.0, 60.0]
    # monetary has no ties: the same targets give 20, 40, 70, 90
    assert scorer.bin_edges_["monetary"].tolist() == [20.0, 40.0, 70.0, 90.0]
    assert scorer.n_distinct_bins_ == {"recency": 5, "frequency": 5, "monetary": 5}

    scored = scorer.transform(HAND)
    assert scored["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1]
    assert scored["f_score"].tolist() == [1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 5]
    assert scored["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5]
    assert scored["cell"].tolist()[:3] == ["511", "511", "412"]
    # fm = round half up of (f + m) / 2: c07 has f=3, m=4 -> 4
    assert scored.loc[7, "fm_score"] == 4
    assert scored.loc[7, "rfm_score"] == pytest.approx((2 + 3 + 4) / 3)
    assert scored.dtypes[["r_score", "f_score", "m_score", "fm_score"]].eq("int64").all()
    pd.testing.assert_frame_equal(scored[HAND.columns], HAND)  # input columns untouched


def test_weights_give_a_weighted_mean():
    scored = RFMScorer(weights=(2, 1, 0)).fit_transform(HAND)
    expected = (2 * scored["r_score"] + scored["f_score"]) / 3
    pd.testing.assert_series_equal(scored["rfm_score"], expected, check_names=False)


def test_fixed_recency_thresholds_are_upper_inclusive():
    customers = pd.DataFrame(
        {
            "recency_days": [0, 30, 31, 90, 91, 180, 365, 366],
            "frequency": [1] * 8,
            "monetary": [1.0] * 8,
        }
    )
    scorer = RFMScorer(strategy={"recency": "fixed"}, thresholds={"recency": [30, 90, 180, 365]})
    scored = scorer.fit_transform(customers)
    assert scored["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 1]
    assert scorer.strategy_ == {"recency": "fixed", "frequency": "quantile", "monetary": "quantile"}


def test_fewer_distinct_values_than_bins_still_span_the_scale():
    customers = HAND.assign(frequency=[1] * 8 + [2] * 4, monetary=50.0)
    scorer = RFMScorer(n_bins=5).fit(customers)
    scored = scorer.transform(customers)
    assert scorer.n_distinct_bins_["frequency"] == 2
    assert scored["f_score"].tolist() == [1] * 8 + [5] * 4
    assert scorer.n_distinct_bins_["monetary"] == 1
    assert set(scored["m_score"]) == {3}  # a constant metric scores the middle


def test_bin_edges_table_lists_the_bins_used():
    table = bin_edges_table(RFMScorer().fit(HAND))
    recency = table[table["metric"] == "recency"]
    assert recency["score"].tolist() == [5, 4, 3, 2, 1]
    assert recency["at_most"].tolist()[:4] == [2.0, 9.0, 30.0, 60.0]
    assert np.isnan(recency["greater_than"].iloc[0])
    assert np.isnan(recency["at_most"].iloc[-1])
    frequency = table[table["metric"] == "frequency"]
    assert frequency["greater_than"].tolist()[:4] == [5.0, 4.0, 2.0, 1.0]


@pytest.mark.parametrize("n_bins", [2, 11, 5.0, True, "5"])
def test_n_bins_out_of_range_is_a_config_error(n_bins):
    with pytest.raises(ConfigError, match=r"rfm\.n_bins"):
        RFMScorer(n_bins=n_bins).fit(HAND)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"strategy": "fixed", "thresholds": None}, r"rfm\.thresholds\.recency is required"),
        ({"strategy": {"recency": "fixed"}, "thresholds": {"recency": [30, 90]}}, "needs 4 edges"),
        ({"strategy": {"recency": "fixed"}, "thresholds": {"recency": [90, 30, 180, 365]}}, "increasing"),
        ({"thresholds": {"recency": [30, 90, 180, 365]}}, "'quantile'"),
        ({"strategy": {"recancy": "fixed"}}, "unknown metric recancy"),
        ({"strategy": "ntile"}, r"rfm\.strategy\.recency"),
        ({"weights": (1, 1)}, r"rfm\.weights"),
        ({"weights": (0, 0, 0)}, r"rfm\.weights"),
    ],
)
def test_bad_parameters_are_config_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        RFMScorer(**params).fit(HAND)


def test_nonpositive_or_missing_metrics_are_data_errors():
    with pytest.raises(DataError, match="monetary <= 0"):
        RFMScorer().fit(HAND.assign(monetary=HAND["monetary"] - 15))
    with pytest.raises(DataError, match="frequency has 1 missing"):
        RFMScorer().fit(HAND.assign(frequency=[np.nan] + [1.0] * 11))
    with pytest.raises(DataError, match="recency_days"):
        RFMScorer().fit(HAND.drop(columns="recency_days"))


def test_saved_thresholds_round_trip_through_json():
    scorer = RFMScorer(n_bins=4, weights=(3, 2, 1)).fit(HAND)
    saved = json.loads(json.dumps(scorer.to_dict()))
    reloaded = RFMScorer.from_dict(saved)
    assert reloaded.strategy_ == dict.fromkeys(["recency", "frequency", "monetary"], "saved")
    next_period = HAND.assign(recency_days=HAND["recency_days"] + 7, monetary=HAND["monetary"] * 1.1)
    pd.testing.assert_frame_equal(reloaded.transform(next_period), scorer.transform(next_period))
    pd.testing.assert_frame_equal(reloaded.transform(HAND), scorer.fit_transform(HAND))


def test_from_dict_needs_the_edges():
    with pytest.raises(ConfigError, match="edges"):
        RFMScorer.from_dict({"n_bins": 5, "weights": [1, 1, 1]})


def test_scores_500000_customers_into_every_level():
    rng = np.random.default_rng(7)
    size = 500_000
    customers = pd.DataFrame(
        {
            "recency_days": rng.integers(1, 366, size),
            "frequency": rng.geometric(0.5, size),
            "monetary": rng.lognormal(4, 1, size),
        }
    )
    scored = RFMScorer().fit_transform(customers)  # its speed is measured by bench_rfm.py, not here
    assert set(scored["f_score"]) == {1, 2, 3, 4, 5}


# --------------------------------------------------------------------------- scorer, properties


@st.composite
def customer_tables(draw):
    """Small customer tables with many ties (frequency mostly 1)."""
    size = draw(st.integers(1, 40))
    column = st.lists
    return pd.DataFrame(
        {
            "recency_days": draw(column(st.integers(0, 30), min_size=size, max_size=size)),
            "frequency": draw(
                column(st.sampled_from([1, 1, 1, 1, 2, 2, 3, 5, 9]), min_size=size, max_size=size)
            ),
            "monetary": draw(
                column(
                    st.one_of(st.sampled_from([5.0, 10.0]), st.floats(0.01, 1e6)),
                    min_size=size,
                    max_size=size,
                )
            ),
        }
    )


SCORED_METRICS = [("recency_days", "r_score", -1), ("frequency", "f_score", 1), ("monetary", "m_score", 1)]


@settings(max_examples=60, deadline=None)
@given(customers=customer_tables(), n_bins=st.integers(3, 10))
def test_scores_are_bounded_monotone_and_tie_consistent(customers, n_bins):
    scored = RFMScorer(n_bins=n_bins).fit_transform(customers)
    for metric, score, direction in SCORED_METRICS:
        assert scored[score].between(1, n_bins).all()
        per_value = scored.groupby(metric)[score].agg(["min", "max"])
        assert (per_value["min"] == per_value["max"]).all()  # equal values, equal scores
        assert (np.diff(per_value["min"].to_numpy()) * direction >= 0).all()  # monotone
        distinct = customers[metric].nunique()
        if distinct >= n_bins:
            assert set(scored[score]) == set(range(1, n_bins + 1))
        elif distinct >= 2:
            assert (scored[score].min(), scored[score].max()) == (1, n_bins)


@settings(max_examples=40, deadline=None)
@given(customers=customer_tables(), n_bins=st.integers(3, 10), data=st.data())
def test_scores_do_not_depend_on_row_order(customers, n_bins, data):
    order = data.draw(st.permutations(range(len(customers))))
    shuffled = customers.iloc[order]
    scored = RFMScorer(n_bins=n_bins).fit_transform(customers)
    pd.testing.assert_frame_equal(RFMScorer(n_bins=n_bins).fit_transform(shuffled).sort_index(), scored)


@settings(max_examples=40, deadline=None)
@given(customers=customer_tables(), other=customer_tables(), n_bins=st.integers(3, 10))
def test_saved_thresholds_reproduce_fit_transform(customers, other, n_bins):
    scorer = RFMScorer(n_bins=n_bins).fit(customers)
    fitted_once = RFMScorer(n_bins=n_bins).fit_transform(customers)
    pd.testing.assert_frame_equal(scorer.transform(customers), fitted_once)
    reloaded = RFMScorer.from_dict(json.loads(json.dumps(scorer.to_dict())))
    pd.testing.assert_frame_equal(reloaded.transform(customers), fitted_once)
    pd.testing.assert_frame_equal(reloaded.transform(other), scorer.transform(other))


# --------------------------------------------------------------------------- value types


def test_each_of_the_eight_value_types_on_a_hand_made_customer():
    # splits (means): recency 55 days, frequency 3 orders, monetary 275
    customers = pd.DataFrame(
        [
            ("recent_frequent_big", 10, 5, 500.0, "Important value"),
            ("recent_rare_big", 10, 1, 500.0, "Important development"),
            ("lapsed_frequent_big", 100, 5, 500.0, "Important retention"),
            ("lapsed_rare_big", 100, 1, 500.0, "Important recall"),
            ("recent_frequent_small", 10, 5, 50.0, "General value"),
            ("recent_rare_small", 10, 1, 50.0, "General development"),
            ("lapsed_frequent_small", 100, 5, 50.0, "General retention"),
            ("lapsed_rare_small", 100, 1, 50.0, "General recall"),
        ],
        columns=["customer_id", "recency_days", "frequency", "monetary", "expected"],
    ).set_index("customer_id")
    types = value_types(customers)
    assert types.to_dict() == customers["expected"].to_dict()
    assert types.name == "value_type"
    # the trap: few recency days is HIGH R, so the recent big spender is not a "recall" type
    assert types["recent_frequent_big"] == "Important value"


def test_value_equal_to_the_split_counts_as_low():
    customers = pd.DataFrame(
        {"recency_days": [10, 20, 30], "frequency": [1, 2, 3], "monetary": [10.0, 20.0, 30.0]}
    )
    assert value_types(customers).tolist() == [
        "General development",  # R high (10 < 20), F low, M low
        "General recall",  # all three equal to the mean: all low
        "Important retention",  # R low, F high, M high
    ]


def test_median_split_differs_from_mean_split_on_skewed_data():
    customers = pd.DataFrame(
        {"recency_days": [1, 9, 1, 9], "frequency": [1, 1, 2, 2], "monetary": [10.0, 11.0, 12.0, 1000.0]}
    )
    # customer 2 spends 12: below the mean (258.25) but above the median (11.5)
    assert value_types(customers, split="mean")[2] == "General value"
    assert value_types(customers, split="median")[2] == "Important value"
    with pytest.raises(ConfigError, match=r"rfm\.value_type_split"):
        value_types(customers, split="mode")


# --------------------------------------------------------------------------- Pareto


def test_pareto_share_and_curve():
    customers = pd.DataFrame({"monetary": [5.0, 30.0, 50.0, 5.0, 10.0]})
    share, curve = pareto(customers, top_share=0.2)
    assert share == pytest.approx(0.5)
    assert pareto(customers, top_share=0.4)[0] == pytest.approx(0.8)
    assert curve["customer_rank"].tolist() == [1, 2, 3, 4, 5]
    assert curve["share_customers"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert curve["share_revenue"].tolist() == pytest.approx([0.5, 0.8, 0.9, 0.95, 1.0])


def test_pareto_rejects_bad_share_and_nonpositive_customers():
    with pytest.raises(ConfigError, match=r"rfm\.pareto_top_share"):
        pareto(pd.DataFrame({"monetary": [1.0]}), top_share=0)
    with pytest.raises(DataError, match="monetary <= 0"):
        pareto(pd.DataFrame({"monetary": [1.0, -1.0]}))
