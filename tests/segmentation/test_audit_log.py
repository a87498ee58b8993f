"""The audit log on a real Redis: every publish, activation and rollback, who and when, with
the card, kept after retention deletes the versions; `segment audit-log`; bad input."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from segmentation.audit_log import read_log
from segmentation.card import CARD
from segmentation.cli import main
from segmentation.config import PublishConfig, RedisTarget
from segmentation.errors import PublishError
from segmentation.pipeline import publish_model
from segmentation.publish import Keys, publish, rollback
from tests.segmentation.model_pairs import quiet_console, train_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return train_pair(tmp_path_factory.mktemp("audit"), users=300)


@pytest.fixture
def target(redis_url):
    ns = f"audit{uuid.uuid4().hex[:8]}"
    yield RedisTarget(redis_url, ns)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def cli(capsys, target, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv), "--redis-url", target.url, "--namespace", target.namespace])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_log_outlives_retention_and_keeps_every_card(pair, target, capsys, monkeypatch):
    monkeypatch.setenv("LOGNAME", "os-user-carol")  # what getpass.getuser() reads first
    models = [pair.first, pair.second, pair.first]
    by = ["alice", None, "dave"]
    versions = []
    for model, name in zip(models, by, strict=True):
        config = PublishConfig(str(model), keep=1, by=name)
        summary = publish_model(config, target, quiet_console())
        versions.append(summary["version"])
        assert (model / CARD).read_text().startswith(f"# Model card: segments {summary['version']}")
    client = redis.Redis.from_url(target.url)
    keys = Keys(target.namespace)
    assert [v.decode() for v in client.zrange(keys.versions, 0, -1)] == versions[-1:]
    entries = read_log(client, keys.audit)
    assert [(e["event"], e["version"], e["by"]) for e in entries] == [
        (event, version, who or "os-user-carol")
        for version, who in zip(versions, by, strict=True)
        for event in ("publish", "activate")
    ]
    fingerprint = json.loads((pair.first / "model.json").read_text())["data_fingerprint"]
    assert entries[0]["data_fingerprint"] == fingerprint and entries[0]["users"] == "300"
    assert [e.get("previous") for e in entries[1::2]] == [None, *versions[:2]]
    for version in versions[:2]:  # retired: their meta hashes are gone, their cards are not
        assert not client.exists(keys.meta(version))
        code, out, _ = cli(capsys, target, "audit-log", "--version", version)
        assert code == 0 and out.startswith(f"# Model card: segments {version}\n")
        assert "## Changes since the previous version" in out
    code, out, _ = cli(capsys, target, "audit-log")
    lines = out.splitlines()
    assert (
        code == 0 and len(lines) == 7 and lines[1].split()[2:5] == ["publish", versions[0], "alice"]
    )
    code, out, _ = cli(capsys, target, "audit-log", "--json")
    assert code == 0 and [e["card"] for e in json.loads(out)[::2]] == [
        e["card"] for e in entries[::2]
    ]


def test_rollback_is_logged_with_who_and_the_card(pair, target, capsys):
    first = publish_model(PublishConfig(str(pair.first), by="alice"), target, quiet_console())
    card = (pair.first / CARD).read_text()
    publish_model(PublishConfig(str(pair.second), by="alice"), target, quiet_console())
    code, _, err = cli(capsys, target, "rollback", "--by", "bob")
    assert code == 0 and first["version"] in err
    client = redis.Redis.from_url(target.url)
    last = read_log(client, Keys(target.namespace).audit)[-1]
    assert last["event"] == "rollback" and last["version"] == first["version"]
    assert last["by"] == "bob" and last["card"] == card
    assert last["previous"] != first["version"] and last["data_fingerprint"]
    rollback(client, last["previous"], Keys(target.namespace), by="erin")
    assert read_log(client, Keys(target.namespace).audit)[-1]["by"] == "erin"


def test_a_failed_publish_leaves_no_entry(target):
    client = redis.Redis.from_url(target.url)
    keys = Keys(target.namespace)

    def fail(_chunk):
        raise redis.ConnectionError("connection lost")

    users = [f"u{i}" for i in range(500)]
    with pytest.raises(PublishError):
        publish(client, users, ["seg-01"] * 500, {}, {}, keys, on_chunk=fail)
    assert client.xlen(keys.audit) == 0 and client.get(keys.active) is None


def test_a_version_without_a_card_is_one_line_and_exit_1(pair, target, capsys, tmp_path):
    client = redis.Redis.from_url(target.url)
    old = publish(client, ["u1", "u2"], ["seg-01", "seg-02"], {}, {}, Keys(target.namespace))
    code, out, err = cli(capsys, target, "audit-log", "--version", old["version"])
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "has no model card: it was published before model cards" in err
    code, _, err = cli(capsys, target, "audit-log", "--version", "v-unknown")
    assert code == 1 and "no version v-unknown in the audit log" in err
    # A model folder trained before model cards is not published, not even in part.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("model.json", "assigner.json", "assignments.csv"):
        (legacy / name).write_bytes((pair.first / name).read_bytes())
    before = sorted(client.scan_iter(match=f"{target.namespace}:*"))
    code, out, err = cli(capsys, target, "publish", legacy)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "trained before model cards; retrain it with 'segment train'" in err
    assert sorted(client.scan_iter(match=f"{target.namespace}:*")) == before


def test_help_names_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["audit-log", "--help"])
    text = capsys.readouterr().out
    assert "--json" in text and "--version" in text and "model card" in text
    with pytest.raises(SystemExit):
        main(["publish", "--help"])
    assert "--by BY who does this, for the audit log (default: the OS user)" in " ".join(
        capsys.readouterr().out.split()
    )
