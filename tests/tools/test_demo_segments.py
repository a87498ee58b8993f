"""`voltmart-demo-segments` against a real Redis: trains the shop history's model once,
reuses it while it holds, republishes it to a Redis that lost it, retrains on bad state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.demo import DEMO_PERSONAS, DEMO_SENDERS, DEMO_USER_IDS
from core.settings import Settings
from personalization.store import ProfileStore
from privacy.keyring import service_pseudonym_key
from segmentation.config import RedisTarget
from segmentation.pipeline import Console, connect
from segmentation.publish import Keys, publish
from tests.servers import ROOT
from tools.demo_segments import STAMP, DemoOptions, describe, ensure_model, read_stamp, runs

SHOPPERS = 300  # five planted personas still come out as five segments (seed 2026)


class Said(list):
    def console(self) -> Console:
        return Console(say=self.append, show=lambda _: None)


def settings_for(url: str, namespace: str, secrets: Path) -> Settings:
    """The settings the services would run with: this Redis, namespace and key files."""
    env = {"PZ_REDIS_URL": url, "PZ_NAMESPACE": namespace, "PZ_SECRETS_DIR": str(secrets)}
    return Settings.from_env(env)


def target_of(settings: Settings) -> RedisTarget:
    return RedisTarget(settings.redis.url, settings.redis.namespace)


def skip_report(patch: pytest.MonkeyPatch) -> None:
    """The HTML report's t-SNE takes most of a retrain on a small history (the rest of the
    pipeline runs as it is); tests/segmentation/test_report.py covers the report."""
    patch.setattr("segmentation.pipeline.report_model", lambda *args: None)


@pytest.fixture(scope="module")
def trained(redis_url, tmp_path_factory):
    """One cold run: (settings, workdir, outcome, what it said)."""
    base = tmp_path_factory.mktemp("demo-segments")
    settings = settings_for(redis_url, f"t{uuid.uuid4().hex[:10]}", base / "secrets")
    said = Said()
    options = DemoOptions(base / "work", SHOPPERS)
    key = service_pseudonym_key(settings)
    with pytest.MonkeyPatch.context() as patch:
        skip_report(patch)
        outcome = ensure_model(options, target_of(settings), key, said.console())
    return settings, options.workdir, outcome, said


def copy_of(workdir: Path, into: Path) -> Path:
    """The trained workdir copied, its stamp pointing at the copied run."""
    shutil.copytree(workdir, into, symlinks=True)
    stamp = json.loads((into / STAMP).read_text())
    stamp["run"] = str(into / Path(stamp["run"]).name)
    (into / STAMP).write_text(json.dumps(stamp))
    return into


async def test_the_step_puts_the_five_demo_users_in_five_segments(trained):
    settings, workdir, outcome, said = trained
    assert outcome.action == "trained" and said[0].startswith("training the segment model")
    assert "no trained model yet" in said[0] and len(runs(workdir)) == 1
    # The action server's store finds them under the same pseudonyms the export used.
    store = ProfileStore.from_settings(settings)
    try:
        records = {user: await store.get_user(user) for user in DEMO_USER_IDS}
    finally:
        await store.close()
    assert records["user_bargain"].version == outcome.version
    assert records["user_bargain"].segment_id is not None
    assert len({r.segment_id for r in records.values()}) == 5
    assert {u: r.persona for u, r in records.items()} == DEMO_PERSONAS


def test_describe_says_which_segment_and_why(trained):
    settings, _, outcome, _ = trained
    lines = describe(target_of(settings), service_pseudonym_key(settings))
    assert outcome.version in lines[0]
    assert [line.split()[0] for line in lines[1:]] == list(DEMO_USER_IDS)
    bargain = next(line for line in lines if "user_bargain" in line)
    assert "bargain_hunter" in bargain and "asks about deals (+" in bargain
    assert "has never bought (-" in next(line for line in lines if "user_newcomer" in line)


def test_a_second_run_reuses_the_model(trained):
    settings, workdir, outcome, _ = trained
    said = Said()
    options = DemoOptions(workdir, SHOPPERS)
    again = ensure_model(
        options, target_of(settings), service_pseudonym_key(settings), said.console()
    )
    assert (again.action, again.version) == ("reused", outcome.version)
    assert len(runs(workdir)) == 1 and said == []


async def test_a_fresh_redis_gets_the_model_again_without_training(
    trained, private_redis, tmp_path
):
    settings, workdir, outcome, _ = trained
    workdir = copy_of(workdir, tmp_path / "work")
    fresh = settings_for(private_redis.url, settings.redis.namespace, settings.paths.secrets_dir)
    key, said = service_pseudonym_key(fresh), Said()
    done = ensure_model(DemoOptions(workdir, SHOPPERS), target_of(fresh), key, said.console())
    assert done.action == "republished" and done.version != outcome.version
    assert len(runs(workdir)) == 1 and "no segment version is active" in said[0]
    assert read_stamp(workdir / STAMP)[0]["version"] == done.version
    store = ProfileStore.from_settings(fresh)
    try:
        assert (await store.get_user("user_bargain")).version == done.version
    finally:
        await store.close()
    # Published to a second Redis (here: namespace), the first still counts as this model's.
    other = settings_for(private_redis.url, "elsewhere", settings.paths.secrets_dir)
    there = ensure_model(DemoOptions(workdir, SHOPPERS), target_of(other), key, said.console())
    assert there.action == "republished" and there.version != done.version
    here = ensure_model(DemoOptions(workdir, SHOPPERS), target_of(fresh), key, said.console())
    assert (here.action, here.version) == ("reused", done.version)
    # A version published after it stays active; the next run says how to go back.
    client, keys = connect(target_of(fresh)), Keys(fresh.redis.namespace)
    publish(client, ["someone"], ["seg-01"], {"segments": []}, {"model": {}}, keys)
    later = client.get(keys.active)
    kept = ensure_model(DemoOptions(workdir, SHOPPERS), target_of(fresh), key, said.console())
    assert kept.action == "kept" and client.get(keys.active) == later
    assert f"segment rollback --to {done.version}" in said[-1]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda work: (work / STAMP).write_text("{not json"), "is unreadable (JSONDecodeError)"),
        (lambda work: shutil.rmtree(next(iter(runs(work))) / "model"), "/model is missing"),
    ],
    ids=["corrupt stamp", "missing model dir"],
)
def test_bad_state_retrains_and_says_why(trained, tmp_path, monkeypatch, damage, reason):
    settings, workdir, outcome, _ = trained
    skip_report(monkeypatch)
    workdir = copy_of(workdir, tmp_path / "work")
    damage(workdir)
    said = Said()
    # Its own namespace: the retrain publishes, and the other tests expect the first model.
    own = settings_for(settings.redis.url, f"t{uuid.uuid4().hex[:10]}", settings.paths.secrets_dir)
    key = service_pseudonym_key(own)
    done = ensure_model(DemoOptions(workdir, SHOPPERS), target_of(own), key, said.console())
    assert done.action == "trained" and reason in said[0] and len(runs(workdir)) == 2
    assert read_stamp(workdir / STAMP)[0]["version"] == done.version != outcome.version


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2]", "lacks fingerprint, key_id, run, version"),
        ('{"fingerprint": {"seed": 1}, "key_id": "k", "run": 3, "version": "v"}', "non-text"),
        ("\udcff", "unreadable"),
    ],
)
def test_unusable_stamps_are_named(tmp_path, text, problem):
    path = tmp_path / STAMP
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    stamp, why = read_stamp(path)
    assert stamp is None and problem in why and str(path) in why


def command(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PZ_REDIS_URL": settings.redis.url}
    env |= {
        "PZ_NAMESPACE": settings.redis.namespace,
        "PZ_SECRETS_DIR": str(settings.paths.secrets_dir),
    }
    run = [sys.executable, "-m", "tools.demo_segments", *args]
    return subprocess.run(run, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_the_command_is_quick_when_warm_and_describes_the_demo_users(trained):
    settings, workdir, outcome, _ = trained
    warm = command(settings, "--workdir", str(workdir), "--shoppers", str(SHOPPERS))
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.startswith(f"segment model {outcome.version} reused"), warm.stdout
    described = command(settings, "--describe")
    assert described.returncode == 0 and len(described.stdout.splitlines()) == 6


def test_the_warm_path_does_not_load_pandas_or_scikit_learn():
    code = (
        "import sys, tools.demo_segments; print(sorted({'pandas', 'sklearn'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_command_fails_in_one_line(trained, tmp_path):
    settings, *_ = trained
    down = settings_for("redis://127.0.0.1:1/0", "x", settings.paths.secrets_dir)
    failed = command(down, "--workdir", str(tmp_path), "--describe")
    assert failed.returncode == 1 and failed.stderr.startswith("Error: cannot reach Redis")
    assert len(failed.stderr.strip().splitlines()) == 1
    small = command(settings, "--shoppers", "3")
    assert small.returncode == 2 and small.stderr.strip() == "Error: --shoppers must be at least 50"


def test_the_gateway_signs_each_persona_in_as_its_demo_user():
    from gateway.handlers import DEMO_SENDERS as GATEWAY_SENDERS

    assert GATEWAY_SENDERS == DEMO_SENDERS
    assert {DEMO_PERSONAS[sender] for sender in DEMO_SENDERS.values()} == set(DEMO_SENDERS)
