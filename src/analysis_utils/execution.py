"""Executing one stage notebook with Papermill: the single way a stage is computed.

The runner executes each stage of its graph through :func:`execute_notebook`; so does a notebook
run stand-alone (JupyterLab, nbval) when an artifact it reads is missing from its folder
(:meth:`analysis_utils.context.RunContext.require`): the stages writing it are executed there
first, as the runner would, rather than recomputed by a second code path.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import papermill as pm
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from analysis_utils import kernels, paths
from analysis_utils.errors import StageError

KERNEL_PORT_CLASH = "Address already in use"


class IPCKernelManager(AsyncKernelManager):
    """Kernels talk over local IPC sockets instead of TCP ports, and keep their process quiet.

    Parallel runs then cannot pick the same port (papermill issue 511). What a cell prints
    reaches the notebook over the kernel protocol; the kernel process's own stdout and stderr
    (start-up and shutdown chatter of the kernel and of native libraries) would only clutter
    the command line, so they are discarded.
    """

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        await super()._async_launch_kernel(kernel_cmd, **kw)

    _launch_kernel = _async_launch_kernel

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        """A socket-file prefix of its own: the shared default would let two kernels collide."""
        return str(Path(tempfile.gettempdir()) / f"crm-workbook-kernel-{uuid.uuid4().hex}")


def execute_notebook(
    notebook: str, target: Path, parameters: dict[str, Any], kernel: str, timeout: int, warm: bool = True
) -> float:
    """Execute ``notebooks/<notebook>`` with ``parameters`` into ``target``; seconds taken.

    ``kernel``: the Jupyter kernel (``run.kernel``); ``timeout``: seconds a cell may run; ``warm``:
    on this process's warm kernel (:mod:`analysis_utils.kernels`), else on a fresh one. A kernel
    port clash (a TCP kernel) is retried once. Raises StageError naming the notebook when a
    parameter is not declared by its parameters cell (papermill would only warn, and the notebook
    would run on its defaults) or a cell fails.
    """
    started = time.perf_counter()
    source = paths.NOTEBOOKS_DIR / notebook
    unknown = set(parameters) - set(pm.inspect_notebook(str(source)))
    if unknown:
        raise StageError(f"{notebook}: parameters cell does not declare {', '.join(sorted(unknown))}")
    for attempt in (1, 2):
        try:
            with kernels.kernel_for(kernel, IPCKernelManager, warm=warm) as manager:
                pm.execute_notebook(
                    str(source),
                    str(target),
                    parameters=parameters,
                    kernel_name=kernel,
                    execution_timeout=timeout,
                    progress_bar=False,
                    log_output=False,
                    kernel_manager_class=IPCKernelManager,
                    **manager,  # this process's warm kernel, or none: papermill starts a fresh one
                )
            break
        except pm.PapermillExecutionError as err:
            evalue = " ".join(str(err.evalue).split())
            raise StageError(f"{notebook} cell {err.exec_count} failed with {err.ename}: {evalue}") from None
        except RuntimeError as err:  # kernel start-up failures, should a TCP kernel be configured
            if KERNEL_PORT_CLASH not in str(err) or attempt == 2:
                raise
    return round(time.perf_counter() - started, 3)
