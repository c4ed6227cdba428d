"""Set-up: environment.yml builds the same environment as pyproject.toml (dependencies + course extra)."""
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _by_name(requirements):
    parsed = [Requirement(r) for r in requirements]
    by_name = {r.name.lower().replace("_", "-"): (r.specifier, r.marker) for r in parsed}
    assert len(by_name) == len(parsed), f"a package is named twice in {requirements}"
    return by_name


def test_environment_yml_names_the_same_packages_and_versions_as_pyproject():
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["course"]
    conda = _conda()["dependencies"]
    pip_lists = [d["pip"] for d in conda if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should install the Python packages in one pip section"
    pip = [r for r in pip_lists[0] if not r.startswith("-e")]
    assert _by_name(pip) == _by_name(wanted)


def test_environment_yml_installs_fedlab_itself_and_a_supported_python():
    conda = _conda()["dependencies"]
    pip = next(d["pip"] for d in conda if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip
    python = next(d for d in conda if isinstance(d, str) and d.startswith("python"))
    version = python.split("=", 1)[1]
    assert version in SpecifierSet(_pyproject()["project"]["requires-python"])
    assert "pip" in conda
