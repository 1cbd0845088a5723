"""Shared fixtures. The sample client's data is generated once per session (cheap when current).

``sample_run`` runs the whole sample job once per session (one run shared by the pytest-xdist
workers, about 30-90 s) for every test module that looks at a published report.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import CSV_COLUMNS, SPARK_OVERRIDES, run_cli
from hypothesis import settings

from analysis_utils import context, engine, paths, sample
from analysis_utils.config import RunParams
from analysis_utils.loader import load_params

# Property tests check what is true, never how fast: hypothesis' per-example deadline (200 ms by
# default) fails them on a loaded machine, so it is off for every test.
settings.register_profile("crm-workbook", deadline=None)
settings.load_profile("crm-workbook")


def pytest_sessionstart(session: pytest.Session) -> None:
    """nbval runs the notebooks on their defaults, which read the sample: make sure it exists, and
    (once, in the controlling process) that no artifact of an older run is left for them to reuse."""
    sample.ensure_sample(paths.SAMPLE_DIR)
    if not hasattr(session.config, "workerinput"):
        context.clear_scratch()


FIRST_MODULES = ("test_spark_cluster.py",)
"""Modules collected first: the Spark cluster run spends minutes mostly waiting on the cluster, so
with pytest-xdist it is best started at once, beside the other worker's tests, not left for last."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in FIRST_MODULES)  # stable: order kept otherwise


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both sample periods, run once in parallel into a temporary reports folder, shared by the
    session's pytest-xdist workers: the first to ask runs it (holding a lock the others wait on),
    the others read its report. Tests read it and copy it, never change it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    out = shared / "sample-reports"
    with (shared / "sample-reports.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (out / "sample" / "index.html").is_file():
            result = run_cli("run", "params/clients/sample.yaml", "--out", str(out), "--jobs", "2")
            assert result.returncode == 0, result.stderr
            assert f"Report: {out / 'sample' / 'index.html'}" in result.stdout
    return out / "sample"


@pytest.fixture(scope="session")
def spark_overrides() -> Iterator[tuple[str, ...]]:
    """Overrides that put the engine on Spark; the one Spark session (local[2]) of this test process
    starts here, once, and stops at the end. Skips when PySpark or Java is missing."""
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install .[spark])")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (17), and java is not on the PATH")
    params = load_params(paths.CLIENTS_DIR / "sample.yaml", SPARK_OVERRIDES)
    session = engine.spark_session(params.get("engine.spark"))
    yield SPARK_OVERRIDES
    session.stop()


@pytest.fixture
def client_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a client parameter file into tmp_path from keyword sections; returns its path."""

    def write(name: str = "acme", **sections: Any) -> Path:
        content = {
            "client": {"name": "Acme"},
            "data": {"path": str(tmp_path / "lines.csv"), "columns": CSV_COLUMNS},
            "periods": [{"name": "p1", "as_of": "2024-03-01"}],
        }
        for key, value in sections.items():
            content[key] = {**content.get(key, {}), **value} if isinstance(value, dict) else value
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(content), encoding="utf-8")
        return path

    return write


@pytest.fixture
def params_for(client_file: Callable[..., Path]) -> Callable[..., RunParams]:
    """Resolved parameters for a client file built from sections, plus -p overrides."""

    def load(overrides: tuple[str, ...] = (), **sections: Any) -> RunParams:
        return load_params(client_file(**sections), overrides)

    return load
