"""Benchmark of the whole job through the command line, and where a notebook's time goes.

    python tests/benchmarks/bench_job.py [--scenarios sample million clients monthly] [--repeat 3]
        [--kernels warm fresh] [--jobs 2 1] [--quick] [--keep] [--write]

Scenarios, each timed end to end (wall clock) as one or more ``crm-workbook run <client file>
--jobs <N> --out <temporary folder> --quiet`` commands in a fresh process, environment built,
once per variant: warm kernels (``run.warm_kernels``, the default: one kernel per worker, see
``analysis_utils.kernels``) and fresh kernels (``-p run.warm_kernels=false``, one per notebook),
each with every ``--jobs`` value asked for (default 2 and 1), one after the other in the same
invocation, so the paths are compared under the same conditions. Targets (issue 18) apply to
warm kernels with ``--jobs 2``:

- ``sample``: README's first command, ``params/clients/sample.yaml`` (the bundled sample, 3,000
  customers; both periods, the period comparison, every HTML). Target 20 s.
- ``rerun``: the sample client run once (untimed), then again with ``-p clustering.k=5``, timed:
  stages 01, 02 and 05 are reused, 03, 04, 06 and 09 of both periods run again, then the
  comparison. Target 8 s.
- ``uci``: ``params/clients/online_retail.yaml``, the real UCI Online Retail log (541,909 lines;
  skipped with its reason when ``data/raw/online_retail.csv.gz`` is missing): its two periods and
  the comparison. Target 40 s.
- ``million``: one client with at least 1 million lines (the sample generator, seed 7, with as
  many customers as that takes: about 55,000; the sample's column mapping) and one period
  holding every line (two years, ``window_days`` 731). Target 30 s.
- ``clients``: 20 client-periods as a consultant runs them: ten clients, each a sample-sized log
  (3,000 customers, seeds 1 to 10) with the sample's two yearly periods, one command per client
  after the other (each runs its two periods in parallel, then its comparison). Target 120 s.
- ``monthly``: 20 client-periods in one command: the sample log with 20 monthly trailing-year
  snapshots (``as_of`` 2023-06-01 to 2025-01-01, ``window_days`` 365; the data start on
  2023-01-01, so the first seven windows hold 5 to 11 months), then the comparison of the 20.
  Target 120 s.

Data come from ``analysis_utils.sample`` (``ensure_sample``: written once per spec under
``data/bench/job_s<seed>_c<customers>/``, git-ignored, with the planted types beside them as for
the sample, so the notebooks' ground-truth checks run too); client files go to ``data/bench/``,
copies of the sample client's file with their own name, data path and periods.

Where the time goes. Each run's ``manifest.json`` gives the seconds of every notebook, of the
rendering and of the PDF; they are averaged per notebook, and the rest of a job (parameters,
exports, manifest, run index) is its total minus those. Warm and fresh kernels are set side by
side per notebook. The fixed cost of one notebook is measured apart, in
fresh processes, alone and two at once (as two ``--jobs 2`` workers run; native thread pools
capped to one thread each, as the runner does):

- kernel start/stop: papermill executing a one-cell (``pass``) notebook with the project kernel
  (``run.kernel``) through ``execution.IPCKernelManager``, as the runner calls it; median of
  ``--repeat`` calls after a first call in the same process; shutdown timed inside the manager;
- imports: the notebook's own import statements (parsed from its code cells) executed in a
  fresh kernel and timed inside it, plus loading Ibis' DuckDB backend (the first
  ``ibis.duckdb``, done lazily by the first connection) when those imports bring in Ibis;
- work: the notebook's manifest seconds minus both (its own cells: reading, computing,
  plotting, writing). A difference of separately measured figures: for a notebook with little
  work it can come out slightly negative;
- a warm kernel (``kernels.WarmKernel`` through ``execution.IPCKernelManager``): its start with the
  warm-up imports (once per worker, and after a failed notebook), and the restoring of its state
  before each later notebook; papermill's and nbformat's import in a fresh interpreter, with and
  without the block of ``rfc3987_syntax`` that importing ``analysis_utils`` sets.

Outside the jobs: a command's wall time minus the time its jobs took (from the manifests; when
a command has more periods than workers, the periods' total divided by the workers, so only
approximate). It holds the command's start-up, measured apart too (a fresh process doing what
``crm-workbook run`` does before its first job: imports, ``load_params``, ``runner.plan``,
``io.read_transactions``), the start of the worker processes (each imports the runner again),
the client index and the summary.

A run's notebooks are matched with the fixed cost measured at the same concurrency: two at once
for the period notebooks of a command with two or more periods, alone otherwise. Two columns
cross-check it inside the runs themselves, from papermill's per-cell durations in the executed
notebooks: "outside the cells" (the notebook's seconds minus its cells': kernel start/stop and
papermill's own work, under the run's real load) and "the imports cell" (the first cell with an
import statement; it also opens the run and prints its description). The slowest other cells
are listed per scenario. A library
breakdown (each group imported in turn in a fresh interpreter that first loads what a kernel
already holds, ``ipykernel.ipkernel``) shows which imports cost most.

The breakdown against the fixed cost is given for fresh kernels, whose notebooks each pay it.

``--quick``: tiny data (300 customers, 1,000 for ``million``, 2 clients, 4 monthly periods; the
``sample`` scenario runs a 300-customer copy instead of the bundled sample) and one repeat, to
check the script end to end; its times are not compared with the targets. ``--keep`` keeps the
reports. ``--write`` puts the tables into docs/benchmarks.md between the ``bench_job`` markers
(the section is appended when the markers are missing).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from results import cpu_busy, write_table  # sibling module: Python puts the script's folder on sys.path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "bench"
SAMPLE_CLIENT = ROOT / "params" / "clients" / "sample.yaml"
UCI_CLIENT = ROOT / "params" / "clients" / "online_retail.yaml"
BENCH_SALT = "bench-job-salt-not-for-client-reports"  # only when CRM_WORKBOOK_SALT is unset
NOTEBOOKS = ROOT / "notebooks"
BUSY_WARNING = 0.25
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # as runner caps them
SECTION_TITLE = "The whole job: scenarios and where the time goes"
SECTION_INTRO = (
    "Command: `python tests/benchmarks/bench_job.py --write` (`--quick` for a smoke run on tiny data). "
    "Each scenario runs the real command line (`crm-workbook run <client> --jobs N --out <tmp> --quiet`) "
    "in a fresh process, environment already built, with warm and with fresh kernels "
    "(`-p run.warm_kernels=false`) and each `--jobs` asked for; seconds are wall-clock. "
    "Notebook seconds come from each run's `manifest.json`; the fixed cost of a notebook (kernel "
    "start/stop, imports) is measured apart in fresh processes, and work is the rest. "
    "The script's docstring describes every scenario and measurement."
)
BUSY: list[float] = []


# --------------------------------------------------------------------------- scenarios and data


@dataclass
class Scenario:
    name: str
    what: str
    target_s: float | None  # None: quick mode, no comparison
    clients: list[Path] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # a re-run: timed with these after a first run


@dataclass(frozen=True)
class Variant:
    """How the scenario's commands run: warm or fresh kernels, and ``--jobs``."""

    warm: bool
    jobs: int

    @property
    def label(self) -> str:
        return f"{'warm' if self.warm else 'fresh'} kernels, --jobs {self.jobs}"

    def arguments(self) -> list[str]:
        return ["--jobs", str(self.jobs), *([] if self.warm else ["-p", "run.warm_kernels=false"])]


def ensure_log(seed: int, customers: int) -> Path:
    """The sample generator's log for (seed, customers), written once under data/bench/."""
    from analysis_utils import sample

    folder = DATA / f"job_s{seed}_c{customers}"
    return sample.ensure_sample(folder, sample.SampleSpec(seed=seed, n_customers=customers))


def client_file(name: str, data_path: Path, periods: list[dict] | None = None) -> Path:
    """A copy of the sample client's file with its own name, data path and (optionally) periods."""
    content = yaml.safe_load(SAMPLE_CLIENT.read_text(encoding="utf-8"))
    content["client"]["name"] = f"{name} (benchmark)"
    content["data"]["path"] = str(data_path)
    if periods is not None:
        content["periods"] = periods
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"{name}.yaml"  # the client's name is the file's stem
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def monthly_periods(n: int) -> list[dict]:
    """``n`` trailing-year snapshots, one per month, the last ending on 2025-01-01 (exclusive)."""
    periods = []
    year, month = 2025, 1
    for _ in range(n):
        as_of = dt.date(year, month, 1)
        last = as_of - dt.timedelta(days=1)
        periods.insert(0, {"name": f"{last:%Y-%m}", "as_of": f"{as_of:%Y-%m-%d}", "window_days": 365})
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return periods


def build_scenarios(names: list[str], quick: bool) -> list[Scenario]:
    customers = 300 if quick else 3000
    built = []
    for name in names:
        if name == "sample":
            if quick:
                clients = [client_file("job_sample_quick", ensure_log(42, customers))]
                what = "sample-like client (quick: 300 customers), 2 periods + comparison"
            else:
                from analysis_utils import paths, sample

                sample.ensure_sample(paths.SAMPLE_DIR)  # what `make report` does first
                clients = [SAMPLE_CLIENT]
                what = "README's first command: sample client, 2 periods + comparison, every HTML"
            built.append(Scenario(name, what, None if quick else 20, clients))
        elif name == "million":
            log, n = (ensure_log(7, 1000), 1000) if quick else million_log()
            period = [{"name": "2023-2024", "as_of": "2025-01-01", "window_days": 731}]
            clients = [client_file("job_million", log, period)]
            what = f"one client, {n:,} customers, one period holding every line"
            built.append(Scenario(name, what, None if quick else 30, clients))
        elif name == "clients":
            n_clients = 2 if quick else 10
            clients = [
                client_file(f"job_client{seed:02d}", ensure_log(seed, customers))
                for seed in range(1, n_clients + 1)
            ]
            what = f"{n_clients} clients x 2 yearly periods ({customers:,} customers each), a command each"
            built.append(Scenario(name, what, None if quick else 120, clients))
        elif name == "monthly":
            n_periods = 4 if quick else 20
            clients = [client_file("job_monthly", ensure_log(42, customers), monthly_periods(n_periods))]
            what = (
                f"1 client ({customers:,} customers) x {n_periods} monthly trailing-year periods, one command"
            )
            built.append(Scenario(name, what, None if quick else 120, clients))
        elif name == "rerun":
            quick_client = [client_file("job_sample_quick", ensure_log(42, customers))] if quick else []
            clients = quick_client or [SAMPLE_CLIENT]
            what = "sample client re-run after changing only clustering.k (stages 01, 02, 05 reused)"
            built.append(Scenario(name, what, None if quick else 8, clients, ["clustering.k=5"]))
        elif name == "uci":
            from analysis_utils import paths

            data = paths.resolve(yaml.safe_load(UCI_CLIENT.read_text(encoding="utf-8"))["data"]["path"])
            if not data.is_file():
                print(f"scenario uci skipped: {data} is missing (see data/raw/README.md)", flush=True)
                continue
            what = "UCI Online Retail client (real log), its 2 periods + comparison"
            built.append(Scenario(name, what, None if quick else 40, [UCI_CLIENT]))
        else:
            raise SystemExit(f"unknown scenario {name!r}")
    return built


def million_log(lines: int = 1_000_000, seed: int = 7) -> tuple[Path, int]:
    """The smallest log of the sample generator with at least ``lines`` lines (customers scaled up)."""
    per_customer = file_lines(ensure_log(seed, 3000)) / 3000
    customers = math.ceil(lines / per_customer * 1.01)
    while file_lines(path := ensure_log(seed, customers)) < lines:
        customers = math.ceil(customers * 1.02)
    return path, customers


def data_lines(client: Path) -> int:
    """Lines of the client's data file (header excluded)."""
    from analysis_utils import paths

    return file_lines(paths.resolve(yaml.safe_load(client.read_text(encoding="utf-8"))["data"]["path"]))


def file_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1  # header excluded


# --------------------------------------------------------------------------- running the command


def cli() -> list[str]:
    script = Path(sys.executable).with_name("crm-workbook")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "analysis_utils"]


def check_idle(what: str) -> None:
    busy = cpu_busy()
    BUSY.append(busy)
    if busy > BUSY_WARNING:  # other work on a 2-core machine skews every number
        print(f"warning: CPUs {busy:.0%} busy before {what}", file=sys.stderr, flush=True)


def run_scenario(scenario: Scenario, variant: Variant, out: Path) -> dict:
    """Run each client's command one after the other; wall seconds and the runs' manifests."""
    walls, outside = [], []
    for client in scenario.clients:
        command = [*cli(), "run", str(client), *variant.arguments(), "--out", str(out), "--quiet"]
        if scenario.overrides:  # a re-run: the first run publishes what the timed one may reuse
            run_command(command)
            command += [word for override in scenario.overrides for word in ("-p", override)]
        check_idle(f"{scenario.name} ({variant.label}): {client.name}")
        started = time.perf_counter()
        run_command(command)
        wall = time.perf_counter() - started
        walls.append(wall)
        runs = read_manifests(out / client.stem)
        outside.append(wall - makespan(runs, variant.jobs))
        print(f"  {scenario.name} ({variant.label}): {client.stem} {wall:.1f} s", flush=True)
    lines = sum(data_lines(client) for client in scenario.clients)
    runs = [run for client in scenario.clients for run in read_manifests(out / client.stem)]
    return {"wall": sum(walls), "walls": walls, "outside": sum(outside), "runs": runs, "lines": lines}


def run_command(command: list[str]) -> None:
    """Run one command; a client without a salt of its own (UCI) pseudonymises with the benchmark's
    (the reports stay in a temporary folder)."""
    env = {"CRM_WORKBOOK_SALT": BENCH_SALT, **os.environ}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def read_manifests(client_dir: Path) -> list[dict]:
    """Every published run of a client: kind (period or comparison), the manifest's seconds, cell times."""
    runs = []
    for path in sorted(client_dir.glob("*/manifest.json")):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        kind = "comparison" if path.parent.name == "comparison" else "period"
        cells = {s: cell_times(path.parent / s) for s in manifest["seconds"] if s.endswith(".ipynb")}
        runs.append({"kind": kind, "seconds": manifest["seconds"], "cells": cells})
    return runs


def cell_times(notebook: Path) -> dict:
    """Papermill's duration of every code cell of an executed notebook, and which cell holds the imports."""
    cells, import_cell = {}, None
    for index, cell in enumerate(json.loads(notebook.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        tags = cell["metadata"].get("tags", [])
        duration = (cell["metadata"].get("papermill") or {}).get("duration") or 0.0
        lines = [line.strip() for line in source.splitlines() if line.strip()]
        first = next((line for line in lines if not line.startswith("#")), lines[0] if lines else "")
        cells[index] = (duration, first)
        is_parameters = {"parameters", "injected-parameters"} & set(tags)
        if import_cell is None and not is_parameters and re.search(r"^(import|from) ", source, re.MULTILINE):
            import_cell = index
    return {"cells": cells, "import_cell": import_cell, "sum": sum(d for d, _ in cells.values())}


def makespan(runs: list[dict], jobs: int) -> float:
    """Time the jobs of one command took end to end (approximate when periods outnumber workers)."""
    periods = [r["seconds"]["total"] for r in runs if r["kind"] == "period"]
    comparison = sum(r["seconds"]["total"] for r in runs if r["kind"] == "comparison")
    if not periods:
        return comparison
    parallel = max(periods) if len(periods) <= jobs else sum(periods) / jobs
    return parallel + comparison


def period_concurrency(scenario: Scenario, variant: Variant, runs: list[dict]) -> int:
    periods_per_command = sum(r["kind"] == "period" for r in runs) / max(len(scenario.clients), 1)
    return 2 if variant.jobs >= 2 and periods_per_command >= 2 else 1


# --------------------------------------------------------------------------- fixed cost (children)


def notebook_imports(notebook: Path) -> str:
    """The top-level import statements of a notebook's code cells, as one block of source."""
    import nbformat

    statements = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        statements += [ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return "\n".join(dict.fromkeys(statements))


IMPORT_PROBE_START = "import time as _bench_time\n_bench_t0 = _bench_time.perf_counter()"
IMPORT_PROBE_END = """\
_bench_t1 = _bench_time.perf_counter()
import sys as _bench_sys
if "ibis" in _bench_sys.modules:
    _bench_sys.modules["ibis"].duckdb  # loads the DuckDB backend, as the first connection does
print(_bench_t1 - _bench_t0, _bench_time.perf_counter() - _bench_t1)"""


def child_fixed(kernel: str, repeat: int, notebook_names: list[str]) -> dict:
    """As in a runner worker: kernel start/stop of an empty notebook, then each notebook's imports."""
    import nbformat
    import papermill as pm
    from nbformat.v4 import new_code_cell, new_notebook

    from analysis_utils import execution, kernels

    shutdowns: list[float] = []

    class TimedKernelManager(execution.IPCKernelManager):
        async def shutdown_kernel(self, *args, **kwargs):
            started = time.perf_counter()
            await super().shutdown_kernel(*args, **kwargs)
            shutdowns.append(time.perf_counter() - started)

    spec = {"name": kernel, "display_name": kernel, "language": "python"}
    folder = Path(tempfile.mkdtemp(prefix="bench-job-"))

    def notebook(name: str, cells: list[str]) -> Path:
        path = folder / f"{name}.ipynb"
        nbformat.write(
            new_notebook(cells=[new_code_cell(c) for c in cells], metadata={"kernelspec": spec}), path
        )
        return path

    def execute(path: Path, **engine_kwargs) -> tuple[float, float, nbformat.NotebookNode]:
        before = len(shutdowns)
        started = time.perf_counter()
        executed = pm.execute_notebook(
            str(path),
            str(folder / f"out-{path.name}"),
            parameters={},
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            kernel_manager_class=TimedKernelManager,
            **engine_kwargs,
        )
        return time.perf_counter() - started, sum(shutdowns[before:]), executed

    empty = notebook("empty", ["pass"])
    probes = {
        name: notebook(name, [IMPORT_PROBE_START, notebook_imports(NOTEBOOKS / name), IMPORT_PROBE_END])
        for name in notebook_names
    }
    first, _, _ = execute(empty)
    kernel_s, shutdown_s, immediate_s = [], [], []
    imports: dict[str, list[float]] = {name: [] for name in notebook_names}
    backend: dict[str, list[float]] = {name: [] for name in notebook_names}
    inspect_s: dict[str, list[float]] = {name: [] for name in notebook_names}
    for _ in range(repeat):
        total, shutdown, _ = execute(empty)
        kernel_s.append(total)
        shutdown_s.append(shutdown)
        immediate_s.append(execute(empty, shutdown_kernel="immediate")[0])
        for name, path in probes.items():
            started = time.perf_counter()
            pm.inspect_notebook(str(NOTEBOOKS / name))  # the runner does this before each notebook
            inspect_s[name].append(time.perf_counter() - started)
            _, _, executed = execute(path)
            statements_s, backend_s = map(float, executed.cells[-1].outputs[0]["text"].split())
            imports[name].append(statements_s + backend_s)
            backend[name].append(backend_s)
    shutil.rmtree(folder, ignore_errors=True)
    warm_start, warm_restore = [], []
    for _ in range(repeat):
        warm = kernels.WarmKernel(kernel, execution.IPCKernelManager)
        started = time.perf_counter()
        warm.manager()  # start, warm-up imports
        warm_start.append(time.perf_counter() - started)
        started = time.perf_counter()
        warm.manager()  # restore the recorded state, as before every later notebook
        warm_restore.append(time.perf_counter() - started)
        warm.discard()
    med = statistics.median
    return {
        "warm_start": med(warm_start),
        "warm_restore": med(warm_restore),
        "first_call": first,
        "kernel": med(kernel_s),
        "shutdown": med(shutdown_s),
        "kernel_immediate": med(immediate_s),
        "imports": {name: med(v) for name, v in imports.items()},
        "backend": {name: med(v) for name, v in backend.items()},
        "inspect": {name: med(v) for name, v in inspect_s.items()},
    }


IMPORT_GROUPS = (  # imported in this order; each group's seconds exclude what earlier groups loaded
    ("numpy", "import numpy"),
    ("pandas", "import pandas"),
    ("pyarrow (+ parquet)", "import pyarrow, pyarrow.parquet"),
    ("duckdb", "import duckdb"),
    ("ibis", "import ibis"),
    ("ibis DuckDB backend (first ibis.duckdb)", "import ibis; ibis.duckdb"),
    ("matplotlib.pyplot", "import matplotlib.pyplot"),
    ("scipy.stats (seaborn imports it)", "import scipy.stats"),
    ("seaborn (the rest)", "import seaborn"),
    (
        "scikit-learn (modules the project uses)",
        "import sklearn.cluster, sklearn.decomposition, sklearn.metrics, sklearn.pipeline; "
        "import sklearn.preprocessing",
    ),
    ("analysis_utils (the notebooks' modules)", None),  # filled from the notebooks
)


def child_import_groups(notebook_names: list[str]) -> dict:
    """Seconds of each library group, imported in turn after what a kernel has already loaded."""
    import ipykernel.ipkernel  # noqa: F401  (a kernel holds it before the first cell: not counted)

    own = "\n".join(notebook_imports(NOTEBOOKS / name) for name in notebook_names)
    seconds = {}
    for label, source in IMPORT_GROUPS:
        started = time.perf_counter()
        exec(source or own, {})  # noqa: S102  (our own import statements)
        seconds[label] = time.perf_counter() - started
    return seconds


def child_papermill_import(blocked: bool) -> dict:
    """Seconds to import nbformat, then the rest of papermill, in this fresh interpreter; with
    ``blocked``, after ``analysis_utils`` (whose import blocks ``rfc3987_syntax``)."""
    if blocked:
        import analysis_utils  # noqa: F401
    started = time.perf_counter()
    import nbformat  # noqa: F401

    middle = time.perf_counter()
    import papermill  # noqa: F401

    return {"nbformat": middle - started, "papermill": time.perf_counter() - middle}


def measure_papermill_import(repeat: int) -> dict[str, dict]:
    """Median import seconds of nbformat and papermill, without and with the block."""
    check_idle("papermill import")
    measured = {}
    for mode in ("plain", "blocked"):
        runs = [run_children(["papermill-import", mode], 1, capped=False)[0] for _ in range(repeat)]
        measured[mode] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return measured


def child_startup(client: str) -> dict:
    """What `crm-workbook run` does before its first job: imports, parameters, the data-file check."""
    started = time.perf_counter()
    from analysis_utils import io, runner
    from analysis_utils.loader import load_params

    imported = time.perf_counter()
    params = load_params(client)
    runner.plan(params, [], Path(tempfile.gettempdir()), [])
    io.read_transactions(params)  # file present, readable, every mapped column there
    return {"imports": imported - started, "check": time.perf_counter() - imported}


def measure_startup(clients: dict[str, Path], repeat: int) -> dict[str, dict]:
    """Per scenario (its first client file): the command's start-up, median of fresh processes."""
    startup = {}
    for name, client in clients.items():
        check_idle(f"start-up, {name}")
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = run_children(["startup", str(client)], 1, capped=False)[0]
            runs.append({**result, "process": time.perf_counter() - started})
        startup[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return startup


def run_children(args: list[str], count: int, capped: bool) -> list[dict]:
    """``count`` copies of this script's child mode at once; the JSON each prints last (a client
    without a salt of its own gets the benchmark's, as in :func:`run_command`)."""
    env = {"CRM_WORKBOOK_SALT": BENCH_SALT, **os.environ}
    if capped:
        env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    command = [sys.executable, __file__, "--child", *args]
    results = []
    with contextlib.ExitStack() as stack:
        started = []
        for _ in range(count):
            errors = stack.enter_context(tempfile.TemporaryFile("w+"))  # a file: never fills a pipe
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
            started.append((proc, errors))
        for proc, errors in started:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                errors.seek(0)
                raise RuntimeError(
                    f"child {' '.join(args)} failed ({proc.returncode}):\n{errors.read()[-3000:]}"
                )
            results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def measure_fixed(kernel: str, repeat: int, notebook_names: list[str]) -> dict[int, dict]:
    """The fixed cost alone (1) and with two processes at once (2), averaged over the processes."""
    fixed = {}
    for count in (1, 2):
        check_idle(f"fixed cost, {count} at once")
        results = run_children(["fixed", kernel, str(repeat), *notebook_names], count, capped=count > 1)
        mean = statistics.fmean
        fixed[count] = {
            key: (
                {name: mean(r[key][name] for r in results) for name in notebook_names}
                if isinstance(results[0][key], dict)
                else mean(r[key] for r in results)
            )
            for key in results[0]
        }
        print(f"  fixed cost, {count} at once: kernel {fixed[count]['kernel']:.2f} s", flush=True)
    return fixed


def measure_import_groups(repeat: int, notebook_names: list[str]) -> dict[str, float]:
    check_idle("import groups")
    runs = [run_children(["import-groups", *notebook_names], 1, capped=False)[0] for _ in range(repeat)]
    return {label: statistics.median(r[label] for r in runs) for label in runs[0]}


# --------------------------------------------------------------------------- tables


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*names: str) -> list[str]:
    return [row(*names), row(*["---"] * len(names))]


TARGET_VARIANT = Variant(warm=True, jobs=2)  # the targets are for the default path


def scenario_table(scenarios: list[Scenario], results: dict[str, dict[Variant, dict]]) -> str:
    rows = header(
        "scenario", "kernels, --jobs", "what", "commands", "client-periods", "data lines", "seconds",
        "of which outside the jobs (approx.)", "target", "result",
    )  # fmt: skip
    for scenario in scenarios:
        for variant, result in results[scenario.name].items():
            wall = result["wall"]
            periods = sum(r["kind"] == "period" for r in result["runs"])
            if scenario.target_s is None:
                target, verdict = "-", "quick run: not compared"
            elif variant != TARGET_VARIANT:
                target, verdict = "-", "-"
            else:
                target = f"<= {scenario.target_s:.0f} s"
                verdict = f"**{'met' if wall <= scenario.target_s else 'missed'}** ({wall:.1f} s)"
            lines, outside = f"{result['lines']:,}", f"{result['outside']:.1f}"
            cells = (len(scenario.clients), periods, lines, f"{wall:.1f}", outside, target, verdict)
            rows.append(row(scenario.name, variant.label, scenario.what, *cells))
    return "\n".join(rows)


def job_steps(run: dict) -> dict[str, float]:
    """A run's seconds per step (notebooks, render, pdf), the rest of its job, and its total."""
    steps = {step: seconds for step, seconds in run["seconds"].items() if step != "total"}
    rest = run["seconds"]["total"] - sum(steps.values())
    return {
        **steps,
        "rest (parameters, exports, manifest, run index)": rest,
        "total": run["seconds"]["total"],
    }


def kernels_table(scenarios: list[Scenario], results: dict[str, dict[Variant, dict]]) -> str:
    """Per step of a job, mean seconds with fresh and with warm kernels, at each --jobs of both."""
    rows = header(
        "scenario", "--jobs", "job", "step", "fresh kernels s", "warm kernels s", "saved s",
        "warm: outside the cells s",
    )  # fmt: skip
    for scenario in scenarios:
        measured = results[scenario.name]
        for jobs in sorted({v.jobs for v in measured}, reverse=True):
            fresh, warm = measured.get(Variant(False, jobs)), measured.get(Variant(True, jobs))
            if fresh is None or warm is None:
                continue
            for kind in ("period", "comparison"):
                fresh_runs = [job_steps(r) for r in fresh["runs"] if r["kind"] == kind]
                warm_all = [r for r in warm["runs"] if r["kind"] == kind]
                warm_runs = [job_steps(r) for r in warm_all]
                for step in fresh_runs[0] if fresh_runs and warm_runs else []:
                    before = statistics.fmean(r[step] for r in fresh_runs)
                    after = statistics.fmean(r.get(step, 0.0) for r in warm_runs)
                    outside = "-"
                    if step.endswith(".ipynb"):
                        gaps = [r["seconds"][step] - r["cells"][step]["sum"] for r in warm_all]
                        outside = f"{statistics.fmean(gaps):.2f}"
                    name = f"**whole {kind} job**" if step == "total" else step
                    cells = (f"{before:.2f}", f"{after:.2f}", f"{before - after:.2f}", outside)
                    rows.append(row(scenario.name, jobs, f"{kind} ({len(warm_runs)})", name, *cells))
    return "\n".join(rows)


def breakdown_rows(scenario: Scenario, variant: Variant, result: dict, fixed: dict[int, dict]) -> list[str]:
    """Per notebook: mean seconds, the fixed cost at the run's concurrency, and papermill's cell times."""
    rows = []
    for kind in ("period", "comparison"):
        runs = [r for r in result["runs"] if r["kind"] == kind]
        if not runs:
            continue
        concurrency = period_concurrency(scenario, variant, result["runs"]) if kind == "period" else 1
        cost, at_once = fixed[concurrency], "2 at once" if concurrency == 2 else "alone"
        job = {"kernel": 0.0, "imports": 0.0, "outside": 0.0, "import_cell": 0.0}
        for step in (s for s in runs[0]["seconds"] if s != "total"):
            seconds = statistics.fmean(r["seconds"][step] for r in runs)
            if step.endswith(".ipynb"):
                kernel, imports = cost["kernel"], cost["imports"].get(step, float("nan"))
                outside = statistics.fmean(r["seconds"][step] - r["cells"][step]["sum"] for r in runs)
                import_cell = statistics.fmean(import_cell_seconds(r["cells"][step]) for r in runs)
                for key, value in zip(job, (kernel, imports, outside, import_cell), strict=True):
                    job[key] += value
                work = seconds - kernel - imports
                cells = (f"{seconds:.2f}", f"{kernel:.2f}", f"{imports:.2f}", f"{work:.2f}", at_once)
                rows.append(
                    row(scenario.name, step, len(runs), *cells, f"{outside:.2f}", f"{import_cell:.2f}")
                )
            else:
                cells = (f"{seconds:.2f}", "-", "-", f"{seconds:.2f}", "-", "-", "-")
                rows.append(row(scenario.name, f"{step} ({kind})", len(runs), *cells))
        total = statistics.fmean(r["seconds"]["total"] for r in runs)
        fixed_share = (job["kernel"] + job["imports"]) / total if total else 0.0
        label = f"**whole {kind} job** ({fixed_share:.0%} fixed)"
        work = total - job["kernel"] - job["imports"]
        cells = (f"{total:.2f}", f"{job['kernel']:.2f}", f"{job['imports']:.2f}", f"{work:.2f}", at_once)
        rows.append(
            row(scenario.name, label, len(runs), *cells, f"{job['outside']:.2f}", f"{job['import_cell']:.2f}")
        )
    return rows


def import_cell_seconds(times: dict) -> float:
    return times["cells"][times["import_cell"]][0] if times["import_cell"] is not None else 0.0


def breakdown_table(scenarios: list[Scenario], results: dict[str, dict], fixed: dict[int, dict]) -> str:
    """The fresh-kernel runs' notebooks against the fixed cost a fresh kernel pays."""
    rows = header(
        "scenario", "notebook", "runs", "seconds (mean)", "of which kernel start/stop", "imports", "work",
        "fixed cost measured", "in the run: outside the cells", "in the run: the imports cell",
    )  # fmt: skip
    for scenario in scenarios:
        for variant, result in results[scenario.name].items():
            if not variant.warm:
                rows += breakdown_rows(scenario, variant, result, fixed)
    return "\n".join(rows)


def slowest_cells_table(scenarios: list[Scenario], results: dict[str, dict], top: int = 5) -> str:
    """Per scenario, the cells that take longest on average (the imports cell left out), in the
    runs of the issue's path (warm kernels, --jobs 2) or else the first variant run."""
    rows = header("scenario", "notebook", "cell", "starts with", "seconds (mean)")
    for scenario in scenarios:
        durations: dict[tuple[str, int], list[float]] = {}
        first_lines: dict[tuple[str, int], str] = {}
        measured = results[scenario.name]
        for run in measured.get(TARGET_VARIANT, next(iter(measured.values())))["runs"]:
            for notebook, times in run["cells"].items():
                for index, (seconds, first) in times["cells"].items():
                    if index != times["import_cell"]:
                        durations.setdefault((notebook, index), []).append(seconds)
                        first_lines[(notebook, index)] = first
        means = sorted(((statistics.fmean(v), k) for k, v in durations.items()), reverse=True)[:top]
        for seconds, (notebook, index) in means:
            code = first_lines[(notebook, index)][:60].replace("|", "\\|").replace("`", "'")
            rows.append(row(scenario.name, notebook, index, f"`{code}`", f"{seconds:.2f}"))
    return "\n".join(rows)


def fixed_table(fixed: dict[int, dict], notebook_names: list[str]) -> str:
    one, two = fixed[1], fixed[2]

    def both(key: str, digits: int = 2) -> tuple[str, str]:
        return f"{one[key]:.{digits}f}", f"{two[key]:.{digits}f}"

    rows = header("one notebook's fixed cost", "alone", "2 at once")
    rows += [
        row("kernel start + stop: empty notebook through papermill and `IPCKernelManager`", *both("kernel")),
        row("of which the graceful shutdown", *both("shutdown")),
        row(
            'the same with `shutdown_kernel="immediate"` (not what the runner does)',
            *both("kernel_immediate"),
        ),
        row("first papermill call in a fresh process (once per worker)", *both("first_call")),
        row("warm kernel: start and warm-up imports (once per worker)", *both("warm_start")),
        row("warm kernel: restoring its state before a later notebook", *both("warm_restore", 3)),
    ]
    for name in notebook_names:
        rows.append(
            row(
                f"imports of {name} (of which Ibis' DuckDB backend)",
                f"{one['imports'][name]:.2f} ({one['backend'][name]:.2f})",
                f"{two['imports'][name]:.2f} ({two['backend'][name]:.2f})",
            )
        )
    inspect = [statistics.fmean(f["inspect"].values()) for f in (one, two)]
    rows.append(row("`pm.inspect_notebook` before each notebook (mean)", *(f"{x:.3f}" for x in inspect)))
    return "\n".join(rows)


def papermill_import_table(measured: dict[str, dict]) -> str:
    rows = header("fresh interpreter", "import nbformat s", "then import papermill s", "total s")
    labels = {"plain": "plain", "blocked": "after `import analysis_utils` (rfc3987_syntax blocked)"}
    for mode, t in measured.items():
        total = t["nbformat"] + t["papermill"]
        rows.append(row(labels[mode], f"{t['nbformat']:.2f}", f"{t['papermill']:.2f}", f"{total:.2f}"))
    return "\n".join(rows)


def startup_table(startup: dict[str, dict]) -> str:
    rows = header(
        "scenario's client file", "whole process", "of which imports", "parameters + data-file check"
    )
    for name, t in startup.items():
        rows.append(row(name, f"{t['process']:.2f}", f"{t['imports']:.2f}", f"{t['check']:.2f}"))
    return "\n".join(rows)


def groups_table(groups: dict[str, float]) -> str:
    rows = [
        "| imported in this order, fresh interpreter holding a kernel's modules | seconds |",
        "| --- | --- |",
    ]
    rows += [f"| {label} | {seconds:.2f} |" for label, seconds in groups.items()]
    rows.append(f"| **all of them** | {sum(groups.values()):.2f} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios", nargs="+", default=["sample", "rerun", "uci", "million", "clients", "monthly"]
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repeats of each fixed-cost measurement; median"
    )
    parser.add_argument(
        "--kernels", nargs="+", choices=["warm", "fresh"], default=["warm", "fresh"], help="paths to compare"
    )
    parser.add_argument("--jobs", nargs="+", type=int, default=[2, 1], help="--jobs values to compare")
    parser.add_argument("--quick", action="store_true", help="tiny data and one repeat: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the reports (their folder is printed)")
    parser.add_argument(
        "--write", action="store_true", help="fill the bench_job section of docs/benchmarks.md"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        if mode == "fixed":
            print(json.dumps(child_fixed(rest[0], int(rest[1]), rest[2:])))
        elif mode == "startup":
            print(json.dumps(child_startup(rest[0])))
        elif mode == "papermill-import":
            print(json.dumps(child_papermill_import(rest[0] == "blocked")))
        else:
            print(json.dumps(child_import_groups(rest)))
        return 0
    from analysis_utils import runner
    from analysis_utils.loader import load_params

    repeat = 1 if args.quick else args.repeat
    notebook_names = [*runner.STAGE_NOTEBOOKS, runner.COMPARISON_NOTEBOOK]
    kernel = load_params(SAMPLE_CLIENT).get("run.kernel")
    print("preparing data and client files", flush=True)
    scenarios = build_scenarios(args.scenarios, args.quick)
    out_root = Path(tempfile.mkdtemp(prefix="bench-job-reports-"))
    variants = [Variant(kind == "warm", jobs) for jobs in args.jobs for kind in args.kernels]
    results: dict[str, dict[Variant, dict]] = {}
    for scenario in scenarios:
        print(f"scenario {scenario.name}: {scenario.what}", flush=True)
        results[scenario.name] = {
            variant: run_scenario(
                scenario, variant, out_root / scenario.name / f"{variant.warm}-{variant.jobs}"
            )
            for variant in variants
        }
    print("fixed cost of a notebook", flush=True)
    fixed = measure_fixed(kernel, repeat, notebook_names)
    groups = measure_import_groups(repeat, notebook_names)
    papermill_import = measure_papermill_import(repeat)
    startup = measure_startup({s.name: s.clients[0] for s in scenarios}, repeat)
    if args.keep:
        print(f"reports kept in {out_root}")
    else:
        shutil.rmtree(out_root, ignore_errors=True)
    busy = max(BUSY, default=0.0)
    parts = [
        scenario_table(scenarios, results),
        "Warm against fresh kernels, per step of a job (mean seconds over the runs of that kind; "
        "a warm kernel's start and warm-up imports fall in the first notebook of each worker):",
        kernels_table(scenarios, results),
        "Fresh kernels, per notebook against the fixed cost each pays (seconds; measured as stated):",
        breakdown_table(scenarios, results, fixed),
        "The slowest cells (papermill's cell durations in those runs; the imports cell left out):",
        slowest_cells_table(scenarios, results),
        "The fixed cost of one notebook (seconds, median of "
        f"{repeat} after a first call; two at once: mean of the two processes):",
        fixed_table(fixed, notebook_names),
        f"Before the first job, each command (fresh process, alone; seconds, median of {repeat}):",
        startup_table(startup),
        f"Which imports cost most (seconds, median of {repeat} fresh interpreters):",
        groups_table(groups),
        f"Papermill's import chain (seconds, median of {repeat} fresh interpreters):",
        papermill_import_table(papermill_import),
        f"CPU busy in the 0.5 s before each measurement: at most {busy:.0%}"
        + (" (quick run)." if args.quick else "."),
    ]
    markdown = "\n\n".join(parts)
    print("\n" + markdown)
    if args.write:
        write_table("bench_job", markdown, heading=SECTION_TITLE, intro=SECTION_INTRO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
