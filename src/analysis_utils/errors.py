"""Typed errors whose message is the one line the command line prints.

Expected problems (bad parameters, bad input data, a failed stage) raise one of these;
the CLI prints ``error: <message>`` and exits non-zero without a traceback.
Anything else is a bug and keeps its traceback.
"""


class CrmError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    exit_code = 1

    def __str__(self) -> str:  # keep the message on one line whatever the caller passed
        return " ".join(str(self.args[0] if self.args else "").split())


class ConfigError(CrmError):
    """Parameters are wrong: unknown key, wrong type, missing file, bad period."""

    exit_code = 2


class DataError(CrmError):
    """The input data cannot be analysed: missing column, unparseable values, nothing left."""

    exit_code = 1


class StageError(CrmError):
    """A stage notebook failed while running; names the notebook, the cell and where it was kept."""

    exit_code = 1


class WriteError(CrmError):
    """A file could not be written: full disk, no permission, read-only file system."""

    exit_code = 1


def write_error(err: OSError, path: object) -> WriteError:
    """The one line for a failed write: the cause, its number and the file (``path`` when the
    system names none, as when the disk fills up while a file is flushed)."""
    cause = err.strerror or type(err).__name__
    number = f" (errno {err.errno})" if err.errno else ""
    return WriteError(f"{cause}{number} writing {err.filename or path}")
