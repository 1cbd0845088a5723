"""The unified customer table: joins with missing and duplicate keys, skipped sections."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis_utils import customer360


def test_unified_table_keeps_every_customer_once_missing_rows_stay_empty_or_zero():
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "monetary": [1.0, 2.0, 3.0]})
    attributes = pd.DataFrame({"customer_id": ["a", "z"], "gender": ["F", "M"]})  # z: no order in the period
    events = pd.DataFrame({"customer_id": ["b"], "events_review": [4]})
    unified = customer360.unified_table(customers, [attributes, None], [events])
    assert unified["customer_id"].tolist() == ["a", "b", "c"]
    assert unified["gender"].fillna("-").tolist() == ["F", "-", "-"]
    assert unified["events_review"].tolist() == [0, 4, 0]


def test_a_repeated_customer_id_in_a_joined_table_is_an_error():
    customers = pd.DataFrame({"customer_id": ["a"], "monetary": [1.0]})
    attributes = pd.DataFrame({"customer_id": ["a", "a"], "gender": ["F", "M"]})
    with pytest.raises(pd.errors.MergeError):
        customer360.unified_table(customers, [attributes])


def test_section_status_says_which_sections_are_skipped_and_why():
    skipped = {"customers": "no customers file was supplied"}
    status = customer360.section_status(skipped, ["customer_id", "order_date", "amount", "category"])
    assert status.set_index("section")["status"].to_dict() == {
        "Demographic profiles": "skipped",
        "Engagement points": "shown",
        "Campaign response": "shown",
        "Margin points": "skipped",
        "Cross-sell": "shown",
    }
    text = customer360.status_sentence(status)
    assert "- **Demographic profiles** skipped: no customers file was supplied." in text
    assert "- **Margin points** skipped: the transactions carry no cost or margin" in text


def test_the_sources_quality_reads_as_one_plain_sentence_per_source():
    quality = pd.DataFrame(
        {
            "source": ["events"] * 5,
            "rule": ["read", "missing_customer", "before_window", "no_transactions", "kept"],
            "action": ["read", "dropped", "dropped", "not joined", "kept"],
            "rows": [100, 5, 40, 15, 40],
        }
    )
    assert customer360.sources_sentence(quality, 30) == (
        "30 customers in the period. **engagement events**: 100 rows read, 40 kept and matched to "
        "the period's "
        "customers, 40 outside the period, 5 dropped as unusable or repeated, 15 about customers "
        "with no order "
        "in the period."
    )
    assert customer360.sources_sentence(quality.iloc[0:0], 30) == "No extra source was supplied."
