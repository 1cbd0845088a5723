"""Incremental re-runs: a stage executes again only when its key (notebook, artifacts read, parameter
sections, files, code) differs from the one the period's published run recorded; ``--force`` executes
every stage. Each re-run starts from a copy of the session's sample run of 2024."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from helpers import run_cli

from analysis_utils import manifest, stages
from analysis_utils.io import file_sha256

CLIENT = "params/clients/sample.yaml"
CLUSTERING = "clustering.k=3"  # the sample's own rule chooses 4
INDEPENDENT_OF_CLUSTERING = {"01_data_prep", "02_rfm", "05_future_value"}


def run_2024(out: Path, *flags: str) -> tuple[str, dict]:
    """Run the sample's period 2024 into ``out``; its stdout and the stage records of its manifest."""
    result = run_cli("run", CLIENT, "--period", "2024", "--out", str(out), *flags)
    assert result.returncode == 0, result.stderr
    return result.stdout, manifest.read(out / "sample" / "2024")["stages"]


def statuses(runs: dict) -> dict[str, str]:
    return {name: run["status"] for name, run in runs.items()}


@pytest.fixture(scope="module")
def reports(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder of this module's own holding a copy of the session's sample run of 2024."""
    out = tmp_path_factory.mktemp("incremental")
    shutil.copytree(sample_run / "2024", out / "sample" / "2024")
    return out


@pytest.fixture(scope="module")
def clustering_rerun(reports: Path) -> tuple[dict, str, dict]:
    """The stage records before, and the stdout and stage records of a re-run with another k."""
    before = manifest.read(reports / "sample" / "2024")["stages"]
    return before, *run_2024(reports, "-p", CLUSTERING)


def test_clustering_change_reruns_stage_03_and_what_reads_its_artifacts(clustering_rerun):
    _, stdout, after = clustering_rerun
    assert statuses(after) == {
        name: stages.REUSED if name in INDEPENDENT_OF_CLUSTERING else stages.EXECUTED for name in after
    }
    assert "sample/2024: 01_data_prep.ipynb reused" in stdout
    assert "sample/2024: 03_clustering.ipynb ok" in stdout


def test_reused_stages_hold_byte_identical_artifacts_and_notebooks(clustering_rerun, reports):
    before, _, after = clustering_rerun
    folder = reports / "sample" / "2024"
    for name in INDEPENDENT_OF_CLUSTERING:
        assert after[name]["writes"] == before[name]["writes"]
        assert after[name]["notebook_sha256"] == before[name]["notebook_sha256"]
        assert all(file_sha256(folder / f) == sha for f, sha in after[name]["writes"].items())
    assert after["03_clustering"]["writes"] != before["03_clustering"]["writes"]


def test_run_index_names_the_reused_stages(clustering_rerun, reports):
    index = (reports / "sample" / "2024" / "index.html").read_text(encoding="utf-8")
    line = re.search(r"Reused from the earlier run[^<]*", index)
    assert line and line.group().endswith(": 01_data_prep, 02_rfm, 05_future_value.")


def test_force_executes_every_stage_even_with_nothing_changed(clustering_rerun, reports):
    stdout, after = run_2024(reports, "-p", CLUSTERING, "--force")
    assert set(statuses(after).values()) == {stages.EXECUTED}
    assert " reused " not in stdout
