"""Pseudonyms: stable for one salt, different across salts, not the id, vectorised, missing kept."""

import hashlib

import pandas as pd
import pytest

from analysis_utils.errors import ConfigError
from analysis_utils.privacy import pseudonymise, salt_from

IDS = pd.Series(["007", "0100", "007", None, "17850"])


def test_same_id_same_salt_same_pseudonym_and_format():
    first, again = pseudonymise(IDS, "s3cret"), pseudonymise(IDS, "s3cret")
    pd.testing.assert_series_equal(first, again)
    assert first[0] == first[2] and first[0] != first[1]
    assert first.dropna().str.fullmatch(r"C[0-9a-f]{16}").all()
    assert pd.isna(first[3])


def test_another_salt_gives_unrelated_pseudonyms_and_ids_do_not_show():
    first, other = pseudonymise(IDS, "s3cret"), pseudonymise(IDS, "another")
    assert not (first.dropna() == other.dropna()).any()
    assert not any(i in p for i, p in zip(IDS.dropna(), first.dropna(), strict=True))


def test_pseudonym_is_not_a_plain_hash_of_the_id():
    plain = {hashlib.sha256(i.encode()).hexdigest()[:16] for i in IDS.dropna()}
    assert not plain & {p[1:] for p in pseudonymise(IDS, "s3cret").dropna()}


def test_many_ids_are_distinct():
    ids = pd.Series([f"{i:07d}" for i in range(200_000)])
    assert pseudonymise(ids, "s3cret").nunique() == 200_000


def test_salt_comes_from_environment_first_then_parameters():
    params = {"report": {"pseudonym_salt": "from-params"}}
    assert salt_from(params, environ={"CRM_WORKBOOK_SALT": "from-env"}) == "from-env"
    assert salt_from(params, environ={}) == "from-params"
    with pytest.raises(ConfigError, match="set CRM_WORKBOOK_SALT or report.pseudonym_salt"):
        salt_from({"report": {"pseudonym_salt": ""}}, environ={})


@pytest.mark.parametrize("salt", [" ", "\t  "])
def test_blank_salt_is_refused(salt):
    with pytest.raises(ConfigError, match="is blank"):
        salt_from({"report": {"pseudonym_salt": salt}}, environ={})


def test_short_salt_is_accepted_with_a_warning():
    from analysis_utils.privacy import salt_warning

    assert salt_from({"report": {"pseudonym_salt": "abc"}}, environ={}) == "abc"
    assert "3 characters" in salt_warning("abc")
    assert salt_warning("long-enough") is None
