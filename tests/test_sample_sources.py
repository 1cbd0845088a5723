"""The sample's optional sources: pure, drawn apart from the transactions, dirty rows planted."""

from __future__ import annotations

import pandas as pd

from analysis_utils import paths, sample_sources


def sources_for(seed: int = 42) -> dict[str, pd.DataFrame]:
    truth = pd.read_csv(paths.SAMPLE_DIR / "customer_types.csv", dtype=str)
    return sample_sources.generate_sources(truth, seed, "2023-01-01", "2025-01-01")


def test_generate_sources_is_pure_and_the_written_files_match_it():
    first, second = sources_for(), sources_for()
    for name, frame in first.items():
        pd.testing.assert_frame_equal(frame, second[name])
        written = pd.read_csv(paths.SAMPLE_DIR / f"{name}.csv", sep=";", dtype=str, keep_default_na=False)
        assert written.to_numpy().tolist() == frame.astype(str).to_numpy().tolist(), name


def test_dirty_rows_are_planted():
    customers = sources_for()["customers"]
    assert customers["CustomerNo"].duplicated().sum() >= sample_sources.DIRTY_ROWS["duplicate_customer"]
    assert (customers["Gender"] == "?").sum() == sample_sources.DIRTY_ROWS["unknown_gender"]
    assert customers["BirthDate"].isin(["1890-05-01", "2031-01-01"]).sum() == 10
    assert (
        customers["CustomerNo"].str.startswith("9").sum()
        == sample_sources.DIRTY_ROWS["ids_without_transactions"]
    )


def test_planted_champions_respond_more_than_lost_customers():
    truth = pd.read_csv(paths.SAMPLE_DIR / "customer_types.csv", dtype=str)
    contacts = sources_for()["campaigns"].merge(truth, left_on="Customer", right_on="customer_id")
    rate = (contacts["Responded"] == "Y").groupby(contacts["planted_type"]).mean()
    assert rate["champions"] > 0.2 > 0.05 > rate["lost"]
