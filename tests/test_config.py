"""Parameter layers and validation: every problem named at once, before anything runs."""

import datetime as dt

import pytest
from helpers import CSV_COLUMNS, run_cli

from analysis_utils.config import (
    Period,
    deep_merge,
    overlap_sentence,
    parse_overrides,
    period_warnings,
    shared_span,
)
from analysis_utils.errors import ConfigError
from analysis_utils.loader import load_params


def test_client_file_overrides_defaults_and_command_line_overrides_client(params_for):
    params = params_for(
        overrides=("prep.returns.policy=drop", "prep.max_unparseable_date_share=0.2"),
        prep={"drop_duplicates": False, "returns": {"policy": "net", "order_prefix": "X"}},
    )
    assert params.get("prep.drop_duplicates") is False  # client over default
    assert params.get("prep.returns.policy") == "drop"  # command line over client
    assert params.get("prep.returns.order_prefix") == "X"  # nested merge keeps siblings
    assert params.get("prep.max_unparseable_date_share") == 0.2
    assert params.get("prep.drop_zero_amount") is True  # untouched default


def test_overrides_are_typed_as_yaml():
    assert parse_overrides(["a.b=3", "a.c=true", "d=['007', x]", "e="]) == {
        "a": {"b": 3, "c": True},
        "d": ["007", "x"],
        "e": "",
    }


def test_override_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        parse_overrides(["prep.drop_duplicates"])


def test_deep_merge_replaces_lists_and_merges_mappings():
    assert deep_merge({"a": {"x": 1, "y": [1, 2]}}, {"a": {"y": [3]}}) == {"a": {"x": 1, "y": [3]}}


def test_unknown_key_gets_did_you_mean(params_for):
    with pytest.raises(
        ConfigError, match=r"unknown parameter prep.drop_duplicate \(did you mean prep.drop_duplicates\?\)"
    ):
        params_for(prep={"drop_duplicate": True})


def test_every_problem_is_listed_at_once(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            overrides=("prep.drop_duplicates=maybe", "engine.threads=two"),
            periods=[{"name": "p1"}],
        )
    message = str(raised.value)
    assert "2 problems" in message
    assert "prep.drop_duplicates must be true/false, got text" in message
    assert "engine.threads must be a whole number, got text" in message


def test_value_problems_are_collected(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            data={"date_format": "%Q-%m", "columns": {"customer_id": "c", "ammount": "a"}},
            periods=[{"name": "p1"}, {"name": "p1", "as_of": "2024-13-01", "window_days": -3}],
        )
    message = str(raised.value)
    for expected in (
        "data.date_format '%Q-%m' has unknown codes: %Q",
        "data.columns.ammount is not a canonical column (did you mean amount?)",
        "data.columns.order_date is required",
        "data.columns needs amount, or both quantity and unit_price",
        "periods[0].as_of is required",
        "periods[1].as_of '2024-13-01' is not a date",
        "periods[1].window_days must be a positive whole number of days, got -3",
        "period name 'p1' is used twice",
    ):
        assert expected in message
    assert "\n" not in message


def test_value_problems_are_listed_beside_an_unknown_key(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            prep={"drop_duplicate": True},
            data={"date_format": "%Q-%m"},
            periods=[{"name": "p1", "as_of": "2024-01-01", "window_days": -3}],
        )
    message = str(raised.value)
    assert "3 problems" in message
    assert "unknown parameter prep.drop_duplicate (did you mean prep.drop_duplicates?)" in message
    assert "data.date_format '%Q-%m' has unknown codes: %Q" in message
    assert "periods[0].window_days must be a positive whole number of days, got -3" in message


def test_missing_parameter_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: parameter file not found"):
        load_params(tmp_path / "nope.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("client:\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+ invalid YAML"):
        load_params(path)


def test_period_boundaries_are_exclusive_as_of_and_lookback_window(params_for):
    params = params_for(periods=[{"name": "y2024", "as_of": "2025-01-01", "window_days": 366}])
    period = params.period("y2024")
    assert period.as_of == dt.datetime(2025, 1, 1)
    assert period.window_start == dt.datetime(2024, 1, 1)
    assert params.periods[0] == period


def test_unknown_period_lists_declared_ones(params_for):
    with pytest.raises(ConfigError, match=r"period '2030' is not declared \(periods: p1\)"):
        params_for().period("2030")


def test_client_name_defaults_to_file_name(params_for):
    assert params_for(client={"name": ""}).get("client.name") == "acme"


def test_unquoted_yaml_date_in_period_is_accepted(client_file, tmp_path):
    path = client_file()
    path.write_text(path.read_text().replace("'2024-03-01'", "2024-03-01"), encoding="utf-8")
    assert load_params(path).periods[0].as_of == dt.datetime(2024, 3, 1)


def test_unquoted_numeric_excluded_id_is_rejected(params_for):
    with pytest.raises(ConfigError, match="prep.exclude_customers must list quoted ids, got 7"):
        params_for(prep={"exclude_customers": [7]})


def test_discount_cost_and_margin_are_optional_canonical_columns(params_for):
    columns = {**CSV_COLUMNS, "discount": "rabatt", "margin": "marge"}
    assert params_for(data={"columns": columns}).get("data.columns.margin") == "marge"


def test_cost_and_margin_cannot_both_be_mapped(params_for, client_file):
    columns = {**CSV_COLUMNS, "cost": "ek", "margin": "marge"}
    expected = "data.columns.cost and data.columns.margin are both mapped; map one of them"
    with pytest.raises(ConfigError, match=expected):
        params_for(data={"columns": columns})
    result = run_cli("validate", str(client_file(data={"columns": columns})))
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_lifetime_value_parameters_are_checked(params_for):
    with pytest.raises(ConfigError) as raised:
        params_for(
            clv={
                "time_unit": "months",
                "calibration_end": "mid-2024",
                "horizon_months": 0,
                "annual_discount_rate": 1.5,
            },
            churn_risk={
                "high_p_alive": 0.7,
                "medium_p_alive": 0.6,
                "medium_p_none": 0.9,
                "high_p_none": 0.8,
                "score": "magic",
            },
        )
    message = str(raised.value)
    for expected in (
        "clv.time_unit must be one of days, weeks, got 'months'",
        "clv.calibration_end must be a quoted ISO date, got 'mid-2024'",
        "clv.horizon_months must be a whole number in 1..120, got 0",
        "clv.annual_discount_rate must be between 0 and 1, got 1.5",
        "churn_risk.high_p_alive and churn_risk.medium_p_alive must satisfy 0 < high < medium < 1",
        "churn_risk.medium_p_none and churn_risk.high_p_none must satisfy 0 < medium < high < 1",
        "churn_risk.score must be one of auto, overdue, p_alive, p_no_purchase, expected_purchases, "
        "got 'magic'",
    ):
        assert expected in message


def period(name, as_of, window_days=None):
    return Period(name, dt.datetime.fromisoformat(as_of), window_days)


H1 = period("H1", "2024-07-01", 182)  # 2024-01-01 .. 2024-06-30
H2 = period("H2", "2025-01-01", 184)  # 2024-07-01 .. 2024-12-31


def test_touching_periods_do_not_overlap():
    assert shared_span(H1, H2) is None and shared_span(H2, H1) is None
    assert overlap_sentence(H1, H2) is None
    assert period_warnings([H1, H2]) == []


def test_nested_periods_overlap_on_the_inner_one():
    year = period("Y2024", "2025-01-01", 366)
    assert shared_span(year, H2) == (dt.datetime(2024, 7, 1), dt.datetime(2025, 1, 1))
    assert overlap_sentence(year, H2) == "Y2024 and H2 overlap (both include 2024-07-01 to 2024-12-31)"
    one_day = period("d", "2024-07-02", 1)  # a one-day overlap counts
    assert overlap_sentence(H2, one_day) == "H2 and d overlap (both include 2024-07-01 to 2024-07-01)"


def test_all_history_overlaps_everything_before_its_as_of():
    history = period("all", "2024-07-01")
    assert shared_span(history, H1) == (dt.datetime(2024, 1, 1), dt.datetime(2024, 7, 1))
    assert shared_span(history, H2) is None  # H2 starts when the history ends
    assert overlap_sentence(history, period("all2", "2024-03-01")) == (
        "all and all2 overlap (both include all history up to 2024-02-29)"
    )
    assert period_warnings([H1, H2, history]) == [
        "periods H1 and all overlap (both include 2024-01-01 to 2024-06-30): each gets its own report,"
        " but the period comparison leaves this pair out"
    ]


def test_validate_warns_about_each_overlapping_pair_in_one_line():
    periods = (
        'periods=[{name: "2023", as_of: "2024-01-01", window_days: 365},'
        ' {name: "2024", as_of: "2025-01-01", window_days: 366}, {name: all, as_of: "2025-01-01"}]'
    )
    result = run_cli("validate", "params/clients/sample.yaml", "--period", "2024", "-p", periods)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: periods 2023 and all overlap (both include 2023-01-01 to 2023-12-31): each gets its own"
        " report, but the period comparison leaves this pair out",
        "warning: periods 2024 and all overlap (both include 2024-01-01 to 2024-12-31): each gets its own"
        " report, but the period comparison leaves this pair out",
    ]
    assert "period 2024: data quality" in result.stdout  # a warning, not an error: validation goes on


@pytest.mark.parametrize(
    ("value", "ok"), [("auto", True), (True, True), (False, True), ("yes", False), (3, False)]
)
def test_drop_duplicates_is_auto_true_or_false(params_for, value, ok):
    if ok:
        assert params_for(prep={"drop_duplicates": value}).get("prep.drop_duplicates") == value
    else:
        with pytest.raises(ConfigError, match="prep.drop_duplicates must be"):
            params_for(prep={"drop_duplicates": value})


def test_max_missing_customer_share_is_a_fraction(params_for):
    assert params_for().get("prep.max_missing_customer_share") == 0.4
    with pytest.raises(ConfigError, match="prep.max_missing_customer_share must be between 0 and 1"):
        params_for(prep={"max_missing_customer_share": 1.5})
