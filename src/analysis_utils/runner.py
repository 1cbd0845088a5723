"""Papermill orchestration: every stage notebook, for each client x period, published atomically.

A run is built in a hidden staging folder beside its target (``reports/<client>/.<period>.partial-*``)
and moved to ``reports/<client>/<period>/`` only when every notebook succeeded and every HTML
is rendered. A failed run leaves the earlier report untouched and keeps its partial folder under
``reports/<client>/.failed/`` for inspection. A run that was killed (SIGINT, SIGKILL) cannot
do so itself: the next run of the client moves its staging folder there (:func:`tidy_dead_runs`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import multiprocessing
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis_utils import (
    engine,
    execution,
    exports,
    io,
    manifest,
    paths,
    pdf,
    privacy,
    report,
    sources,
    stages,
)
from analysis_utils.config import RunParams, dump_params
from analysis_utils.errors import ConfigError, CrmError, write_error
from analysis_utils.loader import load_params

STAGE_NOTEBOOKS = tuple(stage.notebook for stage in stages.of_kind(stages.PERIOD))
(COMPARISON_NOTEBOOK,) = (stage.notebook for stage in stages.of_kind(stages.COMPARISON))
COMPARISON = stages.COMPARISON  # the job's "period" and its folder name
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PARTIAL_MARK = ".partial-"  # staging folders: .<period>.partial-<id>
PID_FILE = ".pid"  # in a staging folder: the id of the process building it
LOCK_FILE = ".lock"  # in a client folder: held while a run is published or the client index written
STAGING_GRACE_SECONDS = 600.0  # a staging folder without pid file younger than this may be starting


@dataclass(frozen=True)
class Job:
    """One client x period to run: everything a worker process needs, as plain values.

    ``force``: execute every stage, even one a published run of the same period could lend;
    ``warm_kernels``: ``run.warm_kernels`` (see :mod:`analysis_utils.kernels`); ``publish``: false
    for the run of a period only other periods' stages read from (never published, see run_jobs).
    """

    client_file: str
    client: str
    period: str
    out_dir: str
    overrides: tuple[str, ...] = ()
    kernel: str = "python3"
    timeout: int = 900
    show_progress: bool = True
    notebooks: tuple[str, ...] = STAGE_NOTEBOOKS
    force: bool = False
    warm_kernels: bool = True
    publish: bool = True

    @property
    def label(self) -> str:
        return f"{self.client}/{self.period}"


@dataclass
class Outcome:
    """How one job ended: ``ok`` with the published folder, or ``failed`` with a one-line error."""

    label: str
    status: str
    seconds: float
    path: str
    error: str = ""
    notebook_seconds: dict[str, float] = field(default_factory=dict)


def plan(
    params: RunParams,
    period_names: Sequence[str],
    out_dir: Path,
    overrides: Sequence[str],
    force: bool = False,
) -> list[Job]:
    """Jobs for the chosen periods (all declared periods when none are named); ``force``: execute
    every stage instead of reusing those a published run computed with the same key."""
    names = list(period_names) or [p.name for p in params.periods]
    for name in names:
        params.period(name)  # ConfigError naming the declared periods when unknown
    privacy.salt_from(params.values)  # the client report pseudonymises ids: fail before any notebook
    for folder in (*names, COMPARISON):
        check_target(out_dir, params.client, folder)
    return [
        Job(
            client_file=str(params.source),
            client=params.client,
            period=name,
            out_dir=str(out_dir),
            overrides=tuple(overrides),
            kernel=params.get("run.kernel"),
            timeout=int(params.get("run.execution_timeout")),
            force=force,
            warm_kernels=bool(params.get("run.warm_kernels")),
        )
        for name in names
    ]


def preflight(
    params: RunParams,
    period_names: Sequence[str],
    out_dir: Path,
    overrides: Sequence[str],
    force: bool = False,
) -> list[Job]:
    """The jobs of a run (:func:`plan`), once everything a run can check before its first notebook holds.

    Checks, in order, each failure a CrmError naming what is wrong: the periods and the run folders'
    names (:func:`plan`), the pseudonym salt, ``out_dir`` writable, a browser when ``report.pdf`` asks
    for a PDF, the data file and every optional source readable with every mapped column. The
    connection opened for the last two is closed again, so that on Spark the command does not hold
    an application (and its executors' cores) while the kernels run the stages.
    """
    jobs = plan(params, period_names, out_dir, overrides, force)
    check_writable(out_dir)
    if params.get("report.pdf"):  # say now, not after the notebooks, that no browser can print
        pdf.find_browser()
    con = engine.connect(params.get("engine"))
    try:
        io.read_transactions(params, con)  # file present, readable, every mapped column there
        sources.check_sources(params, con)  # and so is every optional source
    finally:
        con.disconnect()
    return jobs


def check_target(out_dir: Path, client: str, period: str) -> Path:
    """``out_dir/client/period``, after checking that it is a folder the run may write and replace.

    Client and period names follow one rule (:func:`paths.folder_name_problem`; the comparison folder
    is the one reserved name a job may use), and the resolved target must lie inside ``out_dir``:
    publishing replaces the target, so a name such as ``..`` would delete a folder elsewhere.
    Raises ConfigError (exit 2) otherwise.
    """
    for what, name in (("client", client), ("period", period)):
        problem = None if what == "period" and name == COMPARISON else paths.folder_name_problem(name)
        if problem:
            raise ConfigError(f"{what} folder name {name!r} {problem}")
    target = Path(out_dir) / client / period
    if not paths.inside(target, Path(out_dir) / client) or not paths.inside(target, out_dir):
        raise ConfigError(
            f"{client}/{period}: the run folder {target.resolve()} is not inside --out {out_dir}"
        )
    return target


def check_writable(out_dir: Path) -> None:
    """ConfigError (exit 2) unless ``out_dir`` can be created and written to."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise ConfigError(
            f"--out {out_dir}: cannot write there ({err.strerror or type(err).__name__})"
        ) from None


def comparison_job(period_jobs: Sequence[Job]) -> Job:
    """The job comparing a client's periods, run after its period jobs, into ``<client>/comparison``."""
    first = period_jobs[0]
    return dataclasses.replace(first, period=COMPARISON, notebooks=(COMPARISON_NOTEBOOK,))


def run_jobs(jobs: Sequence[Job], n_jobs: int = 1) -> list[Outcome]:
    """Run the stages of every job as one graph, in this process (``n_jobs`` = 1) or in ``n_jobs``
    spawned worker processes whose kernels stay warm (:mod:`analysis_utils.kernels`).

    A stage starts as soon as the stages whose artifacts it reads are done: those of its own period
    and those of the period it is compared with (:func:`stages.other_reads`), which are hard-linked
    into ``periods/<name>/`` of the reading run, so each artifact is computed once per run. A
    previous period that is not among ``jobs`` runs only the stages read from it
    (:data:`stages.LENT`), reusing those of its published run where the keys agree, and is not
    published. Once every period of a client is published, its comparison runs. Outcomes come back
    in the order of ``jobs`` (comparisons last); the client index page is rebuilt at the end.
    """
    for client_dir in sorted({Path(job.out_dir) / job.client for job in jobs}):
        tidy_dead_runs(client_dir)  # what killed runs left, before any job starts its own staging
    with contextlib.ExitStack() as stack:
        executor: Executor = _InlineExecutor()
        if n_jobs > 1:
            context = multiprocessing.get_context("spawn")  # fork + zmq kernels is unsafe
            threads = max(1, (os.cpu_count() or 1) // n_jobs)
            executor = stack.enter_context(
                ProcessPoolExecutor(
                    max_workers=n_jobs, mp_context=context, initializer=_share_cores, initargs=(threads,)
                )
            )
        outcomes = _Scheduler(executor).run(jobs)
    for client_dir in sorted({Path(job.out_dir) / job.client for job in jobs}):
        started = time.perf_counter()
        error = write_index(client_dir)
        if error:  # a failed index is a failed outcome: the summary and an error line say so
            seconds = time.perf_counter() - started
            outcomes.append(Outcome(f"{client_dir.name}/index", "failed", seconds, str(client_dir), error))
    return outcomes


class _InlineExecutor(Executor):
    """Runs each submitted call at once, in this process (``--jobs 1``)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future


@dataclass(eq=False)
class _PeriodRun:
    """One job in flight: its staging folder, the stages still to start, running and done."""

    job: Job
    params: RunParams
    staging: Path
    todo: list[stages.Stage]
    published_stages: dict[str, Any]  # the published run's manifest records (none with force)
    started: float = field(default_factory=time.time)
    running: set[str] = field(default_factory=set)
    done: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # stage -> key, status
    timings: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[_PeriodRun, set[str]]] = field(default_factory=dict)  # period -> run, files
    error: str = ""
    finishing: bool = False
    outcome: Outcome | None = None

    @property
    def settled(self) -> bool:
        """Finished: published or failed (a lent run: its stages done, or failed)."""
        return self.outcome is not None or (not self.job.publish and not self.error and not self.busy)

    @property
    def busy(self) -> bool:
        return bool(self.todo or self.running or self.finishing)


class _Scheduler:
    """Starts each stage of each run when what it reads is there, on ``executor``; see run_jobs."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.runs: list[_PeriodRun] = []
        self.futures: dict[Future, tuple[_PeriodRun, stages.Stage | None, str | None, str]] = {}
        self.params: dict[tuple[str, tuple[str, ...]], RunParams] = {}
        self.compared: set[str] = set()

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        requested = [self._open(job) for job in jobs]
        for run in requested:
            self._find_sources(run)
        while True:
            self._start_comparisons(requested)
            self._start_ready()
            if not self.futures:
                break
            finished, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
            for future in finished:
                self._complete(future)
        for run in self.runs:
            if not run.settled:  # cannot happen with a valid graph; say so rather than hang
                self._fail(run, "its stages could not be scheduled")
            if not run.job.publish and not run.error:
                shutil.rmtree(run.staging, ignore_errors=True)
        comparisons = [run for run in self.runs if run.job.period == COMPARISON]
        return [run.outcome for run in (*requested, *comparisons) if run.outcome is not None]

    def _open(self, job: Job) -> _PeriodRun:
        """A run of ``job``: its staging folder with the resolved parameters, its stages to start."""
        cache_key = (job.client_file, job.overrides)
        if cache_key not in self.params:
            self.params[cache_key] = load_params(job.client_file, job.overrides)
        params = self.params[cache_key]
        published = Path(job.out_dir) / job.client / job.period
        records = {} if job.force else manifest.entry(published, "stages")
        todo = [stages.by_notebook(notebook) for notebook in job.notebooks]
        staging = start_staging(Path(job.out_dir) / job.client, job.period)
        run = _PeriodRun(job, params, staging, todo, records)
        self.runs.append(run)
        try:
            (staging / "params.yaml").write_text(dump_params(params), encoding="utf-8")
        except OSError as err:  # full disk: the system does not name the file
            self._fail(run, _describe_failure(write_error(err, staging / "params.yaml"), staging))
        return run

    def _find_sources(self, run: _PeriodRun) -> None:
        """The runs whose artifacts ``run``'s stages read (stages.other_reads): another requested
        run of the period, or a lent run started for it."""
        for stage in run.todo:
            for period, names in stages.other_reads(stage, run.params, run.job.period).items():
                source = next(
                    (
                        other
                        for other in self.runs
                        if other.job.period == period
                        and (other.job.client_file, other.job.overrides, other.job.out_dir)
                        == (run.job.client_file, run.job.overrides, run.job.out_dir)
                    ),
                    None,
                )
                if source is None:
                    lent = dataclasses.replace(
                        run.job,
                        period=period,
                        notebooks=tuple(stage.notebook for stage in stages.LENT),
                        publish=False,
                    )
                    source = self._open(lent)
                run.sources.setdefault(period, (source, set()))[1].update(names)

    def _waits_for(self, run: _PeriodRun, stage: stages.Stage) -> list[tuple[_PeriodRun, stages.Stage]]:
        """The (run, stage) pairs whose artifacts ``stage`` of ``run`` reads."""
        waits = [(run, p) for p in stages.producers(stage, stage.reads) if p.notebook in run.job.notebooks]
        for period, names in stages.other_reads(stage, run.params, run.job.period).items():
            source = run.sources[period][0]
            waits += [
                (source, p) for p in stages.producers(stage, names) if p.notebook in source.job.notebooks
            ]
        return waits

    def _start_ready(self) -> None:
        """Start (or reuse) every stage whose inputs are done, and finish runs with no stage left;
        again until nothing changes (a reused stage may make others ready)."""
        changed = True
        while changed:
            changed = False
            for run in self.runs:
                if run.error or run.finishing or run.outcome:
                    continue
                for stage in list(run.todo):
                    waits = self._waits_for(run, stage)
                    lost = [(source, p) for source, p in waits if source.error and p.name not in source.done]
                    if lost:
                        source, producer = lost[0]
                        self._fail(
                            run, f"needs {producer.name} of {source.job.period}, which failed: {source.error}"
                        )
                        changed = True
                        break
                    if all(p.name in source.done for source, p in waits):
                        run.todo.remove(stage)
                        changed |= self._start_stage(run, stage)
                if not run.busy and not run.error and run.job.publish:
                    run.finishing = True
                    done = tuple((name, key, status) for name, (key, status) in run.done.items())
                    future = self.executor.submit(
                        _finish, run.job, run.staging, dict(run.timings), done, run.started
                    )
                    self.futures[future] = (run, None, None, "finish")

    def _start_stage(self, run: _PeriodRun, stage: stages.Stage) -> bool:
        """Reuse ``stage`` from the published run and have its pages rendered (True: what reads it may
        start now), or submit it to a worker (False)."""
        started = time.perf_counter()
        key = stages.stage_key(stage, run.params, run.job.period, run.staging)
        published = Path(run.job.out_dir) / run.job.client / run.job.period
        record = run.published_stages.get(stage.name)
        if stages.reuse(stage, key, published, record, run.staging):
            pages = report.page_names(stage.notebook)
            reused_pages = run.job.publish and stages.reuse_pages(
                record, pages, _branding(run.staging, run.job.period), published, run.staging
            )
            seconds = time.perf_counter() - started
            self._stage_done(run, stage, key, stages.REUSED, seconds, render=not reused_pages)
            return True
        self._submit(run, stage, key, "execute")
        return False

    def _submit(self, run: _PeriodRun, stage: stages.Stage, key: str | None, task: str) -> None:
        """Have a worker execute ``stage`` of ``run`` (``task`` "execute") or render its pages ("render")."""
        running = f"{stage.name} {task}"
        run.running.add(running)
        if task == "execute":
            future = self.executor.submit(_execute, run.job, stage.notebook, run.staging)
        else:
            future = self.executor.submit(_render, run.staging, stage.notebook)
        self.futures[future] = (run, stage, key, running)

    def _complete(self, future: Future) -> None:
        run, stage, key, running = self.futures.pop(future)
        if stage is None:  # the run's PDF, exports and publishing
            run.finishing = False
            try:
                run.outcome = future.result()
            except Exception as err:  # the worker itself died
                self._fail(run, _describe_failure(err, run.staging))
            return
        run.running.discard(running)
        try:
            seconds = future.result()
        except Exception as err:
            self._fail(run, _describe_failure(err, run.staging))  # keeps an earlier stage's error
            self._settle_failed(run)
            return
        if run.error:  # another stage of the run failed meanwhile
            self._settle_failed(run)
        elif running.endswith("render"):
            run.timings["render"] = round(run.timings.get("render", 0.0) + seconds, 3)
        else:
            self._stage_done(run, stage, key, stages.EXECUTED, seconds)

    def _stage_done(
        self,
        run: _PeriodRun,
        stage: stages.Stage,
        key: str | None,
        status: str,
        seconds: float,
        render: bool = True,
    ) -> None:
        """Record the stage, have its pages rendered (a published run's, unless ``render`` is false:
        its published pages were reused), and hard-link what it wrote into each run that reads it
        from ``run``."""
        run.done[stage.name] = (key, status)
        if run.job.publish and render:
            self._submit(run, stage, key, "render")
        run.timings[stage.notebook] = round(seconds, 3)
        word = "ok" if status == stages.EXECUTED else status
        _progress(run.job, f"{stage.notebook} {word} ({seconds:.1f} s)")
        for reader in self.runs:
            source, names = reader.sources.get(run.job.period, (None, set()))
            if source is not run or reader.error:
                continue
            folder = reader.staging / stages.OTHER_PERIODS / run.job.period
            folder.mkdir(parents=True, exist_ok=True)
            for name in sorted(names & set(stage.writes)):
                if (run.staging / name).is_file():  # absent: the reader's notebook says what is missing
                    stages.link_or_copy(run.staging / name, folder / name)

    def _fail(self, run: _PeriodRun, message: str) -> None:
        if run.error:
            return
        run.error = message
        run.todo.clear()
        _progress(run.job, "FAILED")
        self._settle_failed(run)

    def _settle_failed(self, run: _PeriodRun) -> None:
        """Once no stage of the failed ``run`` is running: keep its partial folder, say where."""
        if run.running or run.finishing or run.outcome:
            return
        kept, where = _keep_partial(run.staging, Path(run.job.out_dir) / run.job.client, run.job.period)
        run.error = f"{run.error}; {where}"
        message = f"{run.job.label}: {run.error}"
        run.outcome = Outcome(
            run.job.label, "failed", time.time() - run.started, str(kept), message, run.timings
        )

    def _start_comparisons(self, requested: Sequence[_PeriodRun]) -> None:
        """The comparison of each client whose requested periods (two or more) are all published."""
        by_client: dict[str, list[_PeriodRun]] = {}
        for run in requested:
            by_client.setdefault(run.job.client, []).append(run)
        for client, runs in by_client.items():
            if client in self.compared or len(runs) < 2 or not all(run.outcome for run in runs):
                continue
            self.compared.add(client)
            if all(run.outcome.status == "ok" for run in runs):
                self._open(comparison_job([run.job for run in runs]))


@contextlib.contextmanager
def client_lock(client_dir: Path) -> Iterator[None]:
    """Hold the client folder's :data:`LOCK_FILE` (an exclusive ``flock``) for the ``with`` block.

    Two runs of one client (two terminals, two schedulers) publish into the same folder: moving
    a period's folder into place, tidying and writing the client index happen under this lock, one
    process at a time, so none of them sees a folder another is moving. The lock is released when
    the process ends, however it ends.
    """
    client_dir.mkdir(parents=True, exist_ok=True)
    with open(client_dir / LOCK_FILE, "a", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_index(client_dir: Path) -> str | None:
    """Rebuild the client index under the client lock; None, or the one-line error of a failed write.

    The page is written beside its target and moved over it, so a failed write (full disk, no
    permission) leaves the earlier index in place; the half-written file is removed.
    """
    target = client_dir / "index.html"
    try:
        with client_lock(client_dir):
            try:
                report.write_client_index(client_dir)
            finally:
                client_dir.joinpath(f".{target.name}.partial").unlink(missing_ok=True)
    except OSError as err:
        return f"{client_dir.name}: {write_error(err, target)}; the earlier index is kept"
    return None


def _share_cores(threads: int) -> None:
    """Cap the native thread pools of a worker (and of the kernels it starts) to its share of cores.

    Parallel jobs that each let OpenMP and BLAS use every core oversubscribe the machine; the
    spinning threads then made K-means ten times slower than in a single job.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def _finish(
    job: Job,
    staging: Path,
    timings: dict[str, float],
    done: Sequence[tuple[str, str | None, str]],
    started: float,
) -> Outcome:
    """Print the client report as a PDF (``report.pdf``), write the customer lists, the manifest and
    the run's index page, and publish the run (its pages are rendered stage by stage). ``done``:
    (stage, key, status) of each stage; ``started``: the run's start (``time.time()``). Never
    raises: a failure becomes an Outcome whose ``error`` says what failed and where the partial run
    was kept."""
    client_dir = Path(job.out_dir) / job.client
    try:
        if job.period != COMPARISON and _wants_pdf(staging):  # report.pdf: the client report on A4
            pdf_started = time.perf_counter()
            pdf.print_pdf(staging / pdf.CLIENT_REPORT)
            timings["pdf"] = round(time.perf_counter() - pdf_started, 3)
        exports_run = None
        if job.period != COMPARISON:  # customer lists for the CRM team (raw ids: analyst index only)
            exports_started = time.perf_counter()
            exports_run = _exports(job, staging)
            timings["exports"] = round(time.perf_counter() - exports_started, 3)
        (staging / PID_FILE).unlink(missing_ok=True)  # not part of the run (tidying spares a young folder)
        by_name = {stage.name: stage for stage in stages.STAGES}
        branding = _branding(staging, job.period)
        stage_runs = {
            name: stages.record(
                by_name[name], key, status, staging, report.page_names(by_name[name].notebook), branding
            )
            for name, key, status in done
        }
        manifest.write(staging, job, timings, time.time() - started, stage_runs, exports_run)
        report.write_run_index(staging)
        final = client_dir / job.period
        _publish(staging, final)
    except Exception as err:  # any failure: keep the partial run, report one line
        kept, where = _keep_partial(staging, client_dir, job.period)
        message = f"{job.label}: {_describe_failure(err, staging)}; {where}"
        _progress(job, "FAILED")
        return Outcome(job.label, "failed", time.time() - started, str(kept), message, timings)
    _progress(job, f"published ({time.time() - started:.1f} s)")
    return Outcome(job.label, "ok", time.time() - started, str(final / "index.html"), "", timings)


def _exports(job: Job, staging: Path) -> dict[str, str]:
    """Write the period's customer lists (exports.write_exports) into ``staging``, or hard-link the
    published run's when its manifest recorded the same exports key (stages.exports_key) and each
    of its files is there with the recorded SHA-256 (never with ``--force``); the manifest's
    ``exports_run`` record: the key and whether the lists were executed or reused."""
    key = stages.exports_key(exports.run_params(staging), job.period, staging)
    published = Path(job.out_dir) / job.client / job.period
    recorded = {} if job.force else manifest.entry(published, "exports_run")
    files = {f"{exports.FOLDER}/{name}": sha for name, sha in manifest.entry(published, "exports").items()}
    if recorded.get("key") == key and files and stages.copy_verified(files, published, staging):
        return {"key": key, "status": stages.REUSED}
    exports.write_exports(staging, job.period)
    return {"key": key, "status": stages.EXECUTED}


def start_staging(client_dir: Path, period: str) -> Path:
    """A new hidden staging folder ``.<period>.partial-<id>`` holding :data:`PID_FILE`, the id of the
    process building it, so that a later run can tell a live run from one that was killed."""
    staging = client_dir / f".{period}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    (staging / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
    return staging


def tidy_dead_runs(client_dir: Path, grace_seconds: float = STAGING_GRACE_SECONDS) -> list[Path]:
    """Move what killed runs left in ``client_dir`` to ``.failed/``; return where each went.

    A run stopped by SIGINT or SIGKILL leaves its staging folder ``.<period>.partial-*``, which holds
    artifacts with raw customer ids. One is left by a dead run when its :data:`PID_FILE` names a
    process that no longer exists (``os.kill(pid, 0)``), or when it has no readable pid file and was
    last changed more than ``grace_seconds`` ago (a run writes its pid file right after creating the
    folder, and removes it just before publishing). A folder of a live process is never touched.
    Retired reports ``.<period>.old-*`` (an interrupted publish) are deleted once the period's new
    report is in place.
    """
    if not client_dir.is_dir():
        return []
    with client_lock(client_dir):  # not while another run of the client publishes
        return _tidy(client_dir, grace_seconds)


def _tidy(client_dir: Path, grace_seconds: float) -> list[Path]:
    moved = []
    for folder in sorted(client_dir.glob(f".*{PARTIAL_MARK}*")):
        if folder.is_dir() and not _alive(folder, grace_seconds):
            period = folder.name[1:].rsplit(PARTIAL_MARK, 1)[0]
            try:
                moved.append(_keep_failed(folder, client_dir, period))
            except OSError:  # another run tidied it first, or the folder cannot be moved: leave it
                continue
    for folder in sorted(client_dir.glob(".*.old-*")):
        period = folder.name[1:].rsplit(".old-", 1)[0]
        if folder.is_dir() and (client_dir / period).is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    return moved


def _alive(staging: Path, grace_seconds: float) -> bool:
    """Whether the run building ``staging`` may still be running (see :func:`tidy_dead_runs`)."""
    try:
        pid = int((staging / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        try:
            return time.time() - staging.stat().st_mtime < grace_seconds
        except OSError:
            return True  # gone meanwhile: nothing to tidy
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user has this id: alive, not ours to judge
        return True
    return True


def _execute(job: Job, notebook: str, staging: Path) -> float:
    """Run one notebook of ``job`` into its staging folder (execution.execute_notebook); seconds taken."""
    parameters = {"client_params": job.client_file, "run_dir": str(staging), "overrides": list(job.overrides)}
    if job.period == COMPARISON:
        parameters["reports_dir"] = str(Path(job.out_dir) / job.client)
    else:
        parameters["period"] = job.period
    return execution.execute_notebook(
        notebook, staging / notebook, parameters, job.kernel, job.timeout, warm=job.warm_kernels
    )


def _describe_failure(err: Exception, staging: Path) -> str:
    """One line: the project's own message, a file-system fault with its cause and file (the run's
    staging folder when the system names none), or the exception type and its first words."""
    if isinstance(err, CrmError):
        return str(err)
    if isinstance(err, OSError):
        return str(write_error(err, staging))
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _wants_pdf(staging: Path) -> bool:
    """``report.pdf`` of the run's resolved parameters (and a client report to print)."""
    values = yaml.safe_load((staging / "params.yaml").read_text(encoding="utf-8")) or {}
    return bool((values.get("report") or {}).get("pdf")) and (staging / pdf.CLIENT_REPORT).is_file()


def _branding(staging: Path, period: str) -> dict[str, Any] | None:
    """What the run's pages take from its parameters (report.branding_fingerprint; stages.pages_key)."""
    return report.branding_fingerprint(staging, None if period == COMPARISON else period)


def _render(staging: Path, notebook: str) -> float:
    """The HTML pages of one executed notebook of a run; seconds taken. A write fault names the page
    it hit (the system names none when the disk fills: the page being written is then the newest
    one, created and not completed)."""
    started = time.perf_counter()
    try:
        report.render_stage(staging, notebook)
    except OSError as err:
        pages = [] if err.filename else sorted(staging.glob("*.html"), key=lambda p: p.stat().st_mtime_ns)
        raise write_error(err, pages[-1] if pages else staging) from None
    return round(time.perf_counter() - started, 3)


def _publish(staging: Path, final: Path) -> None:
    """Move the finished run into place, under the client lock (:func:`client_lock`); an earlier
    report is replaced only after success."""
    with client_lock(final.parent):
        if final.exists():
            retired = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(final, retired)
            os.replace(staging, final)
            shutil.rmtree(retired, ignore_errors=True)  # tidy_dead_runs removes what is left
        else:
            os.replace(staging, final)


def _keep_partial(staging: Path, client_dir: Path, period: str) -> tuple[Path, str]:
    """Keep a failed run's staging folder under ``.failed/``; where it is and how to say so."""
    try:
        kept = _keep_failed(staging, client_dir, period)
    except OSError as fault:  # the disk that failed the run may refuse the move too
        return staging, f"partial run left in {staging} ({fault.strerror or type(fault).__name__})"
    return kept, f"partial run kept in {kept}"


def _keep_failed(staging: Path, client_dir: Path, period: str) -> Path:
    (staging / PID_FILE).unlink(missing_ok=True)
    kept = client_dir / ".failed" / f"{period}-{time.strftime('%Y%m%d-%H%M%S')}-{staging.name[-8:]}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, kept)
    return kept


def _progress(job: Job, text: str, printer: Callable[[str], None] = print) -> None:
    if job.show_progress:
        printer(f"{job.label}: {text}")
