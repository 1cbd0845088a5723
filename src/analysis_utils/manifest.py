"""The manifest of a run: what went in, what came out, with which code, and how long it took."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import yaml

from analysis_utils import paths
from analysis_utils.errors import write_error
from analysis_utils.io import file_sha256, input_files

if TYPE_CHECKING:
    from analysis_utils.runner import Job

PACKAGES = (
    "crm-workbook",
    "ibis-framework",
    "duckdb",
    "sqlglot",
    "pandas",
    "pyarrow",
    "numpy",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "pyspark",
)
FILE_NAME = "manifest.json"


def build(
    run_dir: Path,
    job: Job,
    timings: dict[str, float],
    total_seconds: float,
    stage_runs: Mapping[str, Mapping[str, Any]] | None = None,
    exports_run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to reproduce and audit a run, as a JSON-able dict.

    Keys: client, period, params (resolved), input (path, sha256, bytes), artifacts (rows
    and sha256 per Parquet file), exports (sha256 per file of the ``exports`` folder, by its path
    there), exports_run (the exports' key, ``stages.exports_key``, and whether they were executed
    or reused; absent for the comparison), stages (per stage: its key, whether it was executed or reused,
    the SHA-256 of its executed notebook and of each artifact it wrote: ``stages.record``),
    data_quality (rows per rule), versions, git, engine (backend, lines and files read),
    created_at (UTC), seconds per notebook and in total.
    """
    params = yaml.safe_load((run_dir / "params.yaml").read_text(encoding="utf-8"))
    data_path = paths.resolve(params["data"]["path"])
    artifacts = {
        path.name: {"rows": pq.read_metadata(path).num_rows, "sha256": file_sha256(path)}
        for path in sorted(run_dir.glob("*.parquet"))
    }
    content = {
        "client": job.client,
        "period": next((p for p in params["periods"] if p["name"] == job.period), {"name": job.period}),
        "client_file": job.client_file,
        "overrides": list(job.overrides),
        "params": params,
        "input": input_fingerprint(data_path, params["data"]["format"]),
        "artifacts": artifacts,
        "exports": _export_hashes(run_dir / paths.EXPORTS_FOLDER),
        "stages": dict(stage_runs or {}),
        "data_quality": _quality_counts(run_dir),
        "engine": _engine(params, run_dir),
        "versions": {"python": platform.python_version(), **package_versions()},
        "git": _git_state(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": {**timings, "total": round(total_seconds, 3)},
    }
    if exports_run:
        content["exports_run"] = dict(exports_run)
    return content


def write(
    run_dir: Path,
    job: Job,
    timings: dict[str, float],
    total_seconds: float,
    stage_runs: Mapping[str, Mapping[str, Any]] | None = None,
    exports_run: Mapping[str, Any] | None = None,
) -> Path:
    """Build the manifest (:func:`build`) and save it as ``manifest.json`` in the run folder."""
    path = run_dir / FILE_NAME
    content = build(run_dir, job, timings, total_seconds, stage_runs, exports_run)
    try:
        path.write_text(json.dumps(content, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    except OSError as err:  # full disk: the system does not name the file
        raise write_error(err, path) from None
    return path


def read(run_dir: Path) -> dict[str, Any]:
    """Load the manifest of a run folder."""
    return json.loads((run_dir / FILE_NAME).read_text(encoding="utf-8"))


def entry(run_dir: Path, name: str) -> dict[str, Any]:
    """The entry ``name`` (``stages``, ``exports`` ...) of a published run's manifest; empty when the
    folder, its manifest or the entry is missing or unreadable (nothing of that run is then reused)."""
    try:
        return dict(read(run_dir).get(name) or {})
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _export_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by its POSIX path relative to it; empty without one."""
    files = sorted(path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []
    return {path.relative_to(folder).as_posix(): file_sha256(path) for path in files}


def _quality_counts(run_dir: Path) -> dict[str, int]:
    path = run_dir / "data_quality.parquet"
    if not path.exists():
        return {}
    table = pq.read_table(path, columns=["rule", "rows"]).to_pydict()
    return dict(zip(table["rule"], table["rows"], strict=True))


def input_fingerprint(data_path: Path, data_format: str) -> dict[str, Any]:
    """Path, SHA-256 and bytes of the input; for a glob or a folder, ``files`` too and a SHA-256 of
    the sorted list of each file's path (relative to the folder, or the glob's) and SHA-256."""
    files = input_files(data_path, data_format).files
    if files == (data_path,):
        return {"path": str(data_path), "sha256": file_sha256(data_path), "bytes": data_path.stat().st_size}
    base = data_path if data_path.is_dir() else Path(os.path.commonpath([str(f.parent) for f in files]))
    listing = "".join(f"{f.relative_to(base)} {file_sha256(f)}\n" for f in files)
    return {
        "path": str(data_path),
        "files": len(files),
        "sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
        "bytes": sum(f.stat().st_size for f in files),
    }


def _engine(params: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Which engine ran stage 01 and what it read: lines, files (and date partitions, if any)."""
    quality = _quality_counts(run_dir)
    read = {"lines_read": "input", "files_read": "files", "partitions_read": "partitions"}
    return {"backend": params["engine"]["backend"]} | {
        key: quality[rule] for key, rule in read.items() if rule in quality
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _git_state() -> dict[str, Any]:
    """Commit of the project checkout and whether it had uncommitted changes (None outside git)."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(paths.PROJECT_ROOT), *args], capture_output=True, text=True, check=True, timeout=10
    )
    return result.stdout.strip()
