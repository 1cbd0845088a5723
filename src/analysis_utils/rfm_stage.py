"""Stage 02 in one call: customer table, scores, segments and value types of one period.

Notebook 02 calls it and shows the pieces; a later stage's notebook run stand-alone calls it
to rebuild the customers it needs. Definitions: docs/methodology.md, section 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from analysis_utils import rfm, rfm_scorer, rfm_views, segments


@dataclass(frozen=True)
class RFMResult:
    """Stage 02's outcome: every customer (scored or not), the scored ones, the fitted scorer."""

    customers: pd.DataFrame
    scored: pd.DataFrame
    nonpositive: pd.DataFrame
    scorer: rfm_scorer.RFMScorer


def run_rfm(
    orders: ir.Table, as_of: datetime, window_days: int | None, rfm_params: Mapping[str, Any]
) -> RFMResult:
    """Customer table, scores, segments and value types of one period, as the ``rfm`` parameters say.

    ``scored`` holds the customers with positive net spend, with scores, ``segment`` and
    ``value_type``; ``customers`` adds the non-positive ones unscored
    (see :func:`analysis_utils.rfm.with_unscored`).
    Raises ConfigError when the segment map is incomplete or the playbook lacks a segment.
    """
    customers = rfm.customer_frame(orders, as_of, window_days)
    positive, nonpositive = rfm.split_nonpositive(customers)
    scorer = rfm_scorer.scorer_from_params(rfm_params).fit(positive)
    scored = scorer.transform(positive)
    segment_map = segments.load_segment_map(rfm_params["segments_file"])
    segments.check_playbook(segments.load_playbook(rfm_params["playbook_file"]), segment_map)
    scored = scored.assign(
        segment=segment_map.assign(scored, n_bins=scorer.n_bins),
        value_type=rfm_views.value_types(scored, split=rfm_params["value_type_split"]),
    )
    return RFMResult(rfm.with_unscored(scored, nonpositive), scored, nonpositive, scorer)
