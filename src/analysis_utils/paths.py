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


def resolve(path: str | Path) -> Path:
    """Return ``path`` as an absolute path; relative paths are taken from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
