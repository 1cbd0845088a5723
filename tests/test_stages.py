"""The declared stage graph: validation, agreement with what the notebooks write, the docs' table,
and the keys that decide reuse (the end-to-end re-runs are in test_incremental.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis_utils import context, paths, runner, stages
from analysis_utils.config import RunParams
from analysis_utils.errors import ConfigError
from analysis_utils.loader import load_params

SAMPLE = paths.CLIENTS_DIR / "sample.yaml"
RUN_FILES = {"params.yaml", "manifest.json"}  # written by the runner, not by a stage


def stage(notebook: str, reads: tuple[str, ...] = (), writes: tuple[str, ...] = ()) -> stages.Stage:
    return stages.Stage(notebook, reads=reads, writes=writes, params=())


def test_graph_rejects_a_stage_reading_what_no_earlier_stage_writes():
    graph = [stage("01_a.ipynb", writes=("a.parquet",)), stage("02_b.ipynb", reads=("b.parquet",))]
    with pytest.raises(stages.GraphError, match="02_b reads b.parquet, which no earlier stage writes"):
        stages.validate(graph)


def test_graph_rejects_a_stage_reading_what_a_later_stage_writes():
    graph = [stage("01_a.ipynb", reads=("b.parquet",)), stage("02_b.ipynb", writes=("b.parquet",))]
    with pytest.raises(stages.GraphError, match="01_a reads b.parquet"):
        stages.validate(graph)


def test_graph_rejects_two_stages_writing_one_artifact():
    graph = [stage("01_a.ipynb", writes=("a.parquet",)), stage("02_b.ipynb", writes=("a.parquet",))]
    with pytest.raises(stages.GraphError, match="a.parquet is written by both 01_a and 02_b"):
        stages.validate(graph)


def test_registry_is_a_valid_graph_whose_notebooks_exist_and_run_in_the_runner():
    stages.validate(stages.STAGES)
    assert all((paths.NOTEBOOKS_DIR / s.notebook).is_file() for s in stages.STAGES)
    assert tuple(s.notebook for s in stages.of_kind(stages.PERIOD)) == runner.STAGE_NOTEBOOKS
    assert runner.COMPARISON_NOTEBOOK == "90_period_comparison.ipynb"
    assert runner.COMPARISON == stages.COMPARISON


def test_registry_names_every_artifact_a_period_run_holds(sample_run):
    written = {name for s in stages.of_kind(stages.PERIOD) for name in s.writes}
    for period in ("2023", "2024"):
        folder = sample_run / period
        held = {p.name for p in folder.iterdir() if p.suffix in {".parquet", ".json", ".joblib"}}
        assert held - RUN_FILES == written, period


def test_registry_names_the_comparison_artifacts(sample_run):
    (comparison,) = stages.of_kind(stages.COMPARISON)
    held = {p.name for p in (sample_run / "comparison").glob("*.parquet")}
    assert held == {*comparison.writes, "migration_2023_2024.parquet"}


def test_manifest_records_each_stage_key_status_and_output_hashes(sample_run):
    from analysis_utils import manifest

    runs = manifest.read(sample_run / "2024")["stages"]
    assert list(runs) == [s.name for s in stages.of_kind(stages.PERIOD)]
    for s in stages.of_kind(stages.PERIOD):
        run = runs[s.name]
        assert len(run["key"]) == 64 and run["status"] in {stages.EXECUTED, stages.REUSED}
        assert set(run["writes"]) == set(s.writes) and all(run["writes"].values())
        assert run["notebook_sha256"]


def test_docs_table_is_the_registry():
    text = (paths.PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert stages.stage_table() in text


class _RecordingParams(RunParams):
    """Parameters that note every dotted key a rule reads."""

    def __init__(self, values, read):
        super().__init__(client="sample", source=SAMPLE, values=values)
        object.__setattr__(self, "read", read)

    def get(self, dotted):
        self.read.add(dotted)
        return super().get(dotted)


def _declares(sections, dotted):
    return any(dotted == s or dotted.startswith(f"{s}.") or s.startswith(f"{dotted}.") for s in sections)


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.name)
def test_a_stage_rule_reads_only_the_parameter_sections_the_stage_declares(stage):
    values = load_params(SAMPLE).values
    assert stage.rules, f"{stage.name} declares no parameter rules"
    for rule in stage.rules:
        read = set()
        assert rule(_RecordingParams(values, read)) == []  # the sample's parameters are valid
        assert read and all(_declares(stage.params, dotted) for dotted in read), (rule.__name__, read)


def test_the_loader_runs_every_stage_rule_and_the_runner_rules_names_every_problem_at_once():
    bad = {  # one bad value per rule, each in the section its stage declares
        "data_prep": ("data.format=xml", "data.format must be one of auto, csv, parquet, excel"),
        "rfm_scores": ("rfm.n_bins=2", "rfm.n_bins must be between 3 and 10"),
        "clustering": ("clustering.k=1", "clustering.k must be 0 (choose) or at least 2"),
        "value_matrix": ("value_matrix.split=mode", "value_matrix.split must be one of median"),
        "future_value": ("clv.model=prophet", "clv.model must be one of auto"),
        "customer_360": ("basket.top_pairs=0", "basket.top_pairs must be at least 1"),
        "client_report": ("report.cohort_unit=week", "report.cohort_unit must be one of month, quarter"),
        "period_comparison": ("comparison.reference=last", "comparison.reference must be one of first"),
        "periods": ("periods=[]", "periods must list at least one period"),
        "exports": ("exports.csv.decimal=x", "exports.csv.decimal must be '.' or ','"),
    }
    assert set(bad) == {rule.__name__ for rule in stages.parameter_rules()}
    assert len(stages.parameter_rules()) == len(bad)  # each rule once
    with pytest.raises(ConfigError) as raised:
        load_params(SAMPLE, [override for override, _ in bad.values()])
    message = str(raised.value)
    assert f"{len(bad)} problems" in message
    for _, expected in bad.values():
        assert expected in message


@pytest.fixture
def sample_params(monkeypatch):
    monkeypatch.setenv("CRM_WORKBOOK_SALT", "test-salt-for-stage-keys")
    return lambda *overrides: load_params(SAMPLE, overrides)


def keys(params, run_dir: Path) -> dict[str, str]:
    return {s.name: stages.stage_key(s, params, "2024", run_dir) for s in stages.of_kind(stages.PERIOD)}


def test_a_clustering_parameter_changes_only_the_clustering_key(sample_params, tmp_path):
    before, after = keys(sample_params(), tmp_path), keys(sample_params("clustering.k=3"), tmp_path)
    assert {name for name in before if before[name] != after[name]} == {"03_clustering"}


def test_a_changed_input_file_changes_the_first_stage_key(sample_params, tmp_path):
    data = tmp_path / "transactions.csv"
    data.write_bytes((paths.SAMPLE_DIR / "transactions.csv").read_bytes())
    stage01 = stages.STAGES[0]
    params = sample_params(f"data.path={data}")
    before = stages.stage_key(stage01, params, "2024", tmp_path)
    data.write_bytes(data.read_bytes() + b"\n")
    assert stages.stage_key(stage01, params, "2024", tmp_path) != before


def test_a_changed_artifact_changes_the_key_of_each_stage_reading_it(sample_params, tmp_path):
    params = sample_params()
    before = keys(params, tmp_path)
    (tmp_path / "clusters.parquet").write_bytes(b"other clusters")
    after = keys(params, tmp_path)
    readers = {s.name for s in stages.STAGES if "clusters.parquet" in s.reads and s.kind == stages.PERIOD}
    assert {name for name in before if before[name] != after[name]} == readers


def test_code_in_a_key_is_what_the_notebook_imports_not_what_only_the_runner_uses():
    closure = stages._imported_closure("from analysis_utils import context, prep\nimport analysis_utils.rfm")
    assert {"__init__", "context", "prep", "rfm", "engine", "config", "io", "paths"} <= closure
    assert not {"runner", "cli", "kernels", "report", "exports", "pdf"} & closure
    guarded = "if TYPE_CHECKING:\n    from analysis_utils.runner import Job\n"
    assert stages._imported_closure(guarded) == {"__init__"}


def test_reuse_needs_the_same_key_and_the_recorded_files(tmp_path):
    published, staging = tmp_path / "published", tmp_path / "staging"
    published.mkdir()
    staging.mkdir()
    one = stages.by_notebook("03_clustering.ipynb")  # two artifacts and its notebook
    for name in (*one.writes, one.notebook):
        (published / name).write_text(name)
    record = stages.record(one, "k1", stages.EXECUTED, published)
    assert not stages.reuse(one, "k2", published, record, staging)
    (published / one.writes[0]).write_text("changed since")
    assert not stages.reuse(one, "k1", published, record, staging)
    (published / one.writes[0]).write_text(one.writes[0])
    assert stages.reuse(one, "k1", published, record, staging)
    assert {p.name: p.read_text() for p in staging.iterdir()} == {n: n for n in (*one.writes, one.notebook)}


def test_the_comparison_is_reused_with_the_migration_files_it_recorded_and_nothing_else(tmp_path):
    published, staging = tmp_path / "published", tmp_path / "staging"
    published.mkdir()
    staging.mkdir()
    (compare,) = stages.of_kind(stages.COMPARISON)
    files = (*compare.writes, "migration_2023_2024.parquet", compare.notebook)
    for name in files:
        (published / name).write_text(name)
    record = stages.record(compare, "k1", stages.EXECUTED, published)
    assert set(record["writes"]) == {*compare.writes, "migration_2023_2024.parquet"}
    assert stages.reuse(compare, "k1", published, record, staging)
    assert {p.name for p in staging.iterdir()} == set(files)
    foreign = {
        **record,
        "writes": {**record["writes"], "customers.parquet": record["writes"]["kpi_trends.parquet"]},
    }
    assert not stages.reuse(compare, "k1", published, foreign, tmp_path / "elsewhere")
    assert not stages.reuse(compare, None, published, {**record, "key": None}, staging)


def test_the_comparison_key_follows_every_declared_periods_published_tables(sample_params, tmp_path):
    """The comparison reads the client folder's period runs: its key changes with any of their
    tables, and there is none when a period's run lacks them (then it computes them on its own)."""
    params = sample_params()
    (compare,) = stages.of_kind(stages.COMPARISON)
    client_dir = tmp_path / "sample"
    for period in params.periods:
        (client_dir / period.name).mkdir(parents=True)
        for name in compare.reads:
            (client_dir / period.name / name).write_text(f"{period.name}/{name}")
    run_dir = client_dir / ".comparison.partial-1"
    key = stages.stage_key(compare, params, stages.COMPARISON, run_dir)
    assert key and key == stages.stage_key(compare, params, stages.COMPARISON, client_dir / "comparison")
    first = client_dir / params.periods[0].name / "customers.parquet"
    first.write_text("other customers")
    assert stages.stage_key(compare, params, stages.COMPARISON, run_dir) not in {None, key}
    first.unlink()
    assert stages.stage_key(compare, params, stages.COMPARISON, run_dir) is None


def test_the_exports_key_follows_the_run_folders_artifacts_parameters_and_salt(
    sample_params, tmp_path, monkeypatch
):
    params = sample_params()
    (tmp_path / "params.yaml").write_text("client: {}\n")
    (tmp_path / "customers.parquet").write_text("customers")
    key = stages.exports_key(params, "2024", tmp_path)
    assert key == stages.exports_key(params, "2024", tmp_path)
    assert stages.exports_key(params, "2023", tmp_path) != key
    (tmp_path / "churn_rule.json").write_text("{}")
    with_rule = stages.exports_key(params, "2024", tmp_path)
    assert with_rule != key
    (tmp_path / "params.yaml").write_text("client: {name: other}\n")
    other_params = stages.exports_key(params, "2024", tmp_path)
    assert other_params != with_rule
    monkeypatch.setenv("CRM_WORKBOOK_SALT", "another-salt-for-the-lists")
    assert stages.exports_key(sample_params(), "2024", tmp_path) != other_params


def test_standalone_scratch_folder_follows_the_parameters(sample_params):
    params, other = sample_params(), sample_params("clustering.k=3")
    period = params.period("2024")
    assert context.scratch_folder(params, period) == context.scratch_folder(sample_params(), period)
    assert context.scratch_folder(params, period) != context.scratch_folder(other, other.period("2024"))
    assert context.scratch_folder(params, period).parent == context.SCRATCH_DIR / "sample" / "2024"


def test_a_standalone_notebook_gets_missing_stages_executed_as_the_runner_executes_them(sample_run, tmp_path):
    """A stand-alone run reading stage 03's clusters gets stages 01-03 executed into its folder, as
    their notebooks (nothing else computes a stage), and nothing more; the artifacts are the runner's."""
    run = context.open_run("params/clients/sample.yaml", "2024", str(tmp_path))
    clusters = run.clusters()
    executed = sorted(path.name for path in tmp_path.glob("*.ipynb"))
    assert executed == ["01_data_prep.ipynb", "02_rfm.ipynb", "03_clustering.ipynb"]
    for name in ("orders.parquet", "customers.parquet", "clusters.parquet"):
        assert (tmp_path / name).read_bytes() == (sample_run / "2024" / name).read_bytes(), name
    assert clusters.equals(pd.read_parquet(sample_run / "2024" / "clusters.parquet"))
    run.clusters()  # present now: read, not executed again
    assert sorted(path.name for path in tmp_path.glob("*.ipynb")) == executed


def test_run_context_computes_no_stage_itself():
    """The getters read artifacts; only notebooks compute stages (context imports no stage's code)."""
    imported = stages.package_imports(Path(context.__file__).read_text(encoding="utf-8"))
    assert not imported & {"prep", "rfm_stage", "clustering", "value_matrix", "outlook"}, imported
