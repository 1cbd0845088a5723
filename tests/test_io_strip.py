"""The fast whitespace strip of io gives exactly what Ibis' ``strip`` gives, on any text."""

from __future__ import annotations

import string

import ibis
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_utils.io import _strip

EDGES = list(string.whitespace) + ["\u00a0", "\u3000", "\u2003", "\x00", "\x1f", "\x7f", "é", "a", "0"]
TEXT = st.lists(st.one_of(st.sampled_from(EDGES), st.characters(blacklist_categories=["Cs"])), max_size=6)


def stripped_both_ways(values: list[str | None]) -> pd.DataFrame:
    table = ibis.memtable(pd.DataFrame({"text": pd.Series(values, dtype=object)}), schema={"text": "string"})
    result = table.select(fast=_strip(table.text), plain=table.text.strip())
    return ibis.duckdb.connect().to_pandas(result)


def test_hand_picked_values_strip_like_ibis():
    values = ["", " ", " a", "a ", "\ta\n", "\x0bb\x0c", "\r", "a b", "\u00a0x\u00a0", "日本", "007", None]
    both = stripped_both_ways(values)
    assert both["fast"].tolist() == both["plain"].tolist()


@settings(max_examples=50, deadline=None)
@given(st.lists(TEXT.map("".join), min_size=1, max_size=40))
def test_any_text_strips_like_ibis(values):
    both = stripped_both_ways(values)
    assert both["fast"].tolist() == both["plain"].tolist()
