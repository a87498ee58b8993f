"""What analysts expect of a command line: help for every option, exit codes that say whose
fault it was, progress bars on long steps, and --quiet."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import struct
import termios
import uuid
from pathlib import Path

import pandas as pd
import pytest
import redis

from segmentation.cli import COMMANDS, main
from segmentation.cli_parser import parser
from segmentation.config import (
    FeaturesConfig,
    PublishConfig,
    RedisTarget,
    ReportConfig,
    SelectConfig,
    TrainConfig,
    TransactionColumns,
)
from segmentation.pipeline import (
    Console,
    export_events,
    make_features,
    publish_model,
    report_model,
    select_model,
    train_model,
)
from segmentation.progress import bars, steps

KEY = b"k" * 32


def test_every_option_of_every_subcommand_has_help():
    root = parser(COMMANDS)
    (sub,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    parsers = {"segment": root, **{f"segment {name}": p for name, p in sub.choices.items()}}
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, p in parsers.items()
        for action in p._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert not missing, f"options without help: {missing}"
    assert {c.dest for c in sub._choices_actions} == set(sub.choices)  # every command listed
    assert all(c.help for c in sub._choices_actions)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for line in ("1    bad input", "2    bad usage", "3    unexpected failure", "130  interrupted"):
        assert line in out
    assert "--quiet" in out


def test_exit_codes_say_whose_fault_it_was(tmp_path, capsys, monkeypatch):
    import segmentation.cli as cli

    with pytest.raises(SystemExit) as usage:
        main(["versions", "--no-such-option"])
    assert usage.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err

    code, _, err = run(capsys, "report", tmp_path / "missing.parquet", tmp_path, "-o", "r.html")
    assert code == 1 and err.startswith("Error: ") and len(err.splitlines()) == 1

    def fails(args, settings):
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "versions", fails)
    code, _, err = run(capsys, "versions")
    assert code == 3 and "unexpected KeyError" in err and "--debug" in err

    def interrupted(args, settings):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "versions", interrupted)
    assert run(capsys, "versions")[0] == 130


def test_bars_draw_on_a_terminal_and_not_when_quiet_or_piped(tmp_path):
    master, slave = os.openpty()  # a real terminal, 100 columns wide
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with open(slave, "w") as screen, (tmp_path / "log").open("w") as log:
        assert bars(quiet=True, file=screen)("features").disable
        assert bars(quiet=False, file=log)("features").disable  # a log: tqdm's disable=None
        with steps(bars(quiet=False, file=screen), "features", 2) as phase:
            phase("reading transactions")
            phase("building features")
        screen.flush()
        assert select.select([master], [], [], 10)[0], "nothing drawn on the terminal"
        drawn = os.read(master, 1 << 16).decode()
    os.close(master)
    assert "features:" in drawn and "reading transactions" in drawn
    assert (tmp_path / "log").read_text() == ""


class Bar:
    def __init__(self, desc: str, total: int | None, unit: str) -> None:
        self.desc, self.total, self.unit, self.n, self.phases = desc, total, unit, 0, []

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        self.phases.append(text)

    def close(self) -> None:
        pass

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("habits")
    assert (
        main(["--quiet", "demo-data", "--users", "400", "--random-state", "3", "-o", str(out)]) == 0
    )
    tx = pd.read_csv(out / "transactions.csv")
    tx["order_id"] = range(len(tx))
    pd.concat([tx, tx.iloc[:3]]).to_csv(out / "transactions.csv", index=False)  # 3 redelivered
    with (out / "events.jsonl").open("w") as lines:
        for i in range(5):
            message = {"sender_id": f"u{i}", "event": "user", "text": "hi", "timestamp": 1.0 + i}
            lines.write(json.dumps(message) + "\n")
    return out


def test_every_long_step_reports_progress(demo, tmp_path, redis_url):
    made: list[Bar] = []

    def progress(desc, total=None, unit="it"):
        made.append(Bar(desc, total, unit))
        return made[-1]

    notes: list[str] = []
    console = Console(say=notes.append, show=notes.append, warn=notes.append, progress=progress)
    export_events(str(demo / "events.jsonl"), str(tmp_path / "ev.parquet"), KEY, console)
    f, sel, model = tmp_path / "f.parquet", tmp_path / "sel.json", tmp_path / "model"
    columns = TransactionColumns(order="order_id")
    config = FeaturesConfig(str(demo / "transactions.csv"), None, str(f), None, columns)
    make_features(config, KEY, console)
    select_model(
        SelectConfig(str(f), str(sel), k_min=2, k_max=3, algorithms="kmeans,gmm"),
        _engine(),
        console,
    )
    train_model(TrainConfig(str(f), str(model), str(sel)), _engine(), console)
    namespace = f"habits{uuid.uuid4().hex[:8]}"
    try:
        publish_model(PublishConfig(str(model)), RedisTarget(redis_url, namespace), console)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.unlink(key)
    report_model(ReportConfig(str(f), str(model), str(tmp_path / "r.html"), 200), console)

    bars_by = {bar.desc: bar for bar in made}
    assert list(bars_by) == ["export", "features", "select", "train", "publish", "report"]
    assert bars_by["export"].n == 5  # one per line of the dump
    assert bars_by["features"].phases[0] == "reading transactions"
    assert bars_by["select"].total == bars_by["select"].n == 2 * 3  # k=2,3; kmeans, gmm x2
    assert bars_by["train"].phases[1].startswith("fitting")
    assert bars_by["publish"].n >= 1  # one per pipelined chunk of buckets
    for name in ("features", "train", "report"):
        assert bars_by[name].n == bars_by[name].total  # every phase ran
    assert any("dropped 3 row(s)" in note for note in notes)


def _engine():
    from segmentation.engines import SklearnEngine

    return SklearnEngine()


def test_quiet_keeps_warnings_and_results(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PZ_PSEUDONYM_KEY", "0a0EWOzkOEuyvg7-AhPNMDmzHmbp4ACs5wb5b4TGiuA")
    argv = ["features", "--transactions", demo / "transactions.csv", "--order-col", "order_id"]
    code, _, loud = run(capsys, *argv, "-o", tmp_path / "a.parquet")
    assert code == 0 and "features for 344 users" in loud and "dropped 3 row(s)" in loud
    code, out, quiet = run(capsys, "--quiet", *argv, "-o", tmp_path / "b.parquet")
    assert code == 0 and out == ""
    assert quiet.splitlines() == [line for line in loud.splitlines() if "dropped 3" in line]


def test_quiet_and_debug_work_after_the_subcommand_too():
    args = parser(COMMANDS).parse_args(["versions", "-q", "--debug"])
    assert args.quiet and args.debug
    args = parser(COMMANDS).parse_args(["-q", "versions"])
    assert args.quiet and not args.debug  # the subcommand's unset flag keeps the global value


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    """`segment audit-log | head`: the reader went away; no 'unexpected' error, exit 0."""

    def reader_gone(args, settings):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setitem(COMMANDS, "versions", reader_gone)
    assert main(["versions"]) == 0
    assert "Error" not in capsys.readouterr().err
