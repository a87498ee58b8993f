"""A broken catalogue, experiments or generator file stops the action server at start-up.

rasa-sdk imports every module of the package at start-up, including
actions/startup.py, whose import runs the check; a subprocess does the same here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

CATALOGUE = (ROOT / "responses" / "catalogue.yml").read_text()
EXPERIMENTS = (ROOT / "experiments" / "experiments.yml").read_text()


def start(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import actions.startup"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


@pytest.mark.parametrize(
    "variable, name, text, expected",
    [
        ("PZ_RESPONSES_FILE", "c.yml", CATALOGUE.replace("responses:", "responses: ["), "line"),
        (
            "PZ_RESPONSES_FILE",
            "c.yml",
            CATALOGUE.replace("Popular {category}:", "Popular {oops}:"),
            "undefined variable {oops}",
        ),
        (
            "PZ_EXPERIMENTS_FILE",
            "e.yml",
            EXPERIMENTS.replace("personas: [bargain_hunter,", "personas: [wizard,"),
            "line 18: experiment 'reco-intro': unknown personas wizard",
        ),
        ("PZ_EXPERIMENTS_FILE", "e.yml", EXPERIMENTS + "\n  warmup: many\n", "bandit"),
        (
            "PZ_ENDPOINTS_FILE",
            "endpoints.yml",
            "generator: {enabled: true, url: ftp://x, model: m}\n",
            "generator.url",
        ),
    ],
    ids=["invalid YAML", "undefined variable", "unknown persona", "bad bandit", "bad generator"],
)
def test_broken_configuration_exits_with_one_line_naming_the_file(
    tmp_path, variable, name, text, expected
):
    path = tmp_path / name
    path.write_text(text)
    result = start({variable: str(path)})
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert last.startswith(f"Error: {path}") and expected in last, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_the_shipped_configuration_starts():
    result = start({})
    assert result.returncode == 0, result.stderr[-2000:]
