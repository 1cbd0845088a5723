"""End to end through the command line, as a consultant would run it."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import TEST_SALT, run_cli

from analysis_utils import outlook, paths, privacy
from analysis_utils.runner import LOCK_FILE, STAGE_NOTEBOOKS

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
        expected |= {f"{name}.parquet" for name in (*ARTIFACTS, "customer_history", "earlier_orders")}
        expected |= {
            "churn_rule.json",
            "rfm_thresholds.json",
            "clustering_model.joblib",
            "clv_model.json",
            "clv_model.joblib",
            "manifest.json",
            "params.yaml",
            "index.html",
        }
        assert expected <= {p.name for p in run_dir.iterdir()}
    hidden = [p.name for p in sample_run.iterdir() if p.name.startswith(".")]
    assert hidden == [LOCK_FILE]  # no staging left behind; the client lock file stays
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
    # churn rate: none in 2023; revenue at risk: 2023 has too little evidence for 2024's calibrated rule
    assert later.count(" vs 2023<") == 3 and "customers who bought in 2023, " in later
    assert "not compared with 2023, whose risk rests on another rule" in later
    assert " vs 20" not in first and "customers who bought in 20" not in first
    assert "There is no earlier period to compare 2023 with" in first
    kpis = pq.read_table(sample_run / "2024" / "kpis.parquet").to_pylist()[0]
    trends = pq.read_table(sample_run / "comparison" / "kpi_trends.parquet").to_pylist()
    assert kpis["churn_rate"] == trends[1]["churn_rate"] and kpis["revenue"] == trends[1]["revenue"]


def test_future_value_joins_the_customer_table_and_drives_churn_risk_only_when_trusted(sample_run):
    values = pq.read_table(sample_run / "2024" / "future_value.parquet").to_pandas()
    customers = pq.read_table(sample_run / "2024" / "customers.parquet").to_pandas()
    assert not {"p_alive", "clv"} & set(customers.columns)  # stage 05 never rewrites stage 02's table
    customers = customers.merge(values, on="customer_id", how="left", validate="one_to_one")
    c360 = pq.read_table(sample_run / "2024" / "customer_360.parquet").to_pandas()
    joined = c360[["customer_id", "clv"]].merge(values[["customer_id", "clv"]], on="customer_id", how="left")
    assert joined["clv_x"].equals(joined["clv_y"])  # the customer table carries stage 05's values
    modelled = customers.dropna(subset=["p_alive"])
    assert modelled["p_alive"].between(0, 1).all() and (modelled["clv"] >= 0).all()
    assert (customers.loc[customers["p_alive"].isna(), "monetary"] <= 0).all()  # no positive purchase day
    for period, trusted in (("2024", False), ("2023", False)):  # measured: +24% and -25% on the holdout
        record = json.loads((sample_run / period / "clv_model.json").read_text())
        assert record["trusted"] is trusted, record["reason"]
        report = (sample_run / period / "09_client_report.client.html").read_text()
        assert ("forecasts can be relied on" in report) is trusted
        assert ("as indicative only" in report) is not trusted
        assert (
            "What customers are worth next" in report and "valuable segments are at high churn risk" in report
        )


@pytest.mark.parametrize("period", ["2023", "2024"])
def test_one_churn_risk_definition_card_section_lists_and_files_agree(sample_run, period):
    folder = sample_run / period
    risk = pq.read_table(folder / "churn_risk.parquet").to_pandas()
    rule = json.loads((folder / "churn_rule.json").read_text())
    high = risk[risk["churn_risk"] == "high"]
    kpis = pq.read_table(folder / "kpis.parquet").to_pylist()[0]
    assert kpis["revenue_at_risk"] == pytest.approx(high["monetary"].sum(), abs=0.01)
    page = (folder / "09_client_report.client.html").read_text()
    card = re.search(r"Revenue at risk</div><div class=.kpi-value.>([\d,]+) GBP<", page).group(1)
    assert card == f"{high['monetary'].sum():,.0f}"
    section = f"{len(high):,} of the {len(risk):,} customers with a net purchase"
    assert section in page and f"They spent {high['monetary'].sum():,.0f} GBP in this period" in page
    assert f"{len(high):,} customers are at high risk of not buying again" in page  # headline sentence
    assert rule["score"] in ("overdue", "p_alive", "p_no_purchase", "expected_purchases")
    # the lists show only high-risk customers, ranked by spend
    salt = TEST_SALT  # the run's salt (the environment's, over the client file's)
    shown = set(
        re.findall(
            r"C[0-9a-f]{16}", page.split("The highest-spending customers at high risk")[1].split("<h2")[0]
        )
    )
    top = privacy.pseudonymise(
        high.sort_values(["monetary", "customer_id"], ascending=[False, True])["customer_id"].head(10), salt
    )
    assert shown == set(top)


def test_client_outputs_carry_no_raw_customer_ids(sample_run):
    customers = set(
        pq.read_table(sample_run / "2024" / "customers.parquet", columns=["customer_id"])
        .column("customer_id")
        .to_pylist()
    )
    for page in (sample_run / "2024").glob("*.client.html"):
        text = page.read_text()
        assert not [c for c in customers if f">{c}<" in text or f"'{c}'" in text], page.name


def test_rerun_replaces_a_report_only_when_it_succeeds(sample_run, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(sample_run, out / "sample")
    before = file_bytes(out / "sample" / "2024")
    result = run_cli(
        "run", SAMPLE, "--period", "2024", "--out", str(out), "-p", "prep.max_unparseable_date_share=0"
    )
    assert result.returncode == 1
    assert "01_data_prep.ipynb cell" in result.stderr and "DataError" in result.stderr
    kept = Path(result.stderr.split("partial run kept in ")[1].strip())
    assert (kept / "01_data_prep.ipynb").is_file()  # the partial executed notebook, for inspection
    assert file_bytes(out / "sample" / "2024") == before


def file_bytes(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` (subfolders such as exports/ included) -> its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


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


@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["sample"], ["pdf"]])
def test_help_is_available_for_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: crm-workbook" in result.stdout


def one_error(result) -> str:
    """The single ``error:`` line of a command that failed cleanly (no traceback)."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_client_file_named_dot_dot_yaml_is_refused_and_writes_nothing_outside_out(tmp_path):
    content = (bad_client(tmp_path, HEADER + GOOD_LINE)).read_text(encoding="utf-8")
    client = tmp_path / "...yaml"  # stem "..": its folder would be --out/..
    client.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    (tmp_path / "2024").mkdir()
    (tmp_path / "2024" / "keep.txt").write_text("not a report", encoding="utf-8")
    result = run_cli("run", str(client), "--out", str(out), "--period", "2024")
    assert result.returncode == 2
    assert "client file name '..'" in one_error(result)
    assert (tmp_path / "2024" / "keep.txt").is_file()


@pytest.mark.parametrize("name", ["comparison", ".failed", "..", "a/b", ""])
def test_reserved_or_unsafe_period_names_are_refused(tmp_path, name):
    client = bad_client(tmp_path, HEADER + GOOD_LINE, periods=[{"name": name, "as_of": "2025-01-01"}])
    result = run_cli("validate", str(client))
    assert result.returncode == 2
    assert "periods[0].name" in one_error(result)


def test_blank_salt_is_refused_and_a_short_one_warned(tmp_path):
    client = bad_client(tmp_path, HEADER + GOOD_LINE)
    result = run_cli("validate", str(client), "--period", "2024", salt=" ")
    assert result.returncode == 2
    assert "pseudonym salt (CRM_WORKBOOK_SALT) is blank" in one_error(result)
    result = run_cli("validate", str(client), "--period", "2024", salt="abc")
    assert result.returncode == 0, result.stderr
    assert "warning: the pseudonym salt has 3 characters: use at least 8" in result.stderr


@pytest.mark.parametrize(
    ("case", "command", "changes", "exit_code", "named"),
    [
        ("skip_rows text", "run", {"data__read_options": {"skip_rows": "two"}}, 2, "skip_rows must be"),
        ("threads negative", "run", {"engine__threads": -1}, 2, "engine.threads must be 0"),
        (
            "spill folder under a file",
            "run",
            {"engine__temp_directory": "/dev/null/spill"},
            2,
            "engine.temp_directory /dev/null/spill: cannot create the folder (a file is in the way)",
        ),
        (
            "window too long",
            "validate",
            {"periods": [{"name": "2024", "as_of": "2025-01-01", "window_days": 1000000000}]},
            2,
            "periods[0].window_days must be at most 36,525",
        ),
        (
            "as_of in year 1",
            "validate",
            {"periods": [{"name": "2024", "as_of": "0001-01-05"}]},
            2,
            "periods[0].as_of '0001-01-05' must lie between 1900-01-01",
        ),
    ],
)
def test_ordinary_faults_get_one_line_and_no_traceback(tmp_path, case, command, changes, exit_code, named):
    client = bad_client(tmp_path, HEADER + GOOD_LINE, **changes)
    result = run_cli(
        command,
        str(client),
        "--period",
        "2024",
        *(["--out", str(tmp_path / "r")] if command == "run" else []),
    )
    assert result.returncode == exit_code, (case, result.stderr)
    assert named in one_error(result), case


def test_latin1_client_file_is_named_as_not_utf8(tmp_path):
    client = bad_client(tmp_path, HEADER + GOOD_LINE)
    text = client.read_text(encoding="utf-8").replace("Sample Retail Ltd", "Caf\u00e9 Ltd")
    client.write_bytes(text.encode("latin-1"))
    result = run_cli("validate", str(client))
    assert result.returncode == 2
    assert "badclient.yaml: not UTF-8 text" in one_error(result)


def test_xlsx_that_is_a_csv_is_one_line(tmp_path):
    client = bad_client(tmp_path, HEADER + GOOD_LINE)
    content = yaml.safe_load(client.read_text(encoding="utf-8"))
    xlsx = tmp_path / "lines.xlsx"
    xlsx.write_text(HEADER + GOOD_LINE, encoding="utf-8")
    content["data"]["path"] = str(xlsx)
    client.write_text(yaml.safe_dump(content), encoding="utf-8")
    result = run_cli("run", str(client), "--period", "2024", "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    assert "lines.xlsx: not an Excel workbook" in one_error(result)


def test_out_that_cannot_be_written_is_one_line(tmp_path):
    client = bad_client(tmp_path, HEADER + GOOD_LINE)
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = run_cli("run", str(client), "--period", "2024", "--out", str(blocker / "reports"))
    assert result.returncode == 2
    assert "--out" in one_error(result) and "cannot write there" in one_error(result)
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes through permissions
        result = run_cli("run", str(client), "--period", "2024", "--out", str(read_only))
        assert result.returncode == 2 and "cannot write there" in one_error(result)


def test_both_reports_give_the_most_valuable_segments_interval_from_stage_05(sample_run):
    """The client report and stage 05's page state one interval, read from segment_value.parquet."""
    for period in ("2023", "2024"):
        table = pq.read_table(sample_run / period / "segment_value.parquet").to_pandas()
        top = table.iloc[0]
        assert top["clv"] == table["clv"].max() and top["clv_low"] <= top["clv"] <= top["clv_high"]
        low, high = outlook._short_money(top["clv_low"]), outlook._short_money(top["clv_high"])
        said = f"{html.escape(top['segment'])} are worth {low}-{high} GBP over the next 12 months"
        for page in ("09_client_report", "05_future_value"):
            assert said in (sample_run / period / f"{page}.client.html").read_text(encoding="utf-8"), page
