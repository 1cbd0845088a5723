"""Tests of named segments, the playbook and segment summaries (analysis_utils.segments)."""

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis_utils.errors import ConfigError, DataError
from analysis_utils.segments import (
    Playbook,
    PlaybookEntry,
    SegmentMap,
    SegmentRule,
    check_playbook,
    load_playbook,
    load_segment_map,
    rescale_scores,
    segment_summary,
)

ELEVEN_SEGMENTS = {
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
}

# The shipped grid, FM from 5 (top) down to 1, R from 1 to 5 (as drawn in params/segments.yaml).
GRID_BY_FM = {
    5: ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
    4: ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
    3: ["At Risk", "At Risk", "Need Attention", "Loyal", "Loyal"],
    2: ["Lost", "Hibernating", "About to Sleep", "Potential Loyalist", "Potential Loyalist"],
    1: ["Lost", "Hibernating", "About to Sleep", "Promising", "New"],
}


def all_cells(n_bins: int) -> pd.DataFrame:
    cells = list(itertools.product(range(1, n_bins + 1), repeat=3))
    return pd.DataFrame(cells, columns=["r_score", "f_score", "m_score"])


def write(tmp_path, text: str):
    path = tmp_path / "map.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped map


def test_shipped_map_names_the_eleven_segments():
    assert set(load_segment_map().segments) == ELEVEN_SEGMENTS


def test_every_one_of_the_125_cells_matches_exactly_one_segment():
    segment_map = load_segment_map()
    cells = all_cells(5)
    fm = (cells["f_score"] + cells["m_score"] + 1) // 2
    on_grid = {"r": cells["r_score"], "f": cells["f_score"], "m": cells["m_score"], "fm": fm}
    matching = pd.DataFrame(
        {
            segment: np.logical_or.reduce(
                [rule.matches(on_grid) for rule in segment_map.rules if rule.segment == segment]
            )
            for segment in segment_map.segments
        }
    )
    assert len(cells) == 125
    assert (matching.sum(axis=1) == 1).all()
    segment_map.check_complete(5)


def test_shipped_map_assigns_the_drawn_grid():
    cells = all_cells(5)
    fm = (cells["f_score"] + cells["m_score"] + 1) // 2
    expected = [GRID_BY_FM[f][r - 1] for r, f in zip(cells["r_score"], fm, strict=True)]
    assigned = load_segment_map().assign(cells, n_bins=5)
    assert assigned.tolist() == expected
    assert assigned.name == "segment"


@pytest.mark.parametrize(
    ("cell", "segment"),
    [
        ((5, 5, 5), "Champions"),
        ((4, 3, 4), "Champions"),  # fm = round half up of 3.5 = 4
        ((1, 5, 5), "Can't Lose Them"),
        ((5, 1, 1), "New"),
        ((4, 1, 1), "Promising"),
        ((3, 3, 3), "Need Attention"),
        ((1, 1, 1), "Lost"),
        ((2, 1, 2), "Hibernating"),
    ],
)
def test_shipped_map_on_familiar_cells(cell, segment):
    scored = pd.DataFrame([cell], columns=["r_score", "f_score", "m_score"])
    assert load_segment_map().assign(scored, n_bins=5).iloc[0] == segment


@pytest.mark.parametrize("n_bins", range(3, 11))
def test_shipped_map_is_complete_for_every_number_of_bins(n_bins):
    load_segment_map().check_complete(n_bins)
    assigned = load_segment_map().assign(all_cells(n_bins), n_bins=n_bins)
    assert assigned.notna().all()


def test_other_numbers_of_bins_are_rescaled_to_the_grid():
    assert rescale_scores(np.array([1, 2, 3]), 3, 5).tolist() == [1, 3, 5]
    assert rescale_scores(np.arange(1, 11), 10, 5).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    scored = pd.DataFrame({"r_score": [3, 1, 2], "f_score": [3, 1, 2], "m_score": [3, 1, 2]})
    assigned = load_segment_map().assign(scored, n_bins=3)
    assert assigned.tolist() == ["Champions", "Lost", "Need Attention"]


def test_assign_keeps_the_index_and_rejects_scores_off_the_scale():
    scored = pd.DataFrame({"r_score": [5], "f_score": [5], "m_score": [5]}, index=["c9"])
    assert load_segment_map().assign(scored, n_bins=5).index.tolist() == ["c9"]
    with pytest.raises(DataError, match="m_score: 1 scores outside 1..3"):
        load_segment_map().assign(scored.assign(r_score=1, f_score=2, m_score=4), n_bins=3)


# --------------------------------------------------------------------------- custom maps


def test_missing_cells_are_named(tmp_path):
    path = write(tmp_path, "n_bins: 5\nsegments:\n  - {segment: Champions, fm: [2, 5]}\n")
    with pytest.raises(ConfigError) as raised:
        load_segment_map(path)
    # fm = 1 only when f = m = 1
    assert str(raised.value) == f"{path}: cells 111, 211, 311, 411, 511 match no segment"


def test_overlapping_cells_are_named_with_their_segments(tmp_path):
    path = write(
        tmp_path,
        "segments:\n"
        "  - {segment: Everyone, r: [1, 5]}\n"
        "  - {segment: Best, r: 5, f: 5, m: [4, 5]}\n"
        "  - {segment: Everyone, r: 1}\n",  # overlapping rules of one segment are fine
    )
    with pytest.raises(ConfigError, match=r"cells 554 \(Everyone & Best\), 555 \(Everyone & Best\) "):
        load_segment_map(path)


def test_long_lists_of_cells_are_shortened():
    segment_map = SegmentMap(rules=(SegmentRule("Only", {"r": (1, 1)}),), source="map")
    with pytest.raises(ConfigError, match=r"^map: cells 211, 212, .* and 75 more match no segment$"):
        segment_map.check_complete(5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segments:\n  - {segment: A, r: [0, 5]}\n", r"rule 1 \(A\): r must be .* within 1..5"),
        ("segments:\n  - {segment: A, r: [5, 1]}\n", r"rule 1 \(A\): r must be"),
        ("segments:\n  - {segment: A, rr: 1}\n", "rule 1: unknown key rr"),
        ("segments:\n  - {r: 1}\n", "rule 1 needs a segment name"),
        ("segments: []\n", "non-empty list"),
        ("n_bins: 12\nsegments:\n  - {segment: A}\n", "n_bins must be"),
        ("segment:\n  - {segment: A}\n", "unknown key segment"),
        ("segments: [\n", "not valid YAML"),
    ],
)
def test_malformed_maps_are_config_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_segment_map(write(tmp_path, text))


def test_missing_map_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_segment_map(tmp_path / "nowhere.yaml")


# --------------------------------------------------------------------------- playbook


def test_shipped_playbook_covers_every_segment_of_the_shipped_map():
    playbook = load_playbook()
    check_playbook(playbook, load_segment_map())
    assert set(playbook.segments) == ELEVEN_SEGMENTS
    assert set(playbook.quadrants) == {"Best", "Spenders", "Frequent", "Uncertain"}
    table = playbook.table()
    assert table.index.name == "segment"
    assert table.columns.tolist() == ["loyalty_level", "offer", "campaign"]
    assert table.notna().all().all()


def test_playbook_missing_segments_are_named():
    entry = PlaybookEntry(loyalty_level="Top", offer="Gift", campaign="Thank them")
    playbook = Playbook(segments={"Champions": entry, "Loyal": entry}, source="playbook.yaml")
    with pytest.raises(ConfigError) as raised:
        check_playbook(playbook, load_segment_map())
    assert str(raised.value) == (
        "playbook.yaml: no entry for segments Potential Loyalist, New, Promising, "
        "Need Attention, About to Sleep, At Risk, Can't Lose Them, Hibernating, Lost"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segments:\n  A: {loyalty_level: x, offer: y}\n", r"segments\.A\.campaign must be"),
        ("segments:\n  A: {loyalty_level: x, offer: y, campaign: z, price: 1}\n", "unknown key price"),
        ("segments:\n  A: {loyalty_level: x, offer: y, campaign: z}\nclusters: {}\n", "unknown key clusters"),
        ("quadrants: {}\n", "'segments' must map"),
    ],
)
def test_malformed_playbooks_are_config_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_playbook(write(tmp_path, text))


def test_playbook_reads_quadrants_when_present(tmp_path):
    text = (
        "segments:\n  A: {loyalty_level: x, offer: y, campaign: z}\n"
        "quadrants:\n  Best: {loyalty_level: top, offer: none, campaign: keep}\n"
    )
    playbook = load_playbook(write(tmp_path, text))
    assert playbook.table("quadrants").loc["Best", "campaign"] == "keep"


# --------------------------------------------------------------------------- summary


def test_segment_summary_exact_values():
    scored = pd.DataFrame(
        {
            "segment": ["Lost", "Champions", "Champions", "Lost", "New"],
            "recency_days": [300, 2, 4, 200, 1],
            "frequency": [1, 5, 3, 1, 1],
            "monetary": [10.0, 500.0, 300.0, 30.0, 60.0],
        }
    )
    summary = segment_summary(scored)
    expected = pd.DataFrame(
        {
            "segment": ["Champions", "New", "Lost"],
            "customers": [2, 1, 2],
            "share_customers": [0.4, 0.2, 0.4],
            "revenue": [800.0, 60.0, 40.0],
            "share_revenue": [800 / 900, 60 / 900, 40 / 900],
            "mean_recency_days": [3.0, 1.0, 250.0],
            "mean_frequency": [4.0, 1.0, 1.0],
            "mean_monetary": [400.0, 60.0, 20.0],
            "aov": [100.0, 60.0, 20.0],
        }
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)


def test_segment_summary_needs_its_columns():
    with pytest.raises(DataError, match="segment"):
        segment_summary(pd.DataFrame({"recency_days": [1], "frequency": [1], "monetary": [1.0]}))
