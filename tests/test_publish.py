"""Publishing a run and the client index: concurrent runs of one client and write faults (full disk)."""

from __future__ import annotations

import errno
import json
import multiprocessing
import shutil
from pathlib import Path

import nbformat
import pytest

from analysis_utils import report, runner

PUBLISHERS = 4
PUBLISHES_EACH = 15
FILES = ("manifest.json", "01_data_prep.ipynb", "01_data_prep.client.html", "index.html")


def fake_run(staging: Path, writer: str) -> None:
    """A small run folder in which every file names the process that wrote it."""
    manifest = {"client": "acme", "period": {"name": "2024"}, "writer": writer, "artifacts": {}}
    (staging / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    nbformat.write(nbformat.v4.new_notebook(metadata={"writer": writer}), staging / FILES[1])
    for name in FILES[2:]:
        (staging / name).write_text(writer, encoding="utf-8")


def publish_repeatedly(client_dir: str, writer: str, start, results) -> None:
    """What one process does: build and publish the same period, then rebuild the client index.

    Every process starts at once (``start``, a barrier) and puts its failures on ``results``."""
    failures = []
    start.wait(timeout=60)
    for number in range(PUBLISHES_EACH):
        try:
            staging = runner.start_staging(Path(client_dir), "2024")
            fake_run(staging, f"{writer}-{number}")
            (staging / runner.PID_FILE).unlink()
            runner._publish(staging, Path(client_dir) / "2024")
            error = runner.write_index(Path(client_dir))
            if error:
                failures.append(error)
        except Exception as err:  # what the test counts: any failure of a publish or an index write
            failures.append(f"{type(err).__name__}: {err}")
    results.put(failures)


def test_concurrent_runs_of_one_client_both_publish_a_complete_report(tmp_path):
    client_dir = tmp_path / "acme"
    client_dir.mkdir()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(PUBLISHERS), context.Queue()
    processes = [
        context.Process(target=publish_repeatedly, args=(str(client_dir), f"w{n}", start, results))
        for n in range(PUBLISHERS)
    ]
    for process in processes:
        process.start()
    try:
        failures = [line for _ in processes for line in results.get(timeout=120)]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert failures == []
    final = client_dir / "2024"
    writers = {json.loads((final / "manifest.json").read_text(encoding="utf-8"))["writer"]}
    writers.add(nbformat.read(final / FILES[1], as_version=4).metadata["writer"])
    writers |= {(final / name).read_text(encoding="utf-8") for name in FILES[2:]}
    assert len(writers) == 1  # every file of the published folder comes from the same run
    assert (client_dir / "index.html").is_file()
    assert "2024/index.html" in (client_dir / "index.html").read_text(encoding="utf-8")
    expected = {"2024", "index.html", runner.LOCK_FILE}
    leftovers = [p.name for p in client_dir.iterdir() if p.name not in expected]
    assert leftovers == []  # no staging, retired or partial file left behind


def full_disk(monkeypatch, suffix: str) -> None:
    """Writing any file whose name holds ``suffix`` fails as on a full disk (after creating it)."""
    write_text = Path.write_text

    def failing(path: Path, data: str, *args, **kwargs):
        if suffix in path.name:
            path.write_bytes(data[:10].encode())  # what a full disk leaves: a truncated file
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(path, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)


@pytest.fixture
def earlier_report(tmp_path) -> Path:
    """A client folder holding a published period 2024 and its index pages."""
    client_dir = tmp_path / "out" / "acme"
    (client_dir / "2024").mkdir(parents=True)
    fake_run(client_dir / "2024", "earlier")
    report.write_client_index(client_dir)
    return client_dir


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_full_disk_while_rendering_and_indexing_gives_one_line_each_and_keeps_the_earlier_report(
    tmp_path, client_file, monkeypatch, earlier_report
):
    before = files_of(earlier_report)
    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Tiny")]), notebook)
    monkeypatch.setattr(
        runner, "_execute", lambda job, name, staging: shutil.copy(notebook, staging / name) and 0.0
    )
    full_disk(monkeypatch, ".html")
    job = runner.Job(
        client_file=str(client_file()),
        client="acme",
        period="2024",
        out_dir=str(earlier_report.parent),
        show_progress=False,
        notebooks=("01_data_prep.ipynb",),
    )
    outcomes = runner.run_jobs([job])
    assert [o.status for o in outcomes] == ["failed", "failed"]
    run_error, index_error = (o.error for o in outcomes)
    assert run_error.startswith("acme/2024: No space left on device (errno 28) writing ")
    assert ".html" in run_error and "partial run kept in" in run_error
    assert index_error == (
        f"acme: No space left on device (errno 28) writing {earlier_report / 'index.html'};"
        " the earlier index is kept"
    )
    assert all("\n" not in o.error for o in outcomes)
    assert not [p for p in earlier_report.iterdir() if "partial" in p.name]
    after = files_of(earlier_report)
    assert {name: after[name] for name in before} == before  # earlier report and index untouched


def test_full_disk_while_writing_the_parameters_or_the_manifest_names_the_file(
    tmp_path, client_file, monkeypatch, earlier_report
):
    from analysis_utils import manifest

    job = runner.Job(
        client_file=str(client_file()),
        client="acme",
        period="2024",
        out_dir=str(earlier_report.parent),
        show_progress=False,
        notebooks=(),
    )
    full_disk(monkeypatch, "params.yaml")
    (outcome,) = [o for o in runner.run_jobs([job]) if o.label == "acme/2024"]
    assert "No space left on device (errno 28) writing " in outcome.error
    assert outcome.error.split(" writing ")[1].split(";")[0].endswith("params.yaml")
    monkeypatch.undo()
    full_disk(monkeypatch, "manifest.json")
    monkeypatch.setattr(manifest, "build", lambda *args: {"client": "acme"})
    staging = runner.start_staging(earlier_report, "2025")
    with pytest.raises(runner.CrmError, match=r"No space left on device \(errno 28\) writing .*manifest"):
        manifest.write(staging, job, {}, 0.0)
