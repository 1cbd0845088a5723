"""Demographic profiles: age bands, merging and suppression of small groups, chi-square by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_utils import profiling


def test_age_bands_hold_ages_from_the_lower_edge_up_to_the_next_exclusive():
    ages = pd.Series([17, 25, 34, 35, 65, 99, np.nan])
    bands = profiling.age_bands(ages, [25, 35, 65])
    assert bands.fillna("-").tolist() == [
        "under 25",
        "25-34",
        "25-34",
        "35-64",
        "65 and over",
        "65 and over",
        "-",
    ]


def test_small_categories_merge_into_other_and_missing_is_unknown():
    values = pd.Series(["a"] * 10 + ["b"] * 3 + ["c"] * 2 + [None] * 10)
    merged = profiling.merge_small_categories(values, min_size=5)
    assert merged.value_counts().to_dict() == {"a": 10, "Unknown": 10, "Other": 5}


def test_profile_table_suppresses_cells_and_groups_below_the_minimum_size():
    frame = pd.DataFrame(
        {
            "segment": ["S"] * 30 + ["T"] * 20 + ["U"] * 4,
            "gender": ["F"] * 25 + ["M"] * 5 + ["F"] * 10 + ["M"] * 10 + ["F"] * 4,
        }
    )
    table = profiling.profile_table(frame, "segment", "gender", min_size=10).set_index(["group", "value"])
    assert "U" not in table.index.get_level_values("group")  # 4 customers: the whole group is left out
    assert pd.isna(table.loc[("S", "M"), "customers"])  # 5 < 10: suppressed
    assert table.loc[("S", "F"), "customers"] == 25
    # base: F 39 of 54; S: 25 of 30 -> index 100 x (25/30) / (39/54)
    assert table.loc[("S", "F"), "index"] == pytest.approx(100 * (25 / 30) / (39 / 54))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from(["x", "y", "z", None])), min_size=1, max_size=120
    ),
    st.integers(1, 15),
)
def test_no_profile_cell_shown_covers_fewer_customers_than_the_minimum(rows, min_size):
    frame = pd.DataFrame(rows, columns=["segment", "attribute"])
    table = profiling.profile_table(frame, "segment", "attribute", min_size)
    shown = table["customers"].dropna()
    assert (shown >= min_size).all()
    group_sizes = frame["segment"].value_counts()
    assert (group_sizes[table["group"].unique()] >= min_size).all()


def test_chi_square_and_cramers_v_by_hand():
    # counts [[10, 20], [30, 40]]; expected [[12, 18], [28, 42]]
    # chi2 = 4/12 + 4/18 + 4/28 + 4/42 = 0.793651; V = sqrt(chi2 / 100)
    frame = pd.DataFrame(
        {
            "group": ["g"] * 30 + ["h"] * 70,
            "value": ["a"] * 10 + ["b"] * 20 + ["a"] * 30 + ["b"] * 40,
        }
    )
    test = profiling.chi_square(frame, "group", "value")
    assert test["chi2"] == pytest.approx(4 / 12 + 4 / 18 + 4 / 28 + 4 / 42)
    assert test["dof"] == 1 and test["customers"] == 100
    assert test["cramers_v"] == pytest.approx(np.sqrt(test["chi2"] / 100))
    assert test["p_value"] == pytest.approx(0.3730, abs=1e-4)  # chi-square, 1 degree of freedom


def test_complete_association_has_cramers_v_one_and_a_single_category_no_test():
    frame = pd.DataFrame({"group": ["g"] * 20 + ["h"] * 20, "value": ["a"] * 20 + ["b"] * 20})
    assert profiling.chi_square(frame, "group", "value")["cramers_v"] == pytest.approx(1.0)
    assert np.isnan(profiling.chi_square(frame.assign(value="a"), "group", "value")["p_value"])


def test_association_table_flags_real_differences_and_leaves_unknown_out():
    rng = np.random.default_rng(0)
    group = np.repeat(["g", "h"], 200)
    linked = np.where(
        group == "g", rng.choice(["a", "b"], 400, p=[0.8, 0.2]), rng.choice(["a", "b"], 400, p=[0.3, 0.7])
    )
    frame = pd.DataFrame({"segment": group, "linked": linked, "noise": rng.choice(["a", "b"], 400)})
    frame.loc[:9, "noise"] = None
    table = profiling.association_table(frame, ["segment"], ["linked", "noise"], alpha=0.05, min_size=10)
    assert table.set_index("attribute")["real_difference"].to_dict() == {"linked": True, "noise": False}
    assert table.set_index("attribute").loc["noise", "customers"] == 390
    assert profiling.association_sentence(table) == (
        "Real differences, strongest first: linked by segment (strong). The others are within chance."
    )  # Cramér's V about 0.5 here: strong
