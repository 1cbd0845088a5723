"""Stage 06 end to end: the sample's customer 360 and what it plants, and a client with no extra source."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from helpers import run_cli

from analysis_utils import paths, profiling

pytestmark = pytest.mark.slow
SAMPLE = paths.CLIENTS_DIR / "sample.yaml"


@pytest.fixture(scope="module")
def c360(sample_run) -> pd.DataFrame:
    return pd.read_parquet(sample_run / "2024" / "customer_360.parquet")


def test_customer_360_has_one_row_per_customer_of_the_period(sample_run, c360):
    customers = pd.read_parquet(sample_run / "2024" / "customers.parquet")
    assert c360["customer_id"].tolist() == customers["customer_id"].tolist()
    assert c360["customer_id"].is_unique
    assert {
        "segment",
        "cluster",
        "quadrant",
        "gender",
        "age_band",
        "events_referral",
        "campaigns_responded",
    } <= set(c360.columns)
    assert {"points_spend", "points_regularity", "points_total", "rank", "tier"} <= set(c360.columns)
    assert not {"email", "Email", "name", "phone"} & set(c360.columns)


def test_planted_champions_respond_more_and_lost_customers_less(c360):
    by_segment = c360.groupby("segment")[["campaigns_targeted", "campaigns_responded"]].sum()
    rate = by_segment["campaigns_responded"] / by_segment["campaigns_targeted"]
    overall = by_segment["campaigns_responded"].sum() / by_segment["campaigns_targeted"].sum()
    assert rate["Champions"] > 2 * overall > 4 * rate["Lost"]


def test_planted_income_and_age_differ_by_segment_and_region_does_not(c360):
    tests = profiling.association_table(c360, ["segment"], ["income_band", "age_band", "region"], 0.05, 10)
    assert tests.set_index("attribute")["real_difference"].to_dict() == {
        "income_band": True,
        "age_band": True,
        "region": False,
    }


def test_champions_rank_in_the_top_tiers(c360):
    champions = c360[c360["segment"] == "Champions"]
    assert champions["tier"].isin(["Platinum", "Gold"]).mean() > 0.8


def test_without_any_extra_source_the_run_succeeds_and_says_what_was_skipped(tmp_path):
    content = yaml.safe_load(SAMPLE.read_text())
    content.pop("sources")
    del content["data"]["columns"]["category"]
    client = tmp_path / "bare.yaml"
    client.write_text(yaml.safe_dump(content), encoding="utf-8")
    result = run_cli("run", str(client), "--period", "2024", "--out", str(tmp_path / "reports"), "--quiet")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "reports" / "bare" / "2024"
    text = re.sub(r"<[^>]+>", "", (run_dir / "06_customer_360.client.html").read_text())
    report = re.sub(r"<[^>]+>", "", (run_dir / "09_client_report.client.html").read_text())
    for section, reason in [
        ("Demographic profiles", "no customers file was supplied"),
        ("Engagement points", "no events file was supplied"),
        ("Campaign response", "no campaigns file was supplied"),
        ("Margin points", "the transactions carry no cost or margin"),
        ("Cross-sell", "the transactions carry no product category"),
    ]:
        assert f"{section} skipped: {reason}" in text
        assert f"{section} skipped: {reason}" in report
    bare = pd.read_parquet(run_dir / "customer_360.parquet")
    assert {"points_spend", "points_regularity", "tier"} <= set(bare.columns)
    assert not [c for c in bare.columns if c.startswith(("events_", "campaigns_", "points_referral"))]


def test_a_broken_source_stops_the_run_before_any_notebook_with_one_line(tmp_path):
    result = run_cli(
        "run", str(SAMPLE), "-p", "sources.events.columns.event_type=Evnt", "--out", str(tmp_path)
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {paths.SAMPLE_DIR / 'events.csv'}: column 'Evnt' (sources.events.columns.event_type)"
        " not in file (did you mean 'Event'?); the file has: Customer, Event, When"
    )
    assert not list(tmp_path.iterdir())
