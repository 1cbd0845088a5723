"""Refresh the outputs that nbval compares: ``python -m analysis_utils.notebook_checks``.

Notebooks are committed without outputs, except code cells marked ``# NBVAL_CHECK_OUTPUT``:
they keep the output of a run on the bundled sample, and ``pytest --nbval-lax`` fails when a
later run prints something else. Run this after a deliberate change to the sample or to a
definition, and review the diff of those cells before committing.
"""

from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient

from analysis_utils import context, paths

CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """A code cell whose output nbval compares."""
    return cell.cell_type == "code" and CHECK_MARKER in cell.source


def keep_check_outputs(executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Copy of an executed notebook with outputs and counts only in check cells."""
    cleaned = nbformat.from_dict(executed)
    for cell in cleaned.cells:
        if cell.cell_type != "code":
            continue
        if is_check_cell(cell):
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
        else:
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    cleaned.metadata.pop("papermill", None)
    return cleaned


def refresh(notebook_name: str) -> None:
    """Execute one notebook on its defaults and store its check-cell outputs in place."""
    path = paths.NOTEBOOKS_DIR / notebook_name
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}  # run from the notebook's folder, as nbval does
    NotebookClient(notebook, kernel_name="python3", resources=resources).execute()
    nbformat.write(keep_check_outputs(notebook), path)


def main(argv: list[str] | None = None) -> int:
    names = argv or sorted(p.name for p in paths.NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
    context.clear_scratch()  # outputs of the current code, not of artifacts left by an older run
    for name in names:
        refresh(name)
        print(f"refreshed {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
