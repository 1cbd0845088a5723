"""environment.yml (conda) and pyproject.toml + constraints.txt (pip) describe the same environment."""

import re
import tomllib

import yaml

from analysis_utils import paths


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((paths.PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = [
        re.split(r"[\[<>=!~ ;]", d)[0]
        for d in project["dependencies"]
        + [d for extra in project["optional-dependencies"].values() for d in extra]
    ]
    pins = dict(
        line.split("==")
        for line in (paths.PROJECT_ROOT / "constraints.txt").read_text().split()
        if "==" in line
    )
    pins = {normalise(k): v for k, v in pins.items()}
    return {normalise(name): pins[normalise(name)] for name in names}


def conda_requirements() -> dict[str, str]:
    environment = yaml.safe_load((paths.PROJECT_ROOT / "environment.yml").read_text())
    entries = [d for d in environment["dependencies"] if isinstance(d, str) and not d.startswith("python=")]
    return {normalise(name): version for name, version in (entry.split("=", 1) for entry in entries)}


def test_environment_yml_and_pyproject_list_the_same_packages_at_the_same_versions():
    assert conda_requirements() == pip_requirements()


def test_every_direct_dependency_is_pinned_in_constraints():
    assert all(pip_requirements().values())
