"""Warm kernels: each worker process keeps one Jupyter kernel alive across the notebooks it runs.

Papermill still parameterises, executes and records every notebook; it is only handed the worker's
kernel manager (papermill passes ``km`` on to nbclient, which then neither starts nor stops the
kernel). The kernel imports the heavy libraries once (:data:`WARM_IMPORTS`) and records its state
(:func:`warm_up`); before each notebook it is put back into that state (:func:`restore_state`), so
that a notebook finds what a fresh kernel would give it: an empty namespace and execution count 1,
no open figure, the recorded matplotlib settings, working directory, environment, ``sys.path``,
warning filters, IPython event callbacks and display formatters, and newly seeded global random
generators (the notebooks seed their own generators). A notebook that fails, times out or kills
its kernel takes the kernel with it: the next notebook starts a new one. The kernel is shut down
when the worker process exits.

The module has two halves: functions run inside the kernel (:func:`warm_up`, :func:`restore_state`;
they import only what the kernel holds anyway) and the worker's side (:class:`WarmKernel`,
:func:`kernel_for`).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import importlib
import importlib.util
import json
import os
import queue
import sys
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

WARM_IMPORTS = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "duckdb",
    "ibis",
    "matplotlib.pyplot",
    "scipy.stats",
    "seaborn",
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.metrics",
    "sklearn.preprocessing",
)
"""Imported once when a kernel starts, with what the notebooks import (:func:`notebook_imports`) and
Ibis' DuckDB backend (which Ibis loads lazily)."""

HISTORY_IN_MEMORY = "--HistoryManager.hist_file=:memory:"  # as nbclient starts its kernels
START_TIMEOUT = 120.0  # seconds for a new kernel to start and import WARM_IMPORTS
RESTORE_TIMEOUT = 60.0  # seconds for restoring a kernel's state before a notebook
_IN_KERNEL = "__import__('analysis_utils.kernels').kernels.{}()"  # binds no name in the user namespace

_baseline: dict[str, Any] = {}  # inside a kernel: its state right after the warm-up


# --------------------------------------------------------------------------- inside the kernel


def warm_up() -> None:
    """Inside a new kernel: import :data:`WARM_IMPORTS` and :func:`notebook_imports`, then record the
    state notebooks start from. A module that fails to import is left to the notebook that needs it."""
    for name in (*WARM_IMPORTS, *notebook_imports()):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        sys.modules["ibis"].duckdb  # noqa: B018  (loads the backend, as a notebook's first connection does)
    # The inline backend hooks into IPython (figure display, formatters) when it is loaded, which
    # pyplot does at the first figure: load it now, so that the hooks are recorded and restored.
    plt = sys.modules["matplotlib.pyplot"]
    plt.switch_backend(plt.get_backend())
    _baseline.update(_snapshot())


def notebook_imports() -> list[str]:
    """The modules the project's notebooks import (``from package import name``: ``package.name``
    when that is a module, else ``package``), in the order they first appear."""
    from analysis_utils import paths

    modules: dict[str, None] = {}
    for notebook in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            try:
                tree = ast.parse("".join(cell["source"])) if cell["cell_type"] == "code" else None
            except SyntaxError:  # a cell with IPython magics
                continue
            for node in tree.body if tree else []:
                if isinstance(node, ast.Import):
                    modules.update(dict.fromkeys(alias.name for alias in node.names))
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = (f"{node.module}.{alias.name}" for alias in node.names)
                    modules.update(dict.fromkeys([node.module, *filter(_is_module, names)]))
    return list(modules)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # the parent is a module, not a package
        return False


def restore_state() -> None:
    """Inside a warm kernel: put back the state recorded by :func:`warm_up` (see the module's text)."""
    import random

    import ibis
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython import get_ipython

    shell = get_ipython()
    shell.reset(new_session=True)  # user namespace, In/Out history, execution count 1
    plt.close("all")
    os.chdir(_baseline["cwd"])
    os.environ.clear()
    os.environ.update(_baseline["environ"])
    sys.path[:] = _baseline["path"]
    warnings.filters[:] = _baseline["warning_filters"]
    warnings._filters_mutated()  # noqa: SLF001  (as warnings.resetwarnings does)
    with warnings.catch_warnings():  # the full copy holds deprecated keys, which warn when set
        warnings.simplefilter("ignore")
        matplotlib.rcParams.update(_baseline["rc"])
    for event, callbacks in _baseline["callbacks"].items():
        shell.events.callbacks[event][:] = callbacks
    for mime, printers in _baseline["formatters"].items():
        formatter = shell.display_formatter.formatters[mime]
        formatter.type_printers, formatter.deferred_printers = dict(printers[0]), dict(printers[1])
    ibis.options.default_backend = _baseline["ibis_backend"]
    random.seed()
    np.random.seed()  # noqa: NPY002  (fresh entropy, as a new process has)


def _snapshot() -> dict[str, Any]:
    import ibis
    import matplotlib
    from IPython import get_ipython

    shell = get_ipython()
    formatters = shell.display_formatter.formatters
    return {
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "path": list(sys.path),
        "warning_filters": list(warnings.filters),
        "rc": {key: value for key, value in matplotlib.rcParams.copy().items() if key != "backend"},
        "callbacks": {event: list(callbacks) for event, callbacks in shell.events.callbacks.items()},
        "formatters": {
            mime: (dict(f.type_printers), dict(f.deferred_printers)) for mime, f in formatters.items()
        },
        "ibis_backend": ibis.options.default_backend,
    }


# --------------------------------------------------------------------------- in the worker


class KernelStateError(RuntimeError):
    """Starting, warming or restoring a warm kernel failed (the kernel is then discarded)."""


class WarmKernel:
    """One started kernel of ``kernel_name`` through ``manager_class``, warmed up, reused.

    :meth:`manager` gives the kernel manager, clean, for papermill's next notebook (starting the
    kernel on first use or after :meth:`discard`); nbclient opens a client of its own for each
    notebook, which :meth:`manager` closes before the next one.
    """

    def __init__(self, kernel_name: str, manager_class: type) -> None:
        self.kernel_name = kernel_name
        self.manager_class = manager_class
        self._km: Any = None
        self._kc: Any = None  # the worker's own client: shell channel only
        self._handed_out: list[Any] = []

    def manager(self) -> Any:
        """The kernel manager of a live kernel in its warm-up state (a kernel that died or cannot
        be restored is replaced by a new one)."""
        from jupyter_core.utils import run_sync

        self._close_handed_out()
        if self._km is not None and run_sync(self._km.is_alive)():
            try:
                self._run(_IN_KERNEL.format(restore_state.__name__), RESTORE_TIMEOUT)
                return self._km
            except KernelStateError:
                pass
        self.discard()
        self._start()
        return self._km

    def discard(self) -> None:
        """Shut the kernel down (if any); the next :meth:`manager` starts a new one."""
        from jupyter_core.utils import run_sync

        self._close_handed_out()
        km, kc, self._km, self._kc = self._km, self._kc, None, None
        if kc is not None:
            kc.stop_channels()
        if km is not None:
            with contextlib.suppress(Exception):  # already dead, or dying: nothing left to stop
                run_sync(km.shutdown_kernel)(now=False)

    def _start(self) -> None:
        from jupyter_core.utils import run_sync

        self._km = self.manager_class(kernel_name=self.kernel_name)
        handed_out = self._handed_out
        create_client = self._km.client

        def client(**kwargs: Any) -> Any:  # nbclient's client for one notebook, closed after it
            handed_out.append(create_client(**kwargs))
            return handed_out[-1]

        self._km.client = client
        run_sync(self._km.start_kernel)(extra_arguments=[HISTORY_IN_MEMORY])
        own_session = self._km.session.clone()  # a shell socket identity of its own: the kernel
        own_session.session = uuid.uuid4().hex  # routes replies by it, and nbclient's clients share the km's
        self._kc = create_client(session=own_session)
        self._kc.start_channels(iopub=False, stdin=False, hb=False, control=False)
        try:
            self._run(_IN_KERNEL.format(warm_up.__name__), START_TIMEOUT)
        except KernelStateError:
            self.discard()
            raise

    def _run(self, code: str, timeout: float) -> None:
        """Execute ``code`` silently (no output, no history, no execution count); raise on error."""
        from jupyter_core.utils import run_sync

        msg_id = self._kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        try:
            while True:
                reply = run_sync(self._kc.get_shell_msg)(timeout=timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        except queue.Empty:
            raise KernelStateError(f"kernel {self.kernel_name}: no answer in {timeout:.0f} s") from None
        content = reply["content"]
        if content["status"] != "ok":
            ename, evalue = content.get("ename", "error"), content.get("evalue", "")
            raise KernelStateError(f"kernel {self.kernel_name}: {ename}: {evalue}")

    def _close_handed_out(self) -> None:
        while self._handed_out:
            self._handed_out.pop().stop_channels()


_kernels: dict[tuple[str, type], WarmKernel] = {}  # this process's warm kernels


@contextlib.contextmanager
def kernel_for(kernel_name: str, manager_class: type, warm: bool = True) -> Iterator[dict[str, Any]]:
    """Papermill's engine arguments for one notebook: this process's warm kernel (``{"km": ...}``),
    or none (``{}``: papermill starts a fresh kernel through ``kernel_manager_class``) when
    ``warm`` is false. A notebook that raises (failed cell, timeout, dead kernel) discards the
    warm kernel: the next notebook gets a new one."""
    if not warm:
        yield {}
        return
    kernel = _kernels.setdefault((kernel_name, manager_class), WarmKernel(kernel_name, manager_class))
    try:
        yield {"km": kernel.manager()}
    except BaseException:
        kernel.discard()
        raise


def shutdown() -> None:
    """Shut down every warm kernel of this process (also run when the process exits)."""
    while _kernels:
        _kernels.popitem()[1].discard()


atexit.register(shutdown)
