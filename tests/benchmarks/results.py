"""Shared by the benchmark scripts: measure in a fresh process; write tables into docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS_DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def write_table(name: str, markdown: str, heading: str | None = None, intro: str = "") -> None:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->`` with ``markdown``.

    With ``heading``, a document without those markers first gets them appended, in a new section
    ``## heading`` opened by the ``intro`` paragraph; without it, missing markers are an error.
    """
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_DOC.read_text(encoding="utf-8")
    if heading is not None and start_marker not in text and end_marker not in text:
        section = f"## {heading}\n\n" + (f"{intro}\n\n" if intro else "") + f"{start_marker}\n{end_marker}\n"
        text = text.rstrip("\n") + "\n\n" + section
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    BENCHMARKS_DOC.write_text(text[:start] + "\n" + markdown + "\n" + text[end:], encoding="utf-8")


def run_child(script: str, *args: str, python: str = sys.executable, env: dict | None = None) -> dict:
    """Run ``python script *args`` in a fresh process; its last stdout line is a JSON result."""
    out = subprocess.run([python, script, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_busy(seconds: float = 0.5) -> float:
    """Share of CPU time spent busy over the next ``seconds`` (Linux /proc/stat; 0 elsewhere)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total_0, idle_0 = sample()
        time.sleep(seconds)
        total_1, idle_1 = sample()
    except OSError:
        return 0.0
    return 1 - (idle_1 - idle_0) / max(total_1 - total_0, 1)
