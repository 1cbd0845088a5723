"""Comparing what the workbook finds with planted ground truth.

The synthetic sample writes ``customer_types.csv`` (customer_id, planted_type) beside its
transactions. Any client folder may hold such a file (for example labels from a past
campaign); when it is there, the notebooks show how well segments and clusters recover it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from analysis_utils import paths, sample


def planted_types(data_path: Path) -> pd.DataFrame | None:
    """``customer_id`` and ``planted_type`` from the truth file beside the data file, or None."""
    truth_file = data_path.with_name(paths.TRUTH_FILE_NAME)
    if not truth_file.is_file():
        return None
    return pd.read_csv(truth_file, dtype=str, usecols=["customer_id", "planted_type"])


def confusion(labels: pd.DataFrame, truth: pd.DataFrame, label_column: str) -> pd.DataFrame:
    """Planted type (rows) x found label (columns): customer counts over customers in both."""
    joined = labels[["customer_id", label_column]].merge(truth, on="customer_id", how="inner")
    return pd.crosstab(joined["planted_type"], joined[label_column])


def agreement(
    labels: pd.DataFrame, truth: pd.DataFrame, label_column: str, expected: Mapping[str, str | None]
) -> float:
    """Share of customers whose label is the one expected for their planted type.

    Counted over customers present in both tables whose type has an expected label
    (``expected[type]`` not None); 0.0 when there are none.
    """
    joined = labels[["customer_id", label_column]].merge(truth, on="customer_id", how="inner")
    joined = joined.assign(expected=joined["planted_type"].map(dict(expected))).dropna(subset=["expected"])
    return float((joined[label_column] == joined["expected"]).mean()) if len(joined) else 0.0


def rand_agreement(labels: pd.DataFrame, truth: pd.DataFrame, label_column: str) -> float:
    """Adjusted Rand index between found labels and planted types over customers in both.

    1 = the same partition, 0 = no better than chance; it needs no mapping between names.
    """
    joined = labels[["customer_id", label_column]].merge(truth, on="customer_id", how="inner")
    return float(adjusted_rand_score(joined["planted_type"], joined[label_column]))


def p_alive_auc(values: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """AUC of P(alive) separating the sample's planted active types from its lapsed ones.

    1 = every active customer has a higher P(alive) than every lapsed one, 0.5 = chance. Two
    comparisons: the repeat buyers who stopped (sample.LAPSED_REPEAT_TYPES) and every fading type
    (sample.LAPSING_TYPES, whose one-purchase customers have P(alive) = 1 by the model's
    definition), each against sample.ACTIVE_REPEAT_TYPES. Customers in both tables only.
    """
    joined = values[["customer_id", "p_alive"]].merge(truth, on="customer_id", how="inner")
    active = joined["planted_type"].isin(sample.ACTIVE_REPEAT_TYPES)
    scores = {}
    for name, lapsed_types in (
        ("lapsed repeat buyers", sample.LAPSED_REPEAT_TYPES),
        ("every fading type", sample.LAPSING_TYPES),
    ):
        both = active | joined["planted_type"].isin(lapsed_types)
        scores[name] = float(roc_auc_score(active[both], joined.loc[both, "p_alive"]))
    return scores
