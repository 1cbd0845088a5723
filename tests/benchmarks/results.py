"""Shared by the benchmark scripts: put a results table into docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS_DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def write_table(name: str, markdown: str) -> None:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->`` with ``markdown``."""
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_DOC.read_text(encoding="utf-8")
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    BENCHMARKS_DOC.write_text(text[:start] + "\n" + markdown + "\n" + text[end:], encoding="utf-8")
