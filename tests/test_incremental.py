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
    """A reports folder of this module's own holding a copy of the session's sample run (2023 is
    the period 2024 is compared with: its stages 01, 02 and 05 are read, not run again)."""
    out = tmp_path_factory.mktemp("incremental")
    shutil.copytree(sample_run, out / "sample")
    return out


@pytest.fixture(scope="module")
def page_times(reports: Path) -> dict[str, int]:
    """Modification time (ns) of every page of the published 2024 run before the re-run."""
    return {page.name: page.stat().st_mtime_ns for page in (reports / "sample" / "2024").glob("*.html")}


@pytest.fixture(scope="module")
def clustering_rerun(reports: Path, page_times: dict[str, int]) -> tuple[dict, str, dict]:
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


def test_a_period_run_alone_reads_the_previous_periods_published_stages_and_leaves_it_alone(
    clustering_rerun, reports, sample_run
):
    """2024's stages 06 and 09 read 2023's stages 01, 02 and 05: run alone, 2024 takes them from
    2023's published run (same keys: reused, not executed) and 2023's report is not touched."""
    _, stdout, _ = clustering_rerun
    for stage in stages.LENT:
        assert f"sample/2023: {stage.notebook} reused" in stdout
    assert "sample/2023: published" not in stdout
    assert manifest.read(reports / "sample" / "2023") == manifest.read(sample_run / "2023")
    linked = reports / "sample" / "2024" / stages.OTHER_PERIODS / "2023"
    for name in stages.by_notebook("09_client_report.ipynb").reads_previous:
        assert file_sha256(linked / name) == file_sha256(reports / "sample" / "2023" / name), name
    assert not list((reports / "sample").glob(".2023*"))  # the lent run's staging is gone


def test_reused_stages_hold_byte_identical_artifacts_and_notebooks(clustering_rerun, reports):
    before, _, after = clustering_rerun
    folder = reports / "sample" / "2024"
    for name in INDEPENDENT_OF_CLUSTERING:
        assert after[name]["writes"] == before[name]["writes"]
        assert after[name]["notebook_sha256"] == before[name]["notebook_sha256"]
        assert all(file_sha256(folder / f) == sha for f, sha in after[name]["writes"].items())
    assert after["03_clustering"]["writes"] != before["03_clustering"]["writes"]


def test_reused_stages_keep_their_published_pages_and_executed_ones_get_new_pages(
    clustering_rerun, reports, page_times
):
    """A reused stage's pages are the published files (same bytes, same modification time: not
    rendered again); an executed stage's pages are rendered anew."""
    before, _, after = clustering_rerun
    folder = reports / "sample" / "2024"
    for name, run in after.items():
        assert set(run["pages"]) == {f"{name}.client.html", f"{name}.analyst.html"}
        assert all(file_sha256(folder / page) == sha for page, sha in run["pages"].items())
        rendered_again = {
            page for page in run["pages"] if (folder / page).stat().st_mtime_ns != page_times[page]
        }
        if name in INDEPENDENT_OF_CLUSTERING:
            assert run["pages"] == before[name]["pages"] and not rendered_again, name
        else:
            assert rendered_again == set(run["pages"]), name
    assert after["03_clustering"]["pages"] != before["03_clustering"]["pages"]


def test_run_index_names_the_reused_stages(clustering_rerun, reports):
    index = (reports / "sample" / "2024" / "index.html").read_text(encoding="utf-8")
    line = re.search(r"Reused from the earlier run[^<]*", index)
    assert line and line.group().endswith(": 01_data_prep, 02_rfm, 05_future_value.")


def test_force_executes_every_stage_and_gives_the_published_bytes_again(
    clustering_rerun, reports, sample_run
):
    """``--force`` executes every stage and writes the customer lists again; with the session run's
    input and parameters, every data artifact comes out byte-identical to that run's."""
    stdout, after = run_2024(reports, "--force")
    assert set(statuses(after).values()) == {stages.EXECUTED}
    assert " reused " not in stdout
    assert manifest.read(reports / "sample" / "2024")["exports_run"]["status"] == stages.EXECUTED
    assert data_files(reports / "sample" / "2024") == data_files(sample_run / "2024")


@pytest.fixture(scope="module")
def unchanged_rerun(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the session's sample run (both periods and the comparison), run again with nothing
    changed: the reports folder and the stdout."""
    out = tmp_path_factory.mktemp("unchanged")
    shutil.copytree(sample_run, out / "sample")
    result = run_cli("run", CLIENT, "--out", str(out), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_a_rerun_with_nothing_changed_reuses_every_stage_the_comparison_and_the_lists(unchanged_rerun):
    out, stdout = unchanged_rerun
    assert " ok (" not in stdout  # no notebook executed
    for period in ("2023", "2024", "comparison"):
        runs = manifest.read(out / "sample" / period)["stages"]
        assert runs and set(statuses(runs).values()) == {stages.REUSED}, period
    assert "sample/comparison: 90_period_comparison.ipynb reused" in stdout
    for period in ("2023", "2024"):
        assert manifest.read(out / "sample" / period)["exports_run"]["status"] == stages.REUSED
        index = (out / "sample" / period / "index.html").read_text(encoding="utf-8")
        assert re.search(r"Reused from the earlier run[^<]*, the customer lists\.", index), period


def test_a_rerun_with_nothing_changed_publishes_the_same_files(unchanged_rerun, sample_run):
    """Artifacts, migration matrices, customer lists and pages are the published ones, byte for byte."""
    out, _ = unchanged_rerun
    for period in ("2023", "2024", "comparison"):
        again, before = out / "sample" / period, sample_run / period
        assert data_files(again) == data_files(before), period
        pages = {p.name for p in before.glob("*.html")} - {"index.html"}
        assert pages and all((again / p).read_bytes() == (before / p).read_bytes() for p in pages), period
    exported = sorted((sample_run / "2024" / "exports").iterdir())
    assert exported and all(
        (out / "sample" / "2024" / "exports" / p.name).read_bytes() == p.read_bytes() for p in exported
    )


def data_files(folder: Path) -> dict[str, str]:
    """SHA-256 of each data artifact of a run folder (Parquet, JSON but the manifest)."""
    files = [p for pattern in ("*.parquet", "*.json") for p in folder.glob(pattern)]
    return {p.name: file_sha256(p) for p in files if p.name != manifest.FILE_NAME}


def test_a_branding_change_renders_the_pages_of_reused_stages_again(clustering_rerun, reports):
    """The pages' key holds the run's branding: a new "Prepared by" reaches every client page,
    also those of stages whose artifacts are reused."""
    _, after = run_2024(reports, "-p", CLUSTERING, "-p", "report.prepared_by=Jane <Doe> & Partners")
    folder = reports / "sample" / "2024"
    for name in INDEPENDENT_OF_CLUSTERING:
        assert after[name]["status"] == stages.REUSED
        page = (folder / f"{name}.client.html").read_text(encoding="utf-8")
        assert "Prepared by Jane &lt;Doe&gt; &amp; Partners" in page, name
