"""Demographic profiles of segments, clusters and tiers, with a chi-square test of each difference.

Customer-level pandas and scipy. Privacy: a client output shows a demographic aggregate only over
at least ``profiling.min_group_size`` customers. Categories of an attribute with fewer customers in
the whole base merge into ``Other``; a cell (group x category) below the size is suppressed (its
numbers become missing), and so is a whole group smaller than that. Definitions:
docs/methodology.md, section 12.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

UNKNOWN = "Unknown"
OTHER = "Other"


def age_band_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the bands cut at ``edges`` (years): ``under 25``, ``25-34``, ..., ``65 and over``."""
    inner = [f"{a:g}-{b - 1:g}" for a, b in zip(edges, edges[1:], strict=False)]
    return [f"under {edges[0]:g}", *inner, f"{edges[-1]:g} and over"]


def age_bands(age: pd.Series, edges: Sequence[float]) -> pd.Series:
    """Age band of every age (whole years): from a band's lower edge up to the next edge, exclusive."""
    bins = [-np.inf, *edges, np.inf]
    values = age.astype("float64")
    return pd.cut(values, bins=bins, right=False, labels=age_band_labels(edges)).astype("string")


def merge_small_categories(values: pd.Series, min_size: int) -> pd.Series:
    """Missing -> ``Unknown``; categories with fewer than ``min_size`` customers -> ``Other``.

    When ``Other`` itself stays below ``min_size`` it is kept (its cells are suppressed later).
    """
    labelled = values.astype("string").fillna(UNKNOWN)
    sizes = labelled.value_counts()
    small = sizes.index[sizes < min_size]
    return labelled.where(~labelled.isin(small), OTHER)


def profile_table(customers: pd.DataFrame, group: str, attribute: str, min_size: int) -> pd.DataFrame:
    """Distribution of ``attribute`` within each value of ``group``, against the whole base.

    Columns: ``group``, ``value``, ``customers``, ``share`` (of the group's customers),
    ``base_share`` (of all customers) and ``index`` = 100 x share / base_share (100 = as the base).
    Rows of groups below ``min_size`` are left out; cells below ``min_size`` keep their row with
    customers, share and index missing (suppressed).
    """
    values = merge_small_categories(customers[attribute], min_size)
    counts = pd.crosstab(customers[group], values)
    counts = counts[counts.sum(axis=1) >= min_size]
    base_share = values.value_counts(normalize=True)
    long = counts.stack().rename("customers").reset_index()
    long.columns = ["group", "value", "customers"]
    long["share"] = long["customers"] / long.groupby("group", observed=True)["customers"].transform("sum")
    long["base_share"] = long["value"].map(base_share).astype("float64")
    long["index"] = 100 * long["share"] / long["base_share"]
    small = long["customers"] < min_size
    long.loc[small, ["customers", "share", "index"]] = np.nan
    return long.astype({"customers": "Float64"})


def chi_square(customers: pd.DataFrame, group: str, attribute: str) -> dict[str, float]:
    """Chi-square test of independence of ``group`` and ``attribute`` (missing values left out).

    Returns ``customers`` (n), ``chi2``, ``dof``, ``p_value`` and ``cramers_v`` =
    sqrt(chi2 / (n x (min(rows, columns) - 1))), 0 = no association, 1 = complete. Rows or columns
    that are all zero are dropped first; with fewer than two of either, the test is undefined (NaN).
    """
    known = customers[[group, attribute]].dropna()
    counts = pd.crosstab(known[group], known[attribute])
    counts = counts.loc[counts.sum(axis=1) > 0, counts.sum(axis=0) > 0]
    n = int(counts.to_numpy().sum())
    if min(counts.shape) < 2:
        return {"customers": n, "chi2": np.nan, "dof": np.nan, "p_value": np.nan, "cramers_v": np.nan}
    result = stats.chi2_contingency(counts.to_numpy(), correction=False)
    cramers_v = float(np.sqrt(result.statistic / (n * (min(counts.shape) - 1))))
    return {
        "customers": n,
        "chi2": float(result.statistic),
        "dof": int(result.dof),
        "p_value": float(result.pvalue),
        "cramers_v": cramers_v,
    }


def association_table(
    customers: pd.DataFrame, groups: Sequence[str], attributes: Sequence[str], alpha: float, min_size: int
) -> pd.DataFrame:
    """One chi-square test per (group column, attribute), on categories merged as in the profiles.

    ``Unknown`` is left out of the test (missing is not a category); ``real_difference`` is
    ``p_value < alpha``.
    """
    rows = []
    for attribute in attributes:
        merged = merge_small_categories(customers[attribute], min_size).replace(UNKNOWN, pd.NA)
        for group in groups:
            test = chi_square(customers.assign(**{attribute: merged}), group, attribute)
            rows.append({"group_by": group, "attribute": attribute, **test})
    table = pd.DataFrame(rows)
    table["real_difference"] = table["p_value"] < alpha
    return table


STRENGTH_EDGES = (0.1, 0.3)  # Cramér's V from which a real difference is moderate, then strong
STRENGTH_WORDS = ("weak", "moderate", "strong")


def association_sentence(tests: pd.DataFrame) -> str:
    """Markdown generated from an :func:`association_table`: where the differences are real (the
    chi-square test) and how strong, in words from Cramér's V (below 0.1 weak, below 0.3 moderate,
    else strong), for the client's page."""
    real = tests[tests["real_difference"]].sort_values("cramers_v", ascending=False)
    if real.empty:
        return "No attribute differs between groups by more than chance would explain."
    items = ", ".join(
        f"{row.attribute.replace('_', ' ')} by {row.group_by.replace('_name', '')}"
        f" ({STRENGTH_WORDS[np.searchsorted(STRENGTH_EDGES, row.cramers_v, side='right')]})"
        for row in real.itertuples()
    )
    return f"Real differences, strongest first: {items}. The others are within chance."
