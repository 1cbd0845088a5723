"""Optional sources: parameters, reading, the cleaning rules and their quality counts, joins."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis_utils import sources
from analysis_utils.config import Period
from analysis_utils.engine import connect
from analysis_utils.errors import ConfigError, DataError

PERIOD = Period("p", dt.datetime(2024, 3, 1), window_days=60)  # [2024-01-01, 2024-03-01)
ACTIVE = pd.Index(["a", "b", "c"], dtype="string")  # customers with an order in the period


def counts(quality: pd.DataFrame) -> dict[str, int]:
    return dict(zip(quality["rule"], quality["rows"], strict=True))


def source_params(params_for, tmp_path, name: str, text: str, **section):
    path = tmp_path / f"{name}.csv"
    path.write_text(text, encoding="utf-8")
    return params_for(sources={name: {"path": str(path), **section}})


def test_duplicate_customer_rows_keep_the_most_complete_row_and_unknowns_are_counted():
    rows = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", None, "z", "c"],
            "gender": ["F", "F", "?", "M", "M", "m"],
            "region": [None, "North", "South", "East", "West", "North"],
            "age": [30.9, 30.0, 150.0, 20.0, 40.0, -1.0],
        }
    ).astype({"customer_id": "string", "gender": "string", "region": "string", "age": "float64"})
    kept, quality = sources.clean_customers(rows, {"gender": ["F", "M"]}, PERIOD, ACTIVE)
    assert kept["customer_id"].tolist() == ["a", "b", "c"]
    assert kept["gender"].fillna("-").tolist() == ["F", "-", "M"]  # "?" unknown (blanked); "m" -> "M"
    assert kept["region"].tolist() == ["North", "South", "North"]  # of a's two rows, the one with a region
    assert kept["age"].fillna(-1).tolist() == [30, -1, -1]  # 30.9 -> 30 whole years; 150 and -1 impossible
    assert counts(quality) == {
        "read": 6,
        "missing_customer": 1,
        "duplicate_customer": 1,
        "impossible_age": 2,
        "unknown_category": 1,
        "no_transactions": 1,  # z
        "kept": 3,
    }


def test_age_from_birth_date_counts_whole_years_at_as_of_and_future_births_are_impossible():
    rows = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "birth_date": pd.to_datetime(["1990-03-01", "1990-03-02", "2030-01-01"]),
        }
    ).astype({"customer_id": "string"})
    kept, quality = sources.clean_customers(rows, {}, PERIOD, ACTIVE)
    assert kept["age"].fillna(-1).tolist() == [34, 33, -1]  # as_of 2024-03-01: a's birthday reached, b's not
    assert counts(quality)["impossible_age"] == 1


def test_customers_of_the_period_without_a_row_are_counted():
    rows = pd.DataFrame({"customer_id": ["a"]}, dtype="string")
    _, quality = sources.clean_customers(rows, {}, PERIOD, ACTIVE)
    assert counts(quality)["no_customer_row"] == 2


def test_events_are_counted_per_type_in_the_period_after_every_rule(params_for, tmp_path):
    text = (
        "who;what;when\n"
        "a;Login;2024-01-05 10:00:00\n"
        "a;login;2024-02-05 10:00:00\n"
        "a;Referral;2024-02-06 10:00:00\n"
        "b;Review;2023-12-31 23:59:59\n"  # before the window
        "b;Review;2024-03-01 00:00:00\n"  # on as_of: in the future for this period
        "b;App open;2024-01-10 10:00:00\n"  # unknown type
        ";Login;2024-01-10 10:00:00\n"  # no customer
        "c;Login;not a date\n"
        "z;Login;2024-01-10 10:00:00\n"  # no order in the period
    )
    params = source_params(
        params_for,
        tmp_path,
        "events",
        text,
        read_options={"sep": ";"},
        columns={"customer_id": "who", "event_type": "what", "event_date": "when"},
        type_names={"login": "club_login"},
    )
    tables = sources.load_sources(params, PERIOD, connect(params.get("engine")), ACTIVE)
    assert tables.attributes is None and tables.contacts is None
    assert set(tables.skipped) == {"customers", "campaigns"}
    engagement = tables.engagement.set_index("customer_id")
    assert engagement.loc["a", ["events_club_login", "events_referral", "events_review"]].tolist() == [
        2,
        1,
        0,
    ]
    assert list(engagement.index) == ["a"]
    assert counts(tables.quality) == {
        "read": 9,
        "missing_customer": 1,
        "unparseable_date": 1,
        "after_as_of": 1,
        "before_window": 1,
        "unknown_event_type": 1,
        "no_transactions": 1,
        "kept": 3,
    }


def test_campaign_contacts_merge_repeats_and_drop_unreadable_responses(params_for, tmp_path):
    text = (
        "camp,cust,resp\n"
        "X,a,yes\n"
        "X,a,no\n"  # repeated contact: responded if any row says so
        "X,b,N\n"
        "Y,b,maybe\n"
        ",c,1\n"
        "Y,z,0\n"
    )
    params = source_params(
        params_for,
        tmp_path,
        "campaigns",
        text,
        columns={"customer_id": "cust", "campaign_id": "camp", "responded": "resp"},
    )
    tables = sources.load_sources(params, PERIOD, connect(params.get("engine")), ACTIVE)
    assert tables.contacts.to_dict("list") == {
        "customer_id": ["a", "b"],
        "campaign_id": ["X", "X"],
        "responded": [True, False],
    }
    assert counts(tables.quality) == {
        "read": 6,
        "missing_campaign": 1,
        "unreadable_response": 1,
        "duplicate_contact": 1,
        "no_transactions": 1,
        "kept": 2,
    }


def test_a_mapped_column_the_file_lacks_is_a_one_line_error_naming_the_parameter(params_for, tmp_path):
    params = source_params(
        params_for, tmp_path, "customers", "id,sex\n1,F\n", columns={"customer_id": "id", "gender": "gendr"}
    )
    with pytest.raises(ConfigError, match=r"column 'gendr' \(sources.customers.columns.gender\) not in file"):
        sources.load_sources(params, PERIOD, connect(params.get("engine")), ACTIVE)


def test_a_missing_source_file_is_a_data_error_naming_the_parameter(params_for, tmp_path):
    columns = {"customer_id": "c", "event_type": "t", "event_date": "d"}
    params = params_for(sources={"events": {"path": str(tmp_path / "none.csv"), "columns": columns}})
    with pytest.raises(DataError, match=r"none.csv: data file not found \(sources.events.path\)"):
        sources.load_sources(params, PERIOD, connect(params.get("engine")), ACTIVE)


def test_source_parameters_are_validated_with_every_problem_named(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            sources={
                "customers": {
                    "path": "c.csv",
                    "columns": {"customer_id": "id", "gendr": "g", "age": "a", "birth_date": "b"},
                },
                "campaigns": {"path": "k.csv", "columns": {"customer_id": "id"}},
            },
            ranking={"events": {"referral": {"points": -1, "cap": 5}}, "tier_by": "rank"},
        )
    message = str(raised.value)
    assert "sources.customers.columns.gendr is not a column of customers" in message
    assert "(did you mean gender?)" in message
    assert "sources.customers.columns.age and sources.customers.columns.birth_date are both mapped" in message
    assert "sources.campaigns.columns.campaign_id is required" in message
    assert "ranking.events.referral.points and .cap must be numbers >= 0" in message
    assert "ranking.tier_by must be one of share, points, got 'rank'" in message


def test_ranking_tiers_and_steps_are_validated(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            ranking={
                "spend_tiers": [{"from": 100, "points": 5}, {"from": 50, "points": 10}],
                "tiers": [
                    {"name": "A", "top_share": 0.5, "min_points": 10},
                    {"name": "B", "top_share": 0.9, "min_points": 0},
                ],
            },
            profiling={"age_bands": [30, 20], "min_group_size": 0},
        )
    message = str(raised.value)
    assert "ranking.spend_tiers: from must be strictly increasing, got [100, 50]" in message
    assert (
        "ranking.tiers top_share must increase from above 0 to exactly 1 (the last), got [0.5, 0.9]"
        in message
    )
    assert "profiling.age_bands must be strictly increasing" in message
    assert "profiling.min_group_size must be at least 1" in message


def test_a_consultant_may_add_event_types_to_the_points_model(params_for):
    params = params_for(ranking={"events": {"app_review": {"points": 3, "cap": 9}}})
    assert params.get("ranking.events.app_review") == {"points": 3, "cap": 9}
    assert "referral" in params.get("ranking.events")
