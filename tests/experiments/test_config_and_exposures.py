"""Experiment YAML validation and sticky exposures in a real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from experiments.config import ExperimentConfigError, load_experiments
from experiments.exposures import ExposureStore

GOOD = """experiments:
  - key: reco-copy
    variants: {control: 0.5, story: 0.5}
    personas: [bargain_hunter]
    conversion: {intent: affirm}
    guardrails: [negative_feedback_rate]
"""


def write(tmp_path, text):
    path = tmp_path / "experiments.yml"
    path.write_text(text)
    return path


def test_good_file(tmp_path):
    spec = load_experiments(write(tmp_path, GOOD))["reco-copy"]
    assert spec.experiment.variants == ("control", "story")
    assert spec.conversion == {"intent": "affirm"} and spec.guardrails == (
        "negative_feedback_rate",
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("experiments: [", "line 1: invalid YAML"),
        ("other: 1", "expected a top-level 'experiments:' list"),
        (
            GOOD.replace("personas: [bargain_hunter]", "personas: [wizard]"),
            "line 2: experiment 'reco-copy': unknown personas wizard",
        ),
        (GOOD.replace("{control: 0.5, story: 0.5}", "{control: 1}"), "at least two"),
        (GOOD.replace("    conversion: {intent: affirm}\n", ""), "'conversion' must name"),
        (GOOD + GOOD.replace("experiments:\n", ""), "line 7: duplicate experiment key"),
        (GOOD.replace("  - key: reco-copy", "  - key: ''"), "non-empty 'key'"),
        (GOOD.replace("{intent: affirm}", "{click: 1}"), "'conversion' must be"),
        (GOOD.replace("{intent: affirm}", "{feedback: negative}"), "'conversion' must be"),
        (GOOD.replace("[negative_feedback_rate]", "[bounce]"), "unknown guardrails bounce"),
        (GOOD.replace("    personas:", "    response: [1]\n    personas:"), "'response' must"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ExperimentConfigError) as err:
        load_experiments(path)
    assert str(path) in str(err.value) and message in str(err.value)


async def test_exposure_is_sticky_across_weight_changes(tmp_path, redis_url):
    client = aioredis.Redis.from_url(redis_url)
    ns = f"x{uuid.uuid4().hex[:8]}"
    store = ExposureStore(client, ns)
    before = load_experiments(write(tmp_path, GOOD))["reco-copy"]
    after = load_experiments(
        write(tmp_path, GOOD.replace("{control: 0.5, story: 0.5}", "{control: 0.1, story: 0.9}"))
    )
    after = after["reco-copy"]
    users = [f"u{i}" for i in range(400)]
    first = {u: await store.expose(before, u, "bargain_hunter", now=100.0) for u in users}
    second = {u: await store.expose(after, u, "bargain_hunter", now=200.0) for u in users}
    assert first == second  # variant and first-exposure time unchanged for exposed users
    fresh = [(await store.expose(after, f"new{i}", "bargain_hunter"))[0] for i in range(400)]
    assert fresh.count("story") > 300  # new users follow the new weights
    assert await store.expose(after, "u1", "tech_enthusiast") is None
    async for key in client.scan_iter(match=f"{ns}:*"):
        await client.unlink(key)
    await client.close()


def test_weights_not_summing_to_one_are_repaired_once_at_load(tmp_path, caplog):
    import logging

    from experiments.assignment import assign

    path = write(tmp_path, GOOD.replace("{control: 0.5, story: 0.5}", "{control: 3, story: 1}"))
    with caplog.at_level(logging.WARNING):
        spec = load_experiments(path)["reco-copy"]
    assert spec.experiment.weights == (0.75, 0.25)
    assert f"{path}, line 2" in caplog.text and "repaired" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assigned = [assign(spec.experiment, f"u{i}", "bargain_hunter") for i in range(2000)]
    assert caplog.text == ""  # no warning per turn
    assert 0.70 < assigned.count("control") / 2000 < 0.80
