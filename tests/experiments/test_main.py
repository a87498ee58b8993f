"""`python -m experiments` runs the report CLI, and unwritable outputs fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = """experiments:
  - key: reco
    response: recommend
    variants: {base: 0.5, savings: 0.5}
    conversion: {feedback: positive}
"""


def test_module_entry_point_reports(redis_url, client, ns, cli, tmp_path):
    client.hset(f"{ns}:exp:reco:exposed", mapping={"u1": "base", "u2": "savings", "u3": "savings"})
    client.hset(f"{ns}:exp:reco:conv", mapping={"u2": "1700000000"})
    (tmp_path / "e.yml").write_text(SPEC)
    common = ["--redis-url", redis_url, "--namespace", ns, "--experiments", str(tmp_path / "e.yml")]
    result = cli(
        "report",
        *common,
        *("--out", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")),
        module="experiments",
    )
    assert result.returncode == 0, result.stderr
    base, savings = json.loads((tmp_path / "r.json").read_text())["experiments"][0]["variants"]
    assert (base["users"], savings["users"], savings["conversions"]) == (1, 2, 1)


@pytest.mark.parametrize("target", ["out", "json"])
def test_unwritable_output_is_one_line_and_non_zero(redis_url, ns, cli, tmp_path, target):
    (tmp_path / "e.yml").write_text(SPEC)
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a file where a directory is needed
    paths = {"out": str(tmp_path / "r.html"), "json": str(tmp_path / "r.json")}
    paths[target] = str(blocker / "r.x")
    result = cli(
        "report",
        *("--redis-url", redis_url, "--namespace", ns, "--experiments", str(tmp_path / "e.yml")),
        *("--out", paths["out"], "--json", paths["json"]),
        module="experiments",
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: cannot write") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
