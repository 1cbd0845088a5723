"""The runner's one graph per command (runner.run_jobs): each stage starts once what it reads is
done, the previous period's artifacts are linked into the reading run instead of being computed
again, a previous period not asked for runs only the stages read from it, and a failure reaches
exactly the runs that needed what failed. Notebooks are stood in for (inline, ``--jobs 1``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from analysis_utils import runner, stages
from analysis_utils.errors import StageError

PERIODS = [
    {"name": "p1", "as_of": "2024-01-01", "window_days": 365},
    {"name": "p2", "as_of": "2025-01-01", "window_days": 366},
]


@pytest.fixture
def fake_stages(tmp_path, monkeypatch):
    """Stand-ins for executing a notebook (writes each artifact the stage declares, its content
    naming the period and the file) and for rendering and publishing; the calls, in order."""
    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Tiny")]), notebook)
    calls: list[tuple[str, str]] = []
    failing: set[tuple[str, str]] = set()

    def execute(job, name, staging):
        calls.append((job.period, name))
        if (job.period, name) in failing:
            raise StageError(f"{name} cell 3 failed with ValueError: planted")
        shutil.copy(notebook, staging / name)
        for artifact in stages.by_notebook(name).writes:
            (staging / artifact).write_text(f"{job.period}/{artifact}", encoding="utf-8")
        return 0.0

    def finish(job, staging, timings, done, started):
        calls.append((job.period, "finish"))
        return runner.Outcome(job.label, "ok", 0.0, str(staging))

    def render(staging, name):
        calls.append((staging.name.split(".partial-")[0].lstrip("."), f"render {name}"))
        return 0.0

    monkeypatch.setattr(runner, "_execute", execute)
    monkeypatch.setattr(runner, "_render", render)
    monkeypatch.setattr(runner, "_finish", finish)
    return calls, failing


@pytest.fixture
def job(client_file, tmp_path):
    path = client_file(periods=PERIODS)

    def make(period: str) -> runner.Job:
        return runner.Job(str(path), "acme", period, str(tmp_path / "reports"), show_progress=False)

    return make


def test_each_stage_runs_once_after_what_it_reads_of_its_own_and_the_previous_period(fake_stages, job):
    calls, _ = fake_stages
    outcomes = runner.run_jobs([job("p1"), job("p2")])
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    executed = [c for c in calls if c[1].endswith(".ipynb") and not c[1].startswith("render")]
    assert len(executed) == len(set(executed)) == 2 * len(runner.STAGE_NOTEBOOKS) + 1  # each stage once
    position = {c: i for i, c in enumerate(calls)}
    for period in ("p1", "p2"):
        for stage in stages.of_kind(stages.PERIOD):
            for producer in stages.producers(stage, stage.reads):
                assert position[(period, producer.notebook)] < position[(period, stage.notebook)]
            assert position[(period, stage.notebook)] < position[(period, "finish")]
    for stage in stages.of_kind(stages.PERIOD):  # p2's 06 and 09 wait for p1's 01, 02 (and 05)
        for producer in stages.producers(stage, stage.reads_previous):
            assert position[("p1", producer.notebook)] < position[("p2", stage.notebook)]
    notebook = runner.COMPARISON_NOTEBOOK
    assert calls[-3:] == [("comparison", n) for n in (notebook, f"render {notebook}", "finish")]
    for period in ("p1", "p2"):  # every page is rendered before the run is published
        for notebook in runner.STAGE_NOTEBOOKS:
            assert position[(period, notebook)] < position[(period, f"render {notebook}")]
            assert position[(period, f"render {notebook}")] < position[(period, "finish")]
    assert position[("p1", "finish")] < position[("comparison", runner.COMPARISON_NOTEBOOK)]


def test_the_previous_periods_artifacts_are_linked_into_the_reading_run(fake_stages, job):
    outcomes = runner.run_jobs([job("p1"), job("p2")])
    p1, p2 = (Path(o.path) for o in outcomes[:2])
    wanted = {name for stage in stages.STAGES for name in stage.reads_previous}
    linked = p2 / stages.OTHER_PERIODS / "p1"
    assert {f.name for f in linked.iterdir()} == wanted
    for name in wanted:
        assert (linked / name).read_text(encoding="utf-8") == f"p1/{name}"
        assert (linked / name).stat().st_ino == (p1 / name).stat().st_ino  # a hard link, not a copy
    assert not (p1 / stages.OTHER_PERIODS).exists()  # p1 has no previous period


def test_a_previous_period_not_asked_for_runs_only_the_stages_read_from_it_and_is_not_published(
    fake_stages, job, tmp_path
):
    calls, _ = fake_stages
    outcomes = runner.run_jobs([job("p2")])
    assert [(o.label, o.status) for o in outcomes] == [("acme/p2", "ok")]
    assert [name for period, name in calls if period == "p1"] == [s.notebook for s in stages.LENT]
    client_dir = tmp_path / "reports" / "acme"
    assert not (client_dir / "p1").exists()
    assert not list(client_dir.glob(".p1*"))  # its staging folder is removed
    assert (Path(outcomes[0].path) / stages.OTHER_PERIODS / "p1" / "churn_rule.json").is_file()


def test_a_failed_stage_fails_its_run_and_the_runs_that_read_it_and_no_other(fake_stages, job, tmp_path):
    calls, failing = fake_stages
    failing.add(("p1", "05_future_value.ipynb"))
    outcomes = runner.run_jobs([job("p1"), job("p2")])
    assert [(o.label, o.status) for o in outcomes] == [("acme/p1", "failed"), ("acme/p2", "failed")]
    p1_error, p2_error = (o.error for o in outcomes)
    assert p1_error.startswith("acme/p1: 05_future_value.ipynb cell 3 failed with ValueError: planted;")
    assert p2_error.startswith("acme/p2: needs 05_future_value of p1, which failed: 05_future_value.ipynb")
    assert "partial run kept in" in p2_error and "\n" not in p2_error
    assert ("p2", "09_client_report.ipynb") not in calls  # it reads p1's churn rule: p2 stops at once
    assert not any(period == "comparison" for period, _ in calls)
    kept = sorted(p.name for p in (tmp_path / "reports" / "acme" / ".failed").iterdir())
    assert [name.split("-")[0] for name in kept] == ["p1", "p2"]
