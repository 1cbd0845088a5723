"""The package's layers as docs/architecture.md draws them, and imports that point one way.

The ``src/analysis_utils/`` block of the architecture document lists every module under its layer
(``[foundation]``, ``[data]``, ``[models]``, ``[pages]``, ``[running]``, bottom up). A module may import
from its own layer and the layers listed before it, never from a later one, and no import ring may
join modules (not even through a lazy import inside a function). Imports under ``if TYPE_CHECKING``
are annotations only and do not count.
"""

from __future__ import annotations

import graphlib
import re
from pathlib import Path

import pytest

from analysis_utils import paths, stages

PACKAGE = Path(stages.__file__).parent
DOCUMENT = paths.PROJECT_ROOT / "docs" / "architecture.md"
LAYER = re.compile(r"^  \[(\w+)\]")
MODULE = re.compile(r"^  (\w+)\.py(\s|$)")


def declared_layers(text: str) -> dict[str, tuple[int, str]]:
    """Module name -> (layer index, layer name), from the ``src/analysis_utils/`` block of ``text``."""
    lines = text.split("src/analysis_utils/", 1)[1].splitlines()[1:]
    layers: list[str] = []
    modules: dict[str, tuple[int, str]] = {}
    for line in lines:
        if line and not line.startswith(" "):
            break  # the next top-level folder of the layout
        if match := LAYER.match(line):
            layers.append(match.group(1))
        elif match := MODULE.match(line):
            name = match.group(1)
            assert name not in modules, f"{name}.py is listed twice in {DOCUMENT.name}"
            assert layers, f"{name}.py is listed before the first layer in {DOCUMENT.name}"
            modules[name] = (len(layers) - 1, layers[-1])
    return modules


def import_graph() -> dict[str, set[str]]:
    return {
        path.stem: stages.package_imports(path.read_text(encoding="utf-8")) - {path.stem}
        for path in PACKAGE.glob("*.py")
    }


@pytest.fixture(scope="module")
def layers() -> dict[str, tuple[int, str]]:
    return declared_layers(DOCUMENT.read_text(encoding="utf-8"))


def test_the_document_lists_every_module_of_the_package_once(layers):
    assert set(layers) == {path.stem for path in PACKAGE.glob("*.py")}


def test_the_layers_are_the_five_of_the_design(layers):
    order = [name for _, name in sorted(set(layers.values()))]
    assert order == ["foundation", "data", "models", "pages", "running"]


def test_no_module_imports_from_a_layer_above_its_own(layers):
    upward = [
        f"{module} ({layers[module][1]}) imports {imported} ({layers[imported][1]})"
        for module, imported_modules in import_graph().items()
        for imported in sorted(imported_modules)
        if layers[imported][0] > layers[module][0]
    ]
    assert not upward


def test_no_modules_import_each_other():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import ring: {' -> '.join(err.args[1])}")


def test_the_checks_see_an_upward_import_and_a_ring():
    text = "src/analysis_utils/\n  [low]\n  a.py   first\n  [high]\n  b.py   second\ndata/\n"
    assert declared_layers(text) == {"a": (0, "low"), "b": (1, "high")}
    ring = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(ring).static_order())
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from analysis_utils import runner\n"
    lazy = "def f():\n    from analysis_utils import runner\n"
    assert stages.package_imports(source) == set() and stages.package_imports(lazy) == {"runner"}
