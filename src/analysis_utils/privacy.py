"""Pseudonymised customer ids for client-facing outputs.

A pseudonym is a keyed hash of the client's id: ``"C" + 16 hex digits`` of SipHash-2-4 (pandas'
vectorised ``hash_pandas_object``) keyed with 16 bytes derived from a secret salt. The same id and
salt always give the same pseudonym, so a client can match rows across reports it receives, but
nobody without the salt can link a pseudonym back to an id by hashing candidate ids.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis_utils.errors import ConfigError

SALT_VARIABLE = "CRM_WORKBOOK_SALT"
MIN_SALT_LENGTH = 8  # characters; a shorter salt is accepted with a warning


def salt_from(params: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """The salt: the environment variable CRM_WORKBOOK_SALT, else ``report.pseudonym_salt``.

    Keep the salt out of committed files: prefer the environment variable. Raises ConfigError
    when neither is set, or when the salt is blank (only spaces: anyone could guess it).
    """
    salt = environ.get(SALT_VARIABLE) or params["report"]["pseudonym_salt"]
    if not salt:
        raise ConfigError(
            f"pseudonymising customer ids needs a salt: set {SALT_VARIABLE} or report.pseudonym_salt"
        )
    if not salt.strip():
        where = SALT_VARIABLE if environ.get(SALT_VARIABLE) else "report.pseudonym_salt"
        raise ConfigError(
            f"the pseudonym salt ({where}) is blank: give it a secret of at least"
            f" {MIN_SALT_LENGTH} characters"
        )
    return salt


def salt_warning(salt: str) -> str | None:
    """A warning when ``salt`` is shorter than :data:`MIN_SALT_LENGTH` characters (easier to guess)."""
    if len(salt) < MIN_SALT_LENGTH:
        return (
            f"the pseudonym salt has {len(salt)} characters: use at least {MIN_SALT_LENGTH}"
            " so pseudonyms cannot be linked back to ids by guessing it"
        )
    return None


def pseudonymise(ids: pd.Series, salt: str) -> pd.Series:
    """Pseudonym of every id (``"C"`` + 16 lowercase hex digits), vectorised; missing ids stay missing."""
    key = hashlib.sha256(salt.encode("utf-8")).hexdigest()[:16]
    hashed = pd.util.hash_pandas_object(ids.astype("string").fillna(""), index=False, hash_key=key)
    hex_digits = hashed.to_numpy().astype(">u8").tobytes().hex().encode("ascii")  # 16 per id, in order
    pseudonyms = "C" + pd.Series(np.frombuffer(hex_digits, dtype="S16").astype(str), index=ids.index)
    return pseudonyms.where(ids.notna())
