"""The notebooks stay thin, reviewable narratives that the runner can drive."""

from __future__ import annotations

import ast

import nbformat
import papermill as pm
import pytest

from analysis_utils import paths
from analysis_utils.notebook_checks import is_check_cell
from analysis_utils.runner import COMPARISON_NOTEBOOK, STAGE_NOTEBOOKS

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
RUNNER_PARAMETERS = {"client_params", "period", "run_dir", "overrides"}
COMPARISON_PARAMETERS = {"client_params", "reports_dir", "run_dir", "overrides"}


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_stage_notebook_exists():
    assert {p.name for p in NOTEBOOKS} >= {*STAGE_NOTEBOOKS, COMPARISON_NOTEBOOK}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_tagged_parameters_cell(path):
    first = code_cells(path)[0]
    assert "parameters" in first.metadata.get("tags", [])
    expected = COMPARISON_PARAMETERS if path.name == COMPARISON_NOTEBOOK else RUNNER_PARAMETERS
    assert set(pm.inspect_notebook(str(path))) == expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_helper_is_defined_in_a_notebook(path):
    for cell in code_cells(path):
        tree = ast.parse(cell.source)
        defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
        assert not defined, f"{path.name}: move {type(defined[0]).__name__} into analysis_utils"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_checked_cells_carry_outputs(path):
    cells = code_cells(path)
    assert any(is_check_cell(c) for c in cells), "at least one key count must be compared by nbval"
    for cell in cells:
        if is_check_cell(cell):
            assert cell.outputs, "run `make notebook-checks` to store the expected output"
        else:
            assert not cell.outputs and cell.execution_count is None
