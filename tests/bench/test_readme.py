"""`make bench` rewrites the README's summary table from the result files, and only it."""

from __future__ import annotations

import json

from bench import readme

TURNS = {
    "machine": {"date": "2026-11-30T12:00:00+00:00", "cpus": 2},
    "command": "python -m bench.turns",
    "ratios": {
        "personalized_vs_response_only_p50": 1.12,
        "personalized_vs_response_only_p99": 1.41,
        "personalized_vs_stock_throughput": 4.2,
    },
    "latency": {
        k: {"p50_ms": 10.0, "p99_ms": 20.0, "rasa_cpu_ms_per_turn": c}
        for k, c in (("response_only", 9.0), ("personalized", 10.0), ("stock", 40.0))
    },
    "throughput": {k: {"throughput_rps": v} for k, v in (("personalized", 84.0), ("stock", 20.0))},
}


def test_table_between_the_markers_is_replaced_and_the_rest_kept(tmp_path):
    (tmp_path / "turns.json").write_text(json.dumps(TURNS))
    (tmp_path / "realtime.json").write_text(json.dumps({"machine": {}, "oops": 1}))  # old format
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{readme.START}\n| stale |\n{readme.END}\noutro\n")
    assert readme.refresh(page, tmp_path)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale" not in text
    assert "| 1.12x / 1.41x (10.0 / 20.0 ms) | ≤ 1.3x: **not met** | 2026-11-30, 2 cores |" in text
    assert "4.2x (84.0 vs 20.0 msg/s) | ≥ 4x: met" in text
    assert "9.0 / 10.0 / 40.0 ms" in text
    assert "feature worker" not in text  # unreadable file: row left out, no crash
    assert readme.refresh(page, tmp_path) and page.read_text() == text  # idempotent


def test_a_readme_without_markers_is_left_alone(tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text("no markers here\n")
    assert not readme.refresh(page, tmp_path)
    assert page.read_text() == "no markers here\n"
    assert "markers" in capsys.readouterr().err
