"""Warm kernels (analysis_utils.kernels): fresh kernels' results, and no state left between notebooks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml
from helpers import run_cli
from nbformat.v4 import new_code_cell, new_notebook

from analysis_utils import kernels
from analysis_utils.execution import IPCKernelManager
from analysis_utils.notebook_checks import is_check_cell

# What differs between any two runs, fresh kernels or not: the random id of each pandas Styler table,
# and the memory address in an object's plain-text form.
VOLATILE = re.compile(r"T_[0-9a-f]{5}| at 0x[0-9a-f]+")


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample job as ``sample_run`` runs it, but with a fresh kernel for every notebook."""
    out = tmp_path_factory.mktemp("fresh-kernels")
    result = run_cli(
        "run", "params/clients/sample.yaml", "--out", str(out), "--jobs", "2", "-p", "run.warm_kernels=false"
    )
    assert result.returncode == 0, result.stderr
    return out / "sample"


def data_artifacts(client_dir: Path) -> dict[str, bytes]:
    """Every Parquet and JSON file of a client's runs but the manifests (which hold timings)."""
    files = [*client_dir.glob("*/**/*.parquet"), *client_dir.glob("*/**/*.json")]
    return {str(f.relative_to(client_dir)): f.read_bytes() for f in files if f.name != "manifest.json"}


def cell_outputs(notebook: Path) -> list[tuple[int | None, list, str | None]]:
    """Per code cell of an executed notebook: its count, the kind of each output (a figure, a table,
    printed text), and for a cell that nbval checks, the outputs themselves.

    Other cells may show what differs between any two runs (the run's folder; rows that tie in a
    sort), so only their kinds of output are compared.
    """
    compared = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            outputs = merged_streams(cell.outputs)
            kinds = [(o["output_type"], o.get("name"), sorted(o.get("data", {}))) for o in outputs]
            checked = VOLATILE.sub("", json.dumps(outputs, sort_keys=True)) if is_check_cell(cell) else None
            compared.append((cell.execution_count, kinds, checked))
    return compared


def merged_streams(outputs: list) -> list[dict]:
    """Outputs with consecutive printed text of one stream joined, as nbval compares them (the kernel
    sends printed text in chunks that depend on timing)."""
    merged: list[dict] = []
    for output in outputs:
        previous = merged[-1] if merged else {}
        if output["output_type"] == "stream" and previous.get("name") == output.get("name"):
            previous["text"] += output["text"]
        else:
            merged.append(dict(output))
    return merged


def test_the_session_sample_run_used_warm_kernels(sample_run: Path) -> None:
    for params_file in sample_run.glob("*/params.yaml"):
        assert yaml.safe_load(params_file.read_text(encoding="utf-8"))["run"]["warm_kernels"] is True


def test_warm_and_fresh_kernels_write_byte_identical_artifacts(sample_run: Path, fresh_run: Path) -> None:
    warm, fresh = data_artifacts(sample_run), data_artifacts(fresh_run)
    assert len(warm) > 20
    assert sorted(warm) == sorted(fresh)
    assert [name for name in warm if warm[name] != fresh[name]] == []


def test_warm_and_fresh_kernels_show_the_same_outputs(sample_run: Path, fresh_run: Path) -> None:
    notebooks = sorted(p.relative_to(sample_run) for p in sample_run.glob("*/*.ipynb"))
    assert notebooks == sorted(p.relative_to(fresh_run) for p in fresh_run.glob("*/*.ipynb"))
    for name in notebooks:
        warm, fresh = cell_outputs(sample_run / name), cell_outputs(fresh_run / name)
        assert any(checked is not None for _, _, checked in warm), f"{name}: nbval checks no cell"
        differing = [index for index, (w, f) in enumerate(zip(warm, fresh, strict=True)) if w != f]
        assert differing == [], f"{name}: code cells {differing} differ"


# --------------------------------------------------------------------------- isolation, in process


@pytest.fixture
def notebook(tmp_path: Path):
    """Write a throwaway notebook of the given code cells (after a tagged parameters cell)."""

    def write(name: str, *sources: str) -> Path:
        cells = [new_code_cell("label = ''", metadata={"tags": ["parameters"]})]
        cells += [new_code_cell(source) for source in sources]
        spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": spec}), path)
        return path

    return write


@pytest.fixture
def warm_kernel() -> Iterator[None]:
    """This test process's warm kernel, shut down after the test."""
    yield
    kernels.shutdown()


def execute(path: Path, label: str = "") -> nbformat.NotebookNode:
    """Run a notebook through papermill on this process's warm kernel, as the runner does."""
    with kernels.kernel_for("python3", IPCKernelManager) as kernel:
        return pm.execute_notebook(
            str(path),
            str(path.with_suffix(".out.ipynb")),
            parameters={"label": label},
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=120,
            **kernel,
        )


def printed(executed: nbformat.NotebookNode | Path) -> list[str]:
    """The lines an executed notebook (or its file) printed."""
    if isinstance(executed, Path):
        executed = nbformat.read(executed, as_version=4)
    outputs = [o for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stdout"]
    return "".join(o.text for o in outputs).splitlines()


def test_a_variable_of_one_notebook_is_not_visible_in_the_next(notebook, warm_kernel) -> None:
    first = notebook(
        "first",
        "secret = 42\nimport os\nos.chdir('/')\nos.environ['CRM_LEAK'] = label\nprint(os.getpid())",
        "import matplotlib.pyplot as plt\nplt.rcParams['lines.linewidth'] = 9\nplt.plot([1, 2]);",
    )
    second = notebook(
        "second",
        "import os\nprint(os.getpid())\nprint("
        "'secret' in dir(), os.getcwd() == '/', 'CRM_LEAK' in os.environ)",
        "import matplotlib.pyplot as plt\nprint(plt.rcParams['lines.linewidth'], plt.get_fignums())",
        "plt.plot([1, 2]);",
    )
    ran_first, ran_second = execute(first, "leak"), execute(second)
    first_pid, second_pid, namespace, matplotlib_state = printed(ran_first) + printed(ran_second)
    assert first_pid == second_pid  # one kernel for both
    assert namespace == "False False False"
    assert matplotlib_state == "1.5 []"
    assert [c.execution_count for c in ran_second.cells] == [1, 2, 3, 4, 5]  # parameters, injected, 3 cells
    assert [o.output_type for o in ran_second.cells[-1].outputs] == ["display_data"]  # a figure, shown


def test_a_failing_notebook_does_not_poison_the_next(notebook, warm_kernel) -> None:
    failing = notebook("failing", "import os\nleft = 'behind'\nprint(os.getpid())", "raise ValueError('x')")
    after = notebook("after", "import os\nprint(os.getpid(), 'left' in dir())")
    with pytest.raises(pm.PapermillExecutionError, match="ValueError"):
        execute(failing)
    (failed_pid,) = printed(failing.with_suffix(".out.ipynb"))
    pid, leftover = printed(execute(after))[0].split()
    assert pid != failed_pid  # the failed notebook's kernel was replaced
    assert leftover == "False"
