"""Migration between periods: margins equal each period's customers; frozen edges mean behaviour moved."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_utils import paths
from analysis_utils.config import load_yaml
from analysis_utils.migration import downgrade_sentence, frozen_segments, migration_matrix, migration_shares
from analysis_utils.rfm import NONPOSITIVE_SEGMENT

RFM = load_yaml(paths.DEFAULTS_FILE)["rfm"]


def test_matrix_counts_moves_new_and_gone():
    before = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": ["Loyal", "Loyal", "Lost", "New"]})
    after = pd.DataFrame(
        {"customer_id": ["a", "b", "d", "e"], "segment": ["Loyal", "At Risk", "Loyal", "New"]}
    )
    matrix = migration_matrix(before, after)
    assert matrix.index.tolist() == ["Lost", "Loyal", "New", "new"]
    assert matrix.columns.tolist() == ["At Risk", "Loyal", "New", "gone"]
    assert matrix.loc["Loyal"].tolist() == [1, 1, 0, 0]
    assert (
        matrix.loc["Lost", "gone"] == 1 and matrix.loc["new", "New"] == 1 and matrix.loc["New", "Loyal"] == 1
    )
    assert migration_shares(matrix).loc["Loyal"].tolist() == [0.5, 0.5, 0.0, 0.0]


groups = st.sampled_from(["A", "B", "C"])
assignments = st.dictionaries(st.sampled_from([f"c{i}" for i in range(30)]), groups, max_size=30)


@settings(max_examples=60, derandomize=True)
@given(assignments, assignments)
def test_rows_sum_to_before_and_columns_to_after(before_map, after_map):
    before = pd.DataFrame({"customer_id": list(before_map), "segment": list(before_map.values())})
    after = pd.DataFrame({"customer_id": list(after_map), "segment": list(after_map.values())})
    if before.empty or after.empty:
        return
    matrix = migration_matrix(before, after)
    rows = matrix.drop(index="new", errors="ignore").sum(axis=1)
    columns = matrix.drop(columns="gone", errors="ignore").sum(axis=0)
    assert rows.to_dict() == before["segment"].value_counts().to_dict()
    assert columns.to_dict() == after["segment"].value_counts().to_dict()


def customers(recency, frequency, monetary):
    n = len(recency)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "recency_days": recency,
            "frequency": frequency,
            "monetary": monetary,
        }
    )


def test_frozen_edges_show_a_whole_base_slowing_down():
    """Everybody buys half as often in the later period: with frozen edges the segments move;
    with each period's own quantiles, the same relative ranks would hide it."""
    first = customers(
        [5, 10, 20, 40, 80, 160, 320, 15, 30, 60],
        [12, 10, 8, 6, 4, 2, 1, 9, 5, 3],
        [900.0, 700, 500, 300, 150, 80, 20, 600, 250, 100],
    )
    later = first.assign(
        frequency=(first["frequency"] / 2).clip(lower=1).astype(int),
        monetary=first["monetary"] / 2,
        recency_days=first["recency_days"] * 2,
    )
    frozen = frozen_segments({"p1": first, "p2": later}, RFM, reference="p1")
    moved = migration_matrix(frozen["p1"], frozen["p2"])
    assert (frozen["p2"]["segment"] != frozen["p1"]["segment"]).sum() >= 5
    own = frozen_segments({"p2": later}, RFM, reference="p2")["p2"]
    assert (own["segment"] == frozen["p1"]["segment"]).sum() > (
        frozen["p2"]["segment"] == frozen["p1"]["segment"]
    ).sum()
    assert int(moved.to_numpy().sum()) == 10


def test_customers_with_no_net_spend_stay_in_the_matrix_as_their_own_group():
    """Every active customer counts, so the matrix's margins equal the periods' customer counts."""
    first = customers([5, 10, 20, 40], [3, 2, 1, 1], [300.0, 200.0, 100.0, -20.0])
    later = customers([5, 10, 20], [1, 2, 1], [0.0, 150.0, 80.0]).assign(customer_id=["c0", "c1", "c9"])
    frozen = frozen_segments({"p1": first, "p2": later}, RFM, reference="p1")
    assert len(frozen["p1"]) == 4 and len(frozen["p2"]) == 3
    assert frozen["p1"].set_index("customer_id").at["c3", "segment"] == NONPOSITIVE_SEGMENT
    assert frozen["p2"].set_index("customer_id").at["c0", "segment"] == NONPOSITIVE_SEGMENT
    matrix = migration_matrix(frozen["p1"], frozen["p2"])
    assert int(matrix.drop(index="new").to_numpy().sum()) == len(first)
    assert int(matrix.drop(columns="gone").to_numpy().sum()) == len(later)
    assert int(matrix.loc["new"].sum()) == 1 and int(matrix["gone"].sum()) == 2  # c9 new; c2, c3 gone


def test_downgrade_sentence_counts_the_moves_down_and_their_previous_spend():
    table = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "previous_segment": ["Champions", "Loyal", "Loyal", "At Risk", None],
            "compared_segment": ["At Risk", "At Risk", "At Risk", "Loyal", "New"],
            "segment_change": ["down", "down", "down", "up", "new"],
            "previous_net_spend": [1000.0, 250.5, 249.5, 80.0, None],
        }
    )
    assert downgrade_sentence(table, "2023", "EUR") == (
        "3 customers moved down to a lower segment since 2023; in 2023 they spent 1,500 EUR. The most "
        "common move was from Loyal to At Risk (2 customers)."
    )
    nobody = table.assign(segment_change="same")
    assert (
        downgrade_sentence(nobody, "2023", "EUR") == "No customer moved down to a lower segment since 2023."
    )
