# crm-workbook: thin targets; each calls the command line or pytest inside .venv.
# Needs only Python 3.11+, make and git (and Java 17 for the Spark tests, which skip without it). The environment is built once from the pinned
# constraints and rebuilt only when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLIENT ?= params/clients/sample.yaml
JOBS ?= 2

.PHONY: report test lab sample bench notebook-checks lint clean

report: $(STAMP) sample  ## run every stage for the sample client (CLIENT=... for another) and print the report path
	$(BIN)/crm-workbook run $(CLIENT) --jobs $(JOBS)

test: $(STAMP) sample  ## every test: unit, property, end-to-end, real data when present, nbval over notebooks/
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env -p no:cacheprovider

lab: $(STAMP) sample  ## JupyterLab on the notebooks with the project kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks

sample: $(STAMP)  ## (re)write data/sample when missing or out of date
	$(BIN)/crm-workbook sample

bench: $(STAMP)  ## stage benchmarks (minutes; generates data under data/bench); tables go to docs/benchmarks.md
	for script in tests/benchmarks/bench_*.py; do $(BIN)/python $$script --write || exit 1; done

notebook-checks: $(STAMP) sample  ## refresh the stored outputs that nbval compares (after a deliberate change)
	$(BIN)/python -m analysis_utils.notebook_checks

lint: $(STAMP)
	$(BIN)/ruff check src tests && $(BIN)/ruff format --check src tests

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,spark]"
	$(BIN)/python -m ipykernel install --sys-prefix --name crm-workbook --display-name "Python (crm-workbook)" >/dev/null
	touch $(STAMP)

clean:  ## remove the environment and generated outputs (never data/raw)
	rm -rf $(VENV) reports/* data/sample/*.csv data/sample/*.json
