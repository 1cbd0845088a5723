"""End to end through the command line, as a consultant would run it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import run_cli

from analysis_utils import paths
from analysis_utils.runner import STAGE_NOTEBOOKS

SAMPLE = "params/clients/sample.yaml"
STAGES = tuple(Path(notebook).stem for notebook in STAGE_NOTEBOOKS)
ARTIFACTS = (
    "orders",
    "data_quality",
    "customers",
    "clusters",
    "value_matrix",
    "kpis",
    "churn_risk",
    "clv_holdout",
    "customer_360",
    "source_quality",
)
pytestmark = pytest.mark.slow


def test_run_publishes_every_artifact_for_each_period(sample_run):
    for period in ("2023", "2024"):
        run_dir = sample_run / period
        expected = {
            f"{stem}{suffix}" for stem in STAGES for suffix in (".ipynb", ".client.html", ".analyst.html")
        }
        expected |= {f"{name}.parquet" for name in (*ARTIFACTS, "customer_history")}
        expected |= {
            "rfm_thresholds.json",
            "clustering_model.joblib",
            "clv_model.json",
            "clv_model.joblib",
            "manifest.json",
            "params.yaml",
            "index.html",
        }
        assert expected <= {p.name for p in run_dir.iterdir()}
    assert not [p for p in sample_run.iterdir() if p.name.startswith(".")]  # no staging left behind
    comparison = {p.name for p in (sample_run / "comparison").iterdir()}
    assert {
        "90_period_comparison.client.html",
        "kpi_trends.parquet",
        "migration_2023_2024.parquet",
    } <= comparison
    index = (sample_run / "index.html").read_text()
    assert "2023/index.html" in index and "2024/01_data_prep.client.html" in index
    assert "2024/09_client_report.client.html" in index and "2024/09_client_report.analyst.html" in index
    assert "comparison/90_period_comparison.client.html" in index


def test_manifest_records_inputs_outputs_versions_and_timings(sample_run):
    manifest = json.loads((sample_run / "2024" / "manifest.json").read_text())
    sample_csv = paths.SAMPLE_DIR / "transactions.csv"
    assert (
        manifest["input"]["sha256"]
        == json.loads((paths.SAMPLE_DIR / "sample.json").read_text())["transactions_sha256"]
    )
    assert manifest["input"]["bytes"] == sample_csv.stat().st_size
    assert manifest["period"] == {"name": "2024", "as_of": "2025-01-01 00:00:00", "window_days": 366}
    assert manifest["artifacts"]["orders.parquet"]["rows"] == manifest["data_quality"]["orders"]
    assert (
        pq.read_metadata(sample_run / "2024" / "orders.parquet").num_rows
        == manifest["data_quality"]["orders"]
    )
    assert manifest["params"]["prep"]["exclude_customers"] == ["999999"]
    lines_read = manifest["data_quality"]["input"]
    assert (
        manifest["engine"] == {"backend": "duckdb", "lines_read": lines_read, "files_read": 1}
        and lines_read > 0
    )
    assert {"ibis-framework", "duckdb", "pandas", "papermill"} <= set(manifest["versions"])
    assert len(manifest["git"]["commit"]) == 40
    assert manifest["seconds"]["01_data_prep.ipynb"] > 0 and manifest["seconds"]["total"] > 0


@pytest.mark.parametrize("stage", STAGES)
def test_client_html_has_no_code_and_analyst_html_has_it(sample_run, stage):
    client = (sample_run / "2024" / f"{stage}.client.html").read_text()
    analyst = (sample_run / "2024" / f"{stage}.analyst.html").read_text()
    code_cell = 'class="highlight'  # a highlighted code block (CSS mentions only .highlight)
    assert code_cell in analyst and "client_params" in analyst
    assert code_cell not in client and "client_params" not in client and "analysis_utils" not in client
    assert "planted ground truth" not in client  # analyst-only cells stay out of the client's copy
    figures = client.count('src="data:image/png;base64,')  # embedded: the file stands alone
    assert figures >= (0 if stage == "04_value_matrix" else 1) + 1, f"{figures} figures in {stage}"
    assert "<nav class='report-toc'" in client and '<script src="https://' not in client  # reads offline


def test_client_report_compares_with_the_previous_period_when_there_is_one(sample_run):
    later = (sample_run / "2024" / "09_client_report.client.html").read_text()
    first = (sample_run / "2023" / "09_client_report.client.html").read_text()
    assert later.count(" vs 2023<") == 4 and "scored customers of 2023, " in later  # churn rate: none in 2023
    assert " vs 20" not in first and "scored customers of" not in first
    assert "There is no earlier period to compare 2023 with" in first
    kpis = pq.read_table(sample_run / "2024" / "kpis.parquet").to_pylist()[0]
    trends = pq.read_table(sample_run / "comparison" / "kpi_trends.parquet").to_pylist()
    assert kpis["churn_rate"] == trends[1]["churn_rate"] and kpis["revenue"] == trends[1]["revenue"]


def test_future_value_joins_the_customer_table_and_drives_churn_risk_only_when_trusted(sample_run):
    customers = pq.read_table(sample_run / "2024" / "customers.parquet").to_pandas()
    assert {"p_alive", "expected_purchases", "expected_spend", "clv", "clv_if_active"} <= set(
        customers.columns
    )
    modelled = customers.dropna(subset=["p_alive"])
    assert modelled["p_alive"].between(0, 1).all() and (modelled["clv"] >= 0).all()
    assert (customers.loc[customers["p_alive"].isna(), "monetary"] <= 0).all()  # no positive purchase day
    for period, trusted in (("2024", True), ("2023", False)):
        record = json.loads((sample_run / period / "clv_model.json").read_text())
        assert record["trusted"] is trusted, record["reason"]
        report = (sample_run / period / "09_client_report.client.html").read_text()
        assert ("The model is used for churn risk" in report) is trusted
        assert ("falls back to the overdue rule" in report) is not trusted
        assert "What customers are worth next" in report and "value at risk" in report


def test_client_outputs_carry_no_raw_customer_ids(sample_run):
    customers = set(
        pq.read_table(sample_run / "2024" / "customers.parquet", columns=["customer_id"])
        .column("customer_id")
        .to_pylist()
    )
    for page in (sample_run / "2024").glob("*.client.html"):
        text = page.read_text()
        assert not [c for c in customers if f">{c}<" in text or f"'{c}'" in text], page.name


def test_same_input_and_params_give_byte_identical_artifacts(sample_run, tmp_path):
    result = run_cli("run", SAMPLE, "--period", "2024", "--out", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    jsons = ["rfm_thresholds.json", "clv_model.json"]
    for name in [f"{artifact}.parquet" for artifact in ARTIFACTS] + jsons:
        assert (tmp_path / "sample" / "2024" / name).read_bytes() == (
            sample_run / "2024" / name
        ).read_bytes(), name


def test_rerun_replaces_a_report_only_when_it_succeeds(sample_run, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(sample_run, out / "sample")
    before = {p.name: p.read_bytes() for p in (out / "sample" / "2024").iterdir()}
    result = run_cli(
        "run", SAMPLE, "--period", "2024", "--out", str(out), "-p", "prep.max_unparseable_date_share=0"
    )
    assert result.returncode == 1
    assert "01_data_prep.ipynb cell" in result.stderr and "DataError" in result.stderr
    kept = Path(result.stderr.split("partial run kept in ")[1].strip())
    assert (kept / "01_data_prep.ipynb").is_file()  # the partial executed notebook, for inspection
    assert {p.name: p.read_bytes() for p in (out / "sample" / "2024").iterdir()} == before


def bad_client(tmp_path: Path, lines: str | None = "", **changes) -> Path:
    """A copy of the sample client pointing at its own (possibly broken) data file."""
    content = yaml.safe_load((paths.PROJECT_ROOT / SAMPLE).read_text())
    data_file = tmp_path / "lines.csv"
    if lines is not None:
        data_file.write_text(lines, encoding="utf-8")
    content["data"]["path"] = str(data_file)
    for key, value in changes.items():
        section, _, leaf = key.partition("__")
        content[section] = value if not leaf else {**content.get(section, {}), leaf: value}
    path = tmp_path / "badclient.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


HEADER = "Invoice;Customer;Date;SKU;Category;Qty;Price;Channel\n"
GOOD_LINE = "1;007;05/01/2024 10:00;A;Toys;1;9.99;online\n"


@pytest.mark.parametrize(
    ("case", "lines", "changes", "exit_code", "named"),
    [
        ("missing file", None, {}, 1, "lines.csv: data file not found"),
        ("empty file", "", {}, 1, "lines.csv: file is empty"),
        ("header only", HEADER, {}, 1, "lines.csv: no data lines"),
        (
            "mapped column absent",
            HEADER.replace("Customer", "Client") + GOOD_LINE,
            {},
            2,
            "column 'Customer' (data.columns.customer_id) not in file",
        ),
        (
            "unparseable dates",
            HEADER + GOOD_LINE + GOOD_LINE.replace("05/01/2024", "2024-01-05") * 3,
            {},
            1,
            "column 'Date': 3 of 4 lines (75.0%) do not parse",
        ),
        (
            "every row removed",
            HEADER + GOOD_LINE.replace(";9.99;", ";0;") * 2,
            {},
            1,
            "no orders left in period '2024' after cleaning",
        ),
        (
            "unknown parameter",
            HEADER + GOOD_LINE,
            {"prep__drop_dupes": True},
            2,
            "unknown parameter prep.drop_dupes (did you mean prep.drop_duplicates?)",
        ),
        (
            "as_of before all data",
            HEADER + GOOD_LINE,
            {"periods": [{"name": "2020", "as_of": "2021-01-01", "window_days": 365}]},
            1,
            "period '2020' ends (as_of 2021-01-01) before the first order in the file (2024-01-05)",
        ),
    ],
)
def test_bad_input_gets_one_line_error_and_no_report(tmp_path, case, lines, changes, exit_code, named):
    client = bad_client(tmp_path, lines, **changes)
    out = tmp_path / "reports"
    periods = [] if "periods" in changes else ["--period", "2024"]
    result = run_cli("run", str(client), "--out", str(out), *periods)
    assert result.returncode == exit_code, (case, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and named in errors[0], (case, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    published = [p for p in out.glob("badclient/*") if not p.name.startswith(".")] if out.exists() else []
    assert published == [], case


def test_validate_prints_the_quality_table_and_runs_no_notebook(tmp_path):
    result = run_cli("validate", SAMPLE, "--period", "2024")
    assert result.returncode == 0, result.stderr
    assert "parameters valid" in result.stdout
    assert "missing_customer" in result.stdout and "return_netted" in result.stdout
    assert "orders=13020" in result.stdout and "customers=2763" in result.stdout


def test_validate_reports_every_parameter_problem_with_exit_2(tmp_path):
    client = bad_client(tmp_path, HEADER + GOOD_LINE, prep__drop_dupes=True, engine__threads="many")
    result = run_cli("validate", str(client))
    assert result.returncode == 2
    assert "2 problems" in result.stderr and "engine.threads must be a whole number" in result.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["sample"]])
def test_help_is_available_for_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: crm-workbook" in result.stdout
