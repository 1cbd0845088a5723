"""The declared stage graph: each stage's notebook, the artifacts it reads and writes, and the
parameter sections it depends on; and each stage's key, from which a run decides to reuse a stage.

The runner, the stand-alone notebook mode (its scratch folder) and docs/architecture.md all take
the stages from :data:`STAGES`. Artifacts are file names in a run folder. A period stage reads only
what an earlier stage of the same run wrote; the comparison (a job kind of its own) reads the
published period folders of its client.

A stage's key is a SHA-256 of everything its outputs can depend on: its notebook's bytes, the bytes
of the artifacts it reads, the resolved values of its parameter sections (and the files they name),
the period, the pseudonym salt, and the code it imports with the library versions. Two runs whose stage
keys agree compute the same artifacts, so the later run may copy them instead of executing.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analysis_utils import manifest, parameter_rules, paths, privacy
from analysis_utils.config import RunParams, previous_period
from analysis_utils.errors import ConfigError, CrmError
from analysis_utils.io import file_sha256

PERIOD = "period"  # kind of a stage run once per client x period, into the period's run folder
COMPARISON = "comparison"  # kind of the stage comparing a client's published periods
FILE_KEYS = ("saved_thresholds", "logo")  # parameter keys naming a file (besides path and *_file)
EXECUTED, REUSED = "executed", "reused"  # how a stage's outputs came into a run
PERIOD_TABLES = ("orders.parquet", "customer_history.parquet", "earlier_orders.parquet", "customers.parquet")
"""Stages 01-02's tables of a period, as comparison.PeriodTables holds them (stages 06, 09 and the
comparison read them all)."""
MIGRATIONS = "migration_*.parquet"
"""The comparison's migration matrices, one ``migration_<before>_<after>.parquet`` per compared pair
(their names depend on the declared periods)."""
OTHER_PERIODS = "periods"
"""Folder of a period run holding, per other period (``periods/<name>/``), the artifacts of that
period's run its stages read (hard links made by the runner when the other period's stage is done)."""
PACKAGE = Path(__file__).parent  # analysis_utils: whose modules a stage's key covers
RENDER_CODE = "import analysis_utils.report"  # the code that renders a stage's pages (pages_key)
EXPORTS_CODE = "import analysis_utils.exports"  # the code that writes a run's customer lists (exports_key)
EXECUTING = frozenset({"execution"})
"""Modules that execute stage notebooks (a stand-alone notebook reaches them through
context.RunContext.require): how a stage runs, not what it computes, so outside every stage key."""


Rule = Callable[[RunParams], list[str]]
"""A parameter rule: the merged parameters in, one sentence per problem out."""


@dataclass(frozen=True)
class Stage:
    """One node of the graph: a notebook, what it reads and writes, and its parameter sections.

    ``params`` holds top-level sections (``clustering``) or dotted keys (``rfm.playbook_file``);
    ``periods`` means every declared period (a stage that looks at another period), while every
    period stage depends on its own period anyway. ``reads_previous``: artifacts of the previous
    period's run (config.previous_period) the stage reads; ``reads_reference``: those of the first
    declared period's run, read when the comparison scores on its scale (``comparison.reference:
    first``); both are found in :data:`OTHER_PERIODS` (:func:`other_reads`). ``rules``: the value
    rules of its parameter sections (analysis_utils.parameter_rules), which read only those
    sections; the loader runs them before anything runs. ``writes_matching``: a glob of the further
    artifacts whose names depend on the parameters (the comparison's :data:`MIGRATIONS`).
    """

    notebook: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    params: tuple[str, ...]
    kind: str = PERIOD
    reads_previous: tuple[str, ...] = ()
    reads_reference: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    writes_matching: str = ""

    @property
    def name(self) -> str:
        """The notebook's stem, e.g. ``03_clustering``."""
        return Path(self.notebook).stem


STAGES = (
    Stage(
        "01_data_prep.ipynb",
        reads=(),
        writes=(
            "orders.parquet",
            "data_quality.parquet",
            "customer_history.parquet",
            "earlier_orders.parquet",
            "baskets.parquet",
        ),
        params=("client", "data", "prep", "engine"),
        rules=(parameter_rules.data_prep,),
    ),
    Stage(
        "02_rfm.ipynb",
        reads=("orders.parquet",),
        writes=("customers.parquet", "rfm_thresholds.json"),
        params=("client", "data", "rfm"),
        rules=(parameter_rules.rfm_scores,),
    ),
    Stage(
        "03_clustering.ipynb",
        reads=("customers.parquet",),
        writes=("clusters.parquet", "clustering_model.joblib"),
        params=("client", "data", "clustering"),
        rules=(parameter_rules.clustering,),
    ),
    Stage(
        "04_value_matrix.ipynb",
        reads=("customers.parquet", "clusters.parquet"),
        writes=("value_matrix.parquet",),
        params=("client", "rfm.playbook_file", "value_matrix"),
        rules=(parameter_rules.value_matrix,),
    ),
    Stage(
        "05_future_value.ipynb",
        reads=("orders.parquet", "earlier_orders.parquet", "customers.parquet"),
        writes=(
            "future_value.parquet",
            "segment_value.parquet",
            "clv_model.joblib",
            "clv_model.json",
            "clv_holdout.parquet",
            "churn_risk.parquet",
            "churn_rule.json",
        ),
        params=("client", "data", "clv", "churn_risk"),
        rules=(parameter_rules.future_value,),
    ),
    Stage(
        "06_customer_360.ipynb",
        reads=(
            *PERIOD_TABLES,
            "baskets.parquet",
            "clusters.parquet",
            "value_matrix.parquet",
            "future_value.parquet",
        ),
        writes=("customer_360.parquet", "source_quality.parquet"),
        reads_previous=PERIOD_TABLES,  # each customer's segment in the previous period
        reads_reference=PERIOD_TABLES,
        params=(  # periods, comparison: the segment each customer had in the previous period
            "client",
            "data",
            "engine",
            "periods",
            "rfm",
            "comparison",
            "clv.valuable_segments",
            "sources",
            "ranking",
            "profiling",
            "campaigns",
            "basket",
        ),
        rules=(parameter_rules.customer_360,),
    ),
    Stage(
        "09_client_report.ipynb",
        reads=(
            *PERIOD_TABLES,
            "data_quality.parquet",
            "clusters.parquet",
            "value_matrix.parquet",
            "future_value.parquet",
            "segment_value.parquet",
            "clv_model.joblib",
            "churn_risk.parquet",
            "churn_rule.json",
            "customer_360.parquet",
        ),
        writes=("kpis.parquet",),
        reads_previous=(*PERIOD_TABLES, "churn_risk.parquet", "churn_rule.json"),
        reads_reference=PERIOD_TABLES,
        params=(
            "client",
            "data",
            "prep",
            "engine",
            "periods",
            "rfm",
            "value_matrix",
            "comparison",
            "clv",
            "churn_risk",
            "sources",
            "ranking",
            "campaigns",
            "report",
        ),
        rules=(parameter_rules.client_report,),
    ),
    Stage(
        "90_period_comparison.ipynb",
        reads=PERIOD_TABLES,
        writes=("kpi_trends.parquet",),
        writes_matching=MIGRATIONS,
        params=("client", "data", "prep", "engine", "periods", "rfm", "comparison"),
        rules=(parameter_rules.period_comparison,),
        kind=COMPARISON,
    ),
)


RUN_RULES = (parameter_rules.periods, parameter_rules.exports)
"""Rules of what the runner does around the stages: the periods it plans, the customer lists it writes."""


def parameter_rules(stages: Sequence[Stage] = STAGES) -> tuple[Rule, ...]:
    """Every value rule of a run: the runner's, then each stage's in graph order (each once)."""
    return tuple(dict.fromkeys((*RUN_RULES, *(rule for stage in stages for rule in stage.rules))))


class GraphError(ValueError):
    """A stage graph that cannot run: an artifact read before anyone writes it, or written twice."""


def validate(stages: Sequence[Stage]) -> None:
    """Raise GraphError unless every artifact a stage reads (of its own period or of another) is
    written by an earlier stage, and no two stages write the same artifact (data moves forward only:
    nothing is rewritten)."""
    written: dict[str, str] = {}
    for stage in stages:
        reads = dict.fromkeys((*stage.reads, *stage.reads_previous, *stage.reads_reference))
        missing = [name for name in reads if name not in written]
        if missing:
            raise GraphError(f"{stage.name} reads {', '.join(missing)}, which no earlier stage writes")
        for name in stage.writes:
            if name in written:
                raise GraphError(f"{name} is written by both {written[name]} and {stage.name}")
            written[name] = stage.name


def of_kind(kind: str, stages: Sequence[Stage] = STAGES) -> tuple[Stage, ...]:
    """The stages of one job kind (:data:`PERIOD` or :data:`COMPARISON`), in running order."""
    return tuple(stage for stage in stages if stage.kind == kind)


def by_notebook(notebook: str, stages: Sequence[Stage] = STAGES) -> Stage:
    """The stage whose notebook is ``notebook`` (KeyError naming it when none is)."""
    for stage in stages:
        if stage.notebook == notebook:
            return stage
    raise KeyError(f"no stage runs {notebook}")


def producers(stage: Stage, names: Sequence[str], stages: Sequence[Stage] = STAGES) -> tuple[Stage, ...]:
    """The period stages writing any of ``names``, in running order (those ``stage`` waits for)."""
    return tuple(s for s in of_kind(PERIOD, stages) if s is not stage and set(s.writes) & set(names))


def needed_for(names: Sequence[str], stages: Sequence[Stage] = STAGES) -> tuple[Stage, ...]:
    """The period stages that must run for a period's run to hold the artifacts ``names``: their
    writers and, in turn, the writers of what those read; in running order."""
    wanted, needed = set(names), set()
    for stage in reversed(of_kind(PERIOD, stages)):
        if wanted & set(stage.writes):
            needed.add(stage.name)
            wanted |= set(stage.reads)
    return tuple(stage for stage in of_kind(PERIOD, stages) if stage.name in needed)


LENT = needed_for([name for stage in STAGES for name in (*stage.reads_previous, *stage.reads_reference)])
"""The stages another period's run reads from: all a previous period runs when it is not itself
among the periods run (its own run is then not published)."""


def other_reads(stage: Stage, params: RunParams, period: str) -> dict[str, tuple[str, ...]]:
    """Other period name -> the artifacts of its run that ``stage`` of ``period`` reads: the previous
    period's ``reads_previous`` and, when the comparison scores on the first declared period's scale
    and that period is neither this one nor the previous, its ``reads_reference``. Empty when the
    period has no previous period (nothing to compare with)."""
    if not stage.reads_previous:
        return {}
    before = previous_period(params.periods, params.period(period))
    if before is None:
        return {}
    wanted = {before.name: stage.reads_previous}
    first = params.periods[0].name
    if params.get("comparison.reference") == "first" and first not in (period, before.name):
        wanted[first] = stage.reads_reference
    return wanted


def stage_key(stage: Stage, params: RunParams, period: str, run_dir: Path) -> str | None:
    """SHA-256 of everything ``stage``'s outputs depend on (see the module's docstring), for the
    period named ``period``; None when there is nothing to key on (:func:`read_hashes`)."""
    reads = read_hashes(stage, params, period, run_dir)
    if reads is None:
        return None
    material = {
        "notebook": file_sha256(paths.NOTEBOOKS_DIR / stage.notebook),
        **reads,
        "params": {section: _section(params, section) for section in stage.params},
        "files": _named_files(params, stage.params),
        "period": _period(params, period),
        "salt": _salt_digest(params),
        "code": code_fingerprint(stage.notebook),
    }
    return _digest(material)


def read_hashes(stage: Stage, params: RunParams, period: str, run_dir: Path) -> dict[str, Any] | None:
    """SHA-256 of each artifact ``stage`` reads, by name. A period stage's are in ``run_dir`` (those
    of other periods in its :data:`OTHER_PERIODS` folder); an absent one counts as absent. The
    comparison's are those of every declared period's published run, in the client folder that
    holds ``run_dir``; None when one lacks them (the comparison then computes that period's tables
    on its own, outside the graph: nothing to key on)."""
    if stage.kind == COMPARISON:
        published = {
            f"{p.name}/{name}": _sha256_or_none(run_dir.parent / p.name / name)
            for p in params.periods
            for name in stage.reads
        }
        return None if None in published.values() else {"reads": published}
    others = other_reads(stage, params, period)
    return {
        "reads": {name: _sha256_or_none(run_dir / name) for name in stage.reads},
        "other_reads": {
            f"{other}/{name}": _sha256_or_none(run_dir / OTHER_PERIODS / other / name)
            for other, names in others.items()
            for name in names
        },
    }


def params_key(params: RunParams, period: str) -> str:
    """SHA-256 of the parameter sections of every period stage, the files they name, the period and
    the code: the key of a stand-alone scratch folder (no salt: stand-alone stages 01-04 need none)."""
    sections = sorted({section for stage in of_kind(PERIOD) for section in stage.params})
    material = {
        "params": {section: _section(params, section) for section in sections},
        "files": _named_files(params, sections),
        "period": _period(params, period),
        "code": [code_fingerprint(stage.notebook) for stage in of_kind(PERIOD)],
    }
    return _digest(material)


@functools.cache
def code_fingerprint(notebook: str) -> str:
    """SHA-256 of the package's modules that ``notebook`` imports, directly or through one another
    (:func:`modules_fingerprint`). Modules only the runner uses (runner, cli, kernels, report,
    exports ...) are not among them."""
    cells = json.loads((paths.NOTEBOOKS_DIR / notebook).read_text(encoding="utf-8"))["cells"]
    return modules_fingerprint(
        "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    )


@functools.cache
def modules_fingerprint(code: str) -> str:
    """SHA-256 of the package's modules that the Python ``code`` imports, directly or through one
    another (each file's name and bytes), with the Python and library versions."""
    versions = {"python": platform.python_version(), **manifest.package_versions()}
    digest = hashlib.sha256(json.dumps(versions, sort_keys=True).encode("utf-8"))
    for module in sorted(_imported_closure(code)):
        digest.update(f"{module}\n".encode())
        digest.update((PACKAGE / f"{module}.py").read_bytes())
    return digest.hexdigest()


def pages_key(notebook_sha256: str | None, branding: Mapping[str, Any] | None) -> str:
    """SHA-256 of what a stage's HTML pages are made from: its executed notebook, the run's branding
    (report.branding_fingerprint) and the code that renders them (analysis_utils.report and what it
    imports, with the library versions). Equal keys: the published pages can be reused."""
    material = {
        "notebook": notebook_sha256,
        "branding": branding,
        "code": modules_fingerprint(RENDER_CODE),
    }
    return _digest(material)


def exports_key(params: RunParams, period: str, run_dir: Path) -> str:
    """SHA-256 of what the customer lists of the period run in ``run_dir`` (exports.write_exports)
    are made from: every artifact there (Parquet and JSON), its resolved parameters (params.yaml)
    and the files they name, the period, the pseudonym salt and the code that writes them
    (analysis_utils.exports and what it imports, with the library versions). Equal keys: the
    published lists can be reused."""
    artifacts = sorted(path for pattern in ("*.parquet", "*.json") for path in run_dir.glob(pattern))
    material = {
        "artifacts": {path.name: file_sha256(path) for path in artifacts},
        "params": _sha256_or_none(run_dir / "params.yaml"),
        "files": _named_files(params, list(params.values)),
        "period": _period(params, period),
        "salt": _salt_digest(params),
        "code": modules_fingerprint(EXPORTS_CODE),
    }
    return _digest(material)


def reuse(
    stage: Stage, key: str | None, published: Path, record: Mapping[str, Any] | None, run_dir: Path
) -> bool:
    """Copy ``stage``'s artifacts and executed notebook from the ``published`` run into ``run_dir``
    when that run's manifest ``record`` of the stage has the same key, lists the artifacts the
    stage writes (:func:`writes_of`), and every file it lists is there with the recorded SHA-256
    (:func:`copy_verified`); whether it did."""
    if not key or not record or record.get("key") != key:
        return False
    writes = record.get("writes") or {}
    if not writes_of(stage, writes):
        return False
    return copy_verified({**writes, stage.notebook: record.get("notebook_sha256")}, published, run_dir)


def writes_of(stage: Stage, names: Sequence[str]) -> bool:
    """Whether ``names`` are artifacts ``stage`` writes: every one it declares, and besides them only
    names matching its ``writes_matching``."""
    extra = set(names) - set(stage.writes)
    return set(stage.writes) <= set(names) and all(
        stage.writes_matching and fnmatch.fnmatchcase(name, stage.writes_matching) for name in extra
    )


def written(stage: Stage, run_dir: Path) -> tuple[str, ...]:
    """The artifacts ``stage`` writes into ``run_dir``: those it declares, then those matching its
    ``writes_matching`` found there, by name."""
    if not stage.writes_matching:
        return stage.writes
    matching = sorted(path.name for path in run_dir.glob(stage.writes_matching))
    return (*stage.writes, *(name for name in matching if name not in stage.writes))


def copy_verified(expected: Mapping[str, str | None], published: Path, run_dir: Path) -> bool:
    """Copy the files ``expected`` names (relative path -> SHA-256) from ``published`` into ``run_dir`` when
    every one is there with its SHA-256; whether it did (nothing is left behind when it did not).
    Files are hard-linked where the file system allows (every writer replaces a file instead of
    writing into it), copied otherwise."""
    if not all(sha and _sha256_or_none(published / name) == sha for name, sha in expected.items()):
        return False
    try:
        for name in expected:
            link_or_copy(published / name, run_dir / name)
    except OSError:  # the published run moved away meanwhile: execute instead
        for name in expected:
            (run_dir / name).unlink(missing_ok=True)
        return False
    return True


def record(
    stage: Stage,
    key: str | None,
    status: str,
    run_dir: Path,
    pages: Sequence[str] = (),
    branding: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest's entry for one stage of a finished run: key, status (:data:`EXECUTED` or
    :data:`REUSED`), the SHA-256 of its executed notebook and of each artifact it wrote, and of each
    of its HTML ``pages`` with the key they were made under (:func:`pages_key` of the notebook and
    the run's ``branding``)."""
    entry = {
        "key": key,
        "status": status,
        "notebook_sha256": _sha256_or_none(run_dir / stage.notebook),
        "writes": {name: _sha256_or_none(run_dir / name) for name in written(stage, run_dir)},
    }
    if pages:
        entry["pages_key"] = pages_key(entry["notebook_sha256"], branding)
        entry["pages"] = {name: _sha256_or_none(run_dir / name) for name in pages}
    return entry


def reuse_pages(
    record: Mapping[str, Any] | None,
    pages: Sequence[str],
    branding: Mapping[str, Any] | None,
    published: Path,
    run_dir: Path,
) -> bool:
    """Copy the HTML ``pages`` of a stage just reused (:func:`reuse`: its notebook is the recorded
    one) from the ``published`` run into ``run_dir`` when its manifest ``record`` lists exactly those
    pages, made under the :func:`pages_key` of that notebook and this run's ``branding``, and each is
    there with its recorded SHA-256; whether it did (if not, the pages are rendered)."""
    record = record or {}
    recorded = record.get("pages") or {}
    if set(recorded) != set(pages) or record.get("pages_key") != pages_key(
        record.get("notebook_sha256"), branding
    ):
        return False
    return copy_verified(recorded, published, run_dir)


def stage_table(stages: Sequence[Stage] = STAGES) -> str:
    """The graph as a Markdown table (docs/architecture.md holds it; a test keeps the two equal)."""
    rows = [
        "| stage | kind | reads | writes | parameters | rules |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for stage in stages:
        cells = (
            stage.name,
            stage.kind,
            "; ".join(
                text
                for text in (
                    ", ".join(stage.reads) or "(client files)",
                    stage.reads_previous and "previous period's " + ", ".join(stage.reads_previous),
                    stage.reads_reference and "reference period's " + ", ".join(stage.reads_reference),
                )
                if text
            ),
            ", ".join(filter(None, (*stage.writes, stage.writes_matching))),
            ", ".join(stage.params),
            ", ".join(f"`parameter_rules.{rule.__name__}`" for rule in stage.rules),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _period(params: RunParams, name: str) -> dict[str, Any] | str:
    """The period's declaration (name, as_of, window_days); its name alone when it is not declared."""
    return next((asdict(p) for p in params.periods if p.name == name), name)


def _section(params: RunParams, section: str) -> Any:
    return [asdict(p) for p in params.periods] if section == "periods" else params.get(section)


def _named_files(params: RunParams, sections: Sequence[str]) -> dict[str, Any]:
    """Fingerprints of the files the sections name (``path``, ``*_file`` ...), and of the planted
    truth file beside the data when the ``data`` section is among them."""
    found: dict[str, Any] = {}
    for section in sections:
        if section != "periods":
            _collect_files(section, params.get(section), found)
    if "data" in sections:
        found["truth"] = _sha256_or_none(params.data_path.with_name(paths.TRUTH_FILE_NAME))
    return found


def _collect_files(where: str, value: Any, found: dict[str, Any]) -> None:
    if not isinstance(value, Mapping):
        leaf = where.rsplit(".", 1)[-1]
        if isinstance(value, str) and value and (leaf in FILE_KEYS or leaf.endswith("_file")):
            found[where] = _sha256_or_none(paths.resolve(value))
        return
    for key, inner in value.items():
        if key == "path" and isinstance(inner, str) and inner:
            found[f"{where}.path"] = _file_fingerprint(paths.resolve(inner), value.get("format", "auto"))
        else:
            _collect_files(f"{where}.{key}", inner, found)


def _imported_closure(source: str) -> set[str]:
    """The package's modules that Python ``source`` imports, and those they import, and so on
    (``__init__`` always: importing any module runs it), except :data:`EXECUTING`."""
    seen, todo = {"__init__"}, list(package_imports(source))
    while todo:
        module = todo.pop()
        if module not in seen and module not in EXECUTING:
            seen.add(module)
            todo += package_imports((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    return seen


def package_imports(source: str) -> set[str]:
    """Names of the package's modules imported by ``source`` (not under ``if TYPE_CHECKING``)."""
    finder = _ImportFinder()
    finder.visit(ast.parse(source))
    return {name for name in finder.names if (PACKAGE / f"{name}.py").is_file()}


class _ImportFinder(ast.NodeVisitor):
    """Collects ``analysis_utils`` module names from import statements, wherever they are."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names |= {a.name.split(".")[1] for a in node.names if a.name.startswith(f"{PACKAGE.name}.")}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == PACKAGE.name:
            self.names |= {alias.name for alias in node.names}
        elif node.module and node.module.startswith(f"{PACKAGE.name}."):
            self.names.add(node.module.split(".")[1])


def _file_fingerprint(path: Path, declared_format: str) -> str | None:
    """SHA-256 of a file (of every file, for a glob or a folder of data files); None when absent."""
    try:
        return manifest.input_fingerprint(path, declared_format)["sha256"]
    except (CrmError, OSError):  # absent or unreadable: the stage itself reports it when it runs
        return None


def _salt_digest(params: RunParams) -> str | None:
    """SHA-256 of the pseudonym salt (pseudonyms in a stage's outputs change with it); None when no
    salt is set (the stages that pseudonymise then fail on their own)."""
    try:
        return hashlib.sha256(privacy.salt_from(params.values).encode("utf-8")).hexdigest()
    except ConfigError:
        return None


def _sha256_or_none(path: Path) -> str | None:
    return file_sha256(path) if path.is_file() else None


def _digest(material: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (replacing it), or copy where the file system refuses."""
    target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


validate(STAGES)
