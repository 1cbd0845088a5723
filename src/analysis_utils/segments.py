"""Named RFM segments, the action playbook and per-segment summaries.

The segment map (``params/segments.yaml``) and the playbook (``params/playbook.yaml``) are
plain YAML a consultant edits without code; this module loads them, proves the map covers
every RFM cell exactly once, and applies it to scored customers.

Segment rule form
-----------------
A rule names a segment and inclusive score ranges on any of ``r``, ``f``, ``m`` and ``fm``
(``fm = round_half_up((f + m) / 2)``); a range is ``[low, high]`` or one number; a score
left out is unrestricted. A segment may have several rules (their union). Rules are
written on the grid of ``n_bins`` scores given in the file (5 for the shipped map).

Other numbers of bins
---------------------
Scores from a scorer with a different ``n_bins`` are first rescaled to the map's grid,
``1 + round_half_up((score - 1) * (grid - 1) / (n_bins - 1))`` for r, f and m each, then
``fm`` is recomputed on the grid and the rules apply. A map complete on its grid is
therefore complete for every ``n_bins``; :meth:`SegmentMap.check_complete` proves it by
listing every cell of the requested ``n_bins``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from analysis_utils.errors import ConfigError, DataError
from analysis_utils.paths import PARAMS_DIR, PROJECT_ROOT, resolve
from analysis_utils.rfm import SCORE_COLUMNS
from analysis_utils.rfm_scorer import cell_labels

SEGMENTS_FILE = PARAMS_DIR / "segments.yaml"
PLAYBOOK_FILE = PARAMS_DIR / "playbook.yaml"

RULE_SCORES = ("r", "f", "m", "fm")
PLAYBOOK_FIELDS = ("loyalty_level", "offer", "campaign")
PLAYBOOK_SECTIONS = ("segments", "quadrants")
PLAYBOOK_AUDIENCES = ("consumer", "business")
CELLS_NAMED_AT_MOST = 25


# --------------------------------------------------------------------------- segment map


@dataclass(frozen=True)
class SegmentRule:
    """One rectangle of the grid: a segment and inclusive score ranges (absent = any)."""

    segment: str
    ranges: Mapping[str, tuple[int, int]]

    def matches(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean array: which of the given grid scores (keys of ``RULE_SCORES``) match."""
        matched = np.ones(len(scores["r"]), dtype=bool)
        for score, (low, high) in self.ranges.items():
            matched &= (scores[score] >= low) & (scores[score] <= high)
        return matched


@dataclass(frozen=True)
class SegmentMap:
    """Rules that name every RFM cell, written on a grid of ``grid`` scores per metric.

    Parameters
    ----------
    rules
        The rules, in file order (the order segments are listed in).
    grid
        Number of score levels the rules are written for (``n_bins`` in the YAML).
    source
        Where the rules come from, used in error messages.
    """

    rules: tuple[SegmentRule, ...]
    grid: int = 5
    source: str = "segment map"

    @property
    def segments(self) -> tuple[str, ...]:
        """Segment names, each once, in file order."""
        return tuple(dict.fromkeys(rule.segment for rule in self.rules))

    def check_complete(self, n_bins: int) -> None:
        """Raise ConfigError naming the cells (of ``n_bins`` scores) that match no segment
        or more than one segment. Several rules of the same segment may overlap."""
        r, f, m = _all_cells(n_bins)
        segment_hits = self._segment_hits(r, f, m, n_bins)
        counts = segment_hits.sum(axis=0)
        labels = cell_labels(r, f, m, n_bins)
        problems = []
        if (counts == 0).any():
            problems.append(f"cells {_name_cells(labels[counts == 0])} match no segment")
        if (counts > 1).any():
            overlaps = [
                f"{label} ({' & '.join(np.array(self.segments)[segment_hits[:, cell]])})"
                for cell, label in zip(np.flatnonzero(counts > 1), labels[counts > 1], strict=True)
            ]
            problems.append(f"cells {_name_cells(overlaps)} match several segments")
        if problems:
            raise ConfigError(f"{self.source}: {'; '.join(problems)}")

    def assign(self, scored: pd.DataFrame, n_bins: int) -> pd.Series:
        """Segment of every scored customer.

        Parameters
        ----------
        scored
            Output of ``RFMScorer.transform``: ``r_score``, ``f_score``, ``m_score`` in 1..n_bins.
        n_bins
            The scorer's ``n_bins``; scores are rescaled to the map's grid when it differs.

        Returns
        -------
        pandas.Series
            ``segment`` (str), same index as ``scored``.
        """
        self.check_complete(n_bins)
        missing = [column for column in SCORE_COLUMNS if column not in scored.columns]
        if missing:
            raise DataError(f"scored table has no column {', '.join(missing)}")
        for column in SCORE_COLUMNS:
            outside = int((~scored[column].between(1, n_bins)).sum())
            if outside:
                raise DataError(f"{column}: {outside} scores outside 1..{n_bins}")
        r, f, m = _all_cells(n_bins)
        segment_of_cell = self._segment_hits(r, f, m, n_bins).argmax(axis=0)
        r_score, f_score, m_score = (scored[c].to_numpy(dtype="int64") for c in SCORE_COLUMNS)
        cell_index = ((r_score - 1) * n_bins + f_score - 1) * n_bins + m_score - 1
        names = np.array(self.segments, dtype=object)[segment_of_cell[cell_index]]
        return pd.Series(names, index=scored.index, dtype="str", name="segment")

    def _segment_hits(self, r: np.ndarray, f: np.ndarray, m: np.ndarray, n_bins: int) -> np.ndarray:
        """Boolean matrix (segment x cell): does any rule of the segment match the cell."""
        on_grid = {
            "r": rescale_scores(r, n_bins, self.grid),
            "f": rescale_scores(f, n_bins, self.grid),
            "m": rescale_scores(m, n_bins, self.grid),
        }
        on_grid["fm"] = (on_grid["f"] + on_grid["m"] + 1) // 2
        hits = np.zeros((len(self.segments), len(r)), dtype=bool)
        row_of = {segment: row for row, segment in enumerate(self.segments)}
        for rule in self.rules:
            hits[row_of[rule.segment]] |= rule.matches(on_grid)
        return hits


def rescale_scores(scores: np.ndarray, n_bins: int, grid: int) -> np.ndarray:
    """Map scores 1..n_bins onto 1..grid: ``1 + round_half_up((s - 1)(grid - 1) / (n_bins - 1))``."""
    steps = np.asarray(scores, dtype="int64") - 1
    return 1 + (2 * steps * (grid - 1) + n_bins - 1) // (2 * (n_bins - 1))


def load_segment_map(path: str | Path = SEGMENTS_FILE) -> SegmentMap:
    """Read a segment map YAML and check it names every cell of its grid exactly once.

    Expected shape::

        n_bins: 5
        segments:
          - {segment: Champions, r: [4, 5], fm: [4, 5]}
          - {segment: Loyal, r: 3, fm: [4, 5]}

    Raises
    ------
    ConfigError
        Missing file, bad shape, a range outside 1..n_bins, or cells left out / matched twice.
    """
    source, document = _read_yaml(path)
    _reject_unknown_keys(document, {"n_bins", "segments"}, source)
    grid = document.get("n_bins", 5)
    if isinstance(grid, bool) or not isinstance(grid, int) or not 3 <= grid <= 10:
        raise ConfigError(f"{source}: n_bins must be a whole number from 3 to 10, got {grid!r}")
    entries = document.get("segments")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: 'segments' must be a non-empty list of rules")
    rules = tuple(_parse_rule(entry, number, grid, source) for number, entry in enumerate(entries, 1))
    segment_map = SegmentMap(rules=rules, grid=grid, source=source)
    segment_map.check_complete(grid)
    return segment_map


def _parse_rule(entry: Any, number: int, grid: int, source: str) -> SegmentRule:
    where = f"{source}: rule {number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping like {{segment: Champions, r: [4, 5]}}")
    _reject_unknown_keys(entry, {"segment", *RULE_SCORES}, where)
    segment = entry.get("segment")
    if not isinstance(segment, str) or not segment.strip():
        raise ConfigError(f"{where} needs a segment name")
    ranges = {}
    for score in RULE_SCORES:
        if score not in entry:
            continue
        value = entry[score]
        bounds = [value, value] if isinstance(value, int) else value
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
            or not 1 <= bounds[0] <= bounds[1] <= grid
        ):
            raise ConfigError(
                f"{where} ({segment}): {score} must be a score or [low, high] within 1..{grid}, got {value!r}"
            )
        ranges[score] = (bounds[0], bounds[1])
    return SegmentRule(segment=segment.strip(), ranges=ranges)


def _all_cells(n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (r, f, m) of ``n_bins`` scores, in cell order 111, 112, ..."""
    r, f, m = np.meshgrid(*[np.arange(1, n_bins + 1)] * 3, indexing="ij")
    return r.ravel(), f.ravel(), m.ravel()


def _name_cells(names: Any) -> str:
    names = list(names)
    shown = ", ".join(names[:CELLS_NAMED_AT_MOST])
    hidden = len(names) - CELLS_NAMED_AT_MOST
    return f"{shown} and {hidden} more" if hidden > 0 else shown


# --------------------------------------------------------------------------- playbook


@dataclass(frozen=True)
class PlaybookEntry:
    """What to do with one group of customers (texts a consultant can hand over)."""

    loyalty_level: str
    offer: str
    campaign: str


@dataclass(frozen=True)
class Playbook:
    """Actions per segment and, once later stages add them, per value-matrix quadrant."""

    segments: Mapping[str, PlaybookEntry]
    quadrants: Mapping[str, PlaybookEntry] = field(default_factory=dict)
    source: str = "playbook"
    audience: str = "consumer"  # whom the actions are written for: consumer | business

    def table(self, section: str = "segments") -> pd.DataFrame:
        """One row per group of ``section`` with the playbook fields, indexed by group name."""
        entries = getattr(self, section)
        return pd.DataFrame(
            [[getattr(entry, name) for name in PLAYBOOK_FIELDS] for entry in entries.values()],
            index=pd.Index(list(entries), name=section.removesuffix("s")),
            columns=list(PLAYBOOK_FIELDS),
        )


def load_playbook(path: str | Path = PLAYBOOK_FILE) -> Playbook:
    """Read the action playbook YAML.

    Expected shape::

        segments:
          Champions:
            loyalty_level: ...
            offer: ...
            campaign: ...
        quadrants: {}   # optional, filled by later stages

    Raises
    ------
    ConfigError
        Missing file, unknown section or field, or a field that is not non-empty text.
    """
    source, document = _read_yaml(path)
    _reject_unknown_keys(document, {*PLAYBOOK_SECTIONS, "audience"}, source)
    if not isinstance(document.get("segments"), dict) or not document["segments"]:
        raise ConfigError(f"{source}: 'segments' must map each segment to its actions")
    audience = document.get("audience", "consumer")
    if audience not in PLAYBOOK_AUDIENCES:
        raise ConfigError(
            f"{source}: 'audience' must be one of {', '.join(PLAYBOOK_AUDIENCES)}, got {audience!r}"
        )
    sections = {
        section: _parse_playbook_section(document.get(section) or {}, section, source)
        for section in PLAYBOOK_SECTIONS
    }
    return Playbook(**sections, source=source, audience=audience)


def check_playbook(playbook: Playbook, segment_map: SegmentMap) -> None:
    """Raise ConfigError naming the segments of the map that have no playbook entry."""
    missing = [name for name in segment_map.segments if name not in playbook.segments]
    if missing:
        raise ConfigError(f"{playbook.source}: no entry for segments {', '.join(missing)}")


def _parse_playbook_section(entries: Any, section: str, source: str) -> dict[str, PlaybookEntry]:
    if not isinstance(entries, dict):
        raise ConfigError(f"{source}: '{section}' must map names to actions")
    parsed = {}
    for name, entry in entries.items():
        where = f"{source}: {section}.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must have {', '.join(PLAYBOOK_FIELDS)}")
        _reject_unknown_keys(entry, set(PLAYBOOK_FIELDS), where)
        for name_of_field in PLAYBOOK_FIELDS:
            text = entry.get(name_of_field)
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{where}.{name_of_field} must be non-empty text")
        parsed[str(name)] = PlaybookEntry(**{k: " ".join(entry[k].split()) for k in PLAYBOOK_FIELDS})
    return parsed


# --------------------------------------------------------------------------- YAML helpers


def _read_yaml(path: str | Path) -> tuple[str, dict[str, Any]]:
    """Return (name for messages, top-level mapping) of a YAML file."""
    full_path = resolve(path)
    source = _display_path(full_path)
    try:
        document = yaml.safe_load(full_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{source}: file not found") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML ({error})") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return source, document


def _display_path(path: Path) -> str:
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def _reject_unknown_keys(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")


# --------------------------------------------------------------------------- summaries


def segment_summary(scored: pd.DataFrame, segment_column: str = "segment") -> pd.DataFrame:
    """Size, revenue and mean behaviour of each segment, most valuable first.

    Parameters
    ----------
    scored
        Customers with ``segment_column``, ``recency_days`` (days), ``frequency`` (orders)
        and ``monetary`` (client currency).
    segment_column
        Column holding the group name (also works for value types or quadrants).

    Returns
    -------
    pandas.DataFrame
        One row per group present: ``customers``, ``share_customers`` (of all customers),
        ``revenue`` (sum of monetary), ``share_revenue`` (of total revenue),
        ``mean_recency_days``, ``mean_frequency``, ``mean_monetary`` (= revenue per
        customer) and ``aov`` (revenue / orders of the group, client currency per order).
        Sorted by ``mean_monetary`` descending, then by name.
    """
    needed = [segment_column, "recency_days", "frequency", "monetary"]
    missing = [column for column in needed if column not in scored.columns]
    if missing:
        raise DataError(f"scored table has no column {', '.join(missing)}")
    summary = scored.groupby(segment_column, sort=False, observed=True).agg(
        customers=("monetary", "size"),
        revenue=("monetary", "sum"),
        orders=("frequency", "sum"),
        mean_recency_days=("recency_days", "mean"),
        mean_frequency=("frequency", "mean"),
        mean_monetary=("monetary", "mean"),
    )
    summary = summary.assign(
        share_customers=summary["customers"] / summary["customers"].sum(),
        share_revenue=summary["revenue"] / summary["revenue"].sum(),
        aov=summary["revenue"] / summary["orders"],
    )
    columns = [
        "customers",
        "share_customers",
        "revenue",
        "share_revenue",
        "mean_recency_days",
        "mean_frequency",
        "mean_monetary",
        "aov",
    ]
    return (
        summary[columns]
        .reset_index()
        .sort_values(["mean_monetary", segment_column], ascending=[False, True], ignore_index=True)
    )


def customer_crosstab(
    customers: pd.DataFrame,
    rows: str,
    columns: str,
    row_order: Sequence[str] | None = None,
    column_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Customers per value of ``rows`` (down) and of ``columns`` (across), for a client table.

    One row per value of ``rows`` (the first column, named ``rows``), one column per value of
    ``columns``, zero where no customer falls; no index. Rows and columns follow the orders given,
    else the largest group first. The narrower way round is the caller's choice: put the variable
    with fewer values across (for example segments down and four quadrants across).
    """
    counts = pd.crosstab(customers[rows], customers[columns])
    if row_order is None:
        row_order = counts.sum(axis=1).sort_values(ascending=False).index
    if column_order is None:
        column_order = counts.sum().sort_values(ascending=False).index
    counts = counts.reindex(index=list(row_order), columns=list(column_order), fill_value=0).astype("int64")
    return counts.rename_axis(index=rows, columns=None).reset_index()
