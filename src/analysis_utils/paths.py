"""Every project path, anchored on this file so notebooks work from any working directory."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PARAMS_DIR = PROJECT_ROOT / "params"
DEFAULTS_FILE = PARAMS_DIR / "defaults.yaml"
CLIENTS_DIR = PARAMS_DIR / "clients"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
DATA_DIR = PROJECT_ROOT / "data"
SAMPLE_DIR = DATA_DIR / "sample"
RAW_DIR = DATA_DIR / "raw"
REPORTS_DIR = PROJECT_ROOT / "reports"
TRUTH_FILE_NAME = "customer_types.csv"  # planted customer types beside a synthetic data file
EXPORTS_FOLDER = "exports"  # the CRM team's customer lists in a period folder (exports.FOLDER)


def resolve(path: str | Path) -> Path:
    """Return ``path`` as an absolute path; relative paths are taken from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


RESERVED_FOLDER_NAMES = ("comparison",)
"""Folder names a client's reports folder uses for itself (compared without case): no client or
period may take them. Names starting with ``.`` (``.failed``, staging folders) are refused anyway."""


def folder_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a reports folder (a client's or a period's), or None when it can.

    The one rule for both: text of letters, digits, ``.``, ``_`` and ``-`` that starts with a
    letter or a digit (so no path separator, not empty, not ``.`` or ``..``, not hidden), and not
    a reserved name (:data:`RESERVED_FOLDER_NAMES`).
    """
    if not isinstance(name, str) or not name:
        return "must be non-empty text"
    if not name[0].isascii() or not name[0].isalnum():
        return "must start with a letter or a digit (no '.', path separator or space)"
    if any(not (c.isascii() and (c.isalnum() or c in "._-")) for c in name):
        return "may hold only letters, digits, '.', '_' and '-' (no path separator or space)"
    if name.lower() in RESERVED_FOLDER_NAMES:
        return f"is reserved ({', '.join(RESERVED_FOLDER_NAMES)} is a folder of the reports)"
    return None


def inside(target: Path, folder: Path) -> bool:
    """Whether ``target``, resolved (symbolic links and ``..`` followed), lies strictly inside ``folder``."""
    target, folder = Path(target).resolve(), Path(folder).resolve()
    return target != folder and target.is_relative_to(folder)
