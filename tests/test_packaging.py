"""What pyproject.toml and the two lock files promise: the declared dependencies are the ones
installed, every console script starts, and the runtime lock holds no test tool."""

from __future__ import annotations

import importlib
import subprocess
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from tests.servers import ROOT, VENV_BIN

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def locked(name: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    pins = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {package.lower().replace("_", "-"): version for package, version in pins}


@pytest.mark.parametrize("spec", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"])
def test_every_declared_dependency_is_installed_within_its_range(spec):
    requirement = Requirement(spec)
    installed = metadata.version(requirement.name)
    assert requirement.specifier.contains(installed, prereleases=True), (spec, installed)


def test_the_locks_pin_what_pyproject_declares_and_keep_tools_out_of_runtime():
    runtime, dev = locked("runtime.txt"), locked("dev.txt")
    assert not runtime.keys() & dev.keys()
    for spec in PROJECT["dependencies"]:
        name = Requirement(spec).name.lower()
        assert name in runtime, f"{name} is declared but not in requirements/runtime.txt"
    for spec in PROJECT["optional-dependencies"]["dev"]:
        name = Requirement(spec).name.lower()
        assert name in dev, f"{name} is a dev tool but not in requirements/dev.txt"


@pytest.mark.parametrize("name", sorted(PROJECT["scripts"]))
def test_every_console_script_is_installed_and_answers_help(name):
    module, _, function = PROJECT["scripts"][name].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    done = subprocess.run(
        [str(VENV_BIN / name), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
