"""A broken catalogue, experiments, generator file or setting stops the action server at
start-up with one line: `voltmart-actions --check` runs the same start-up as the server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

SECRETS = str(ROOT / "var" / "pytest" / "startup-secrets")  # never the development ones
CATALOGUE = (ROOT / "responses" / "catalogue.yml").read_text()
EXPERIMENTS = (ROOT / "experiments" / "experiments.yml").read_text()
PERSONAS_LINE = 1 + next(  # errors name the line where the experiment starts
    i for i, line in enumerate(EXPERIMENTS.splitlines()) if "key: reco-intro" in line
)


def start(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actionserver", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PZ_SECRETS_DIR": SECRETS, **env},
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
            f"line {PERSONAS_LINE}: experiment 'reco-intro': unknown personas wizard",
        ),
        ("PZ_EXPERIMENTS_FILE", "e.yml", EXPERIMENTS + "\n  warmup: many\n", "bandit"),
        (
            "PZ_ENDPOINTS_FILE",
            "endpoints.yml",
            "generator: {enabled: true, url: ftp://x, model: m}\n",
            "generator.url",
        ),
        (
            "PZ_ENDPOINTS_FILE",
            "endpoints.yml",
            "generator: {enabled: true, url: 'http://x/v1', model: m, budget_ms: {web: 1900}}\n",
            "generator.budget_ms.web=1900",
        ),
        ("PZ_REDIS_TIMEOUT_MS", None, "1900", "deadlines must nest: PZ_REDIS_TIMEOUT_MS=1900"),
    ],
    ids=[
        "invalid YAML",
        "undefined variable",
        "unknown persona",
        "bad bandit",
        "bad generator",
        "generator slower than the action",
        "misordered deadlines",
    ],
)
def test_broken_configuration_exits_with_one_line_naming_the_file(
    tmp_path, variable, name, text, expected
):
    if name is None:  # a setting, not a file
        result, where = start({variable: text}), ""
    else:
        path = tmp_path / name
        path.write_text(text)
        result, where = start({variable: str(path)}), str(path)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2
    assert last.startswith("Error: ") and expected in last, result.stderr[-2000:]
    assert where in last and "Traceback" not in result.stderr


def test_the_shipped_configuration_starts():
    result = start({})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "action server configuration ok"
