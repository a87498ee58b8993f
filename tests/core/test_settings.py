"""The one settings module: typed values, defaults, one-line errors, and a deadline table that
checks its own order."""

from __future__ import annotations

import pytest

from core.limits import MAX_MESSAGE_CHARS
from core.settings import (
    DEFAULT_NAMESPACE,
    DEFAULT_REDIS_URL,
    Deadlines,
    Settings,
    SettingsError,
)


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.redis.url == DEFAULT_REDIS_URL and settings.redis.namespace == DEFAULT_NAMESPACE
    assert not settings.redis.cluster and settings.redis.shared_url is None
    assert settings.deadlines == Deadlines()
    assert (settings.deadlines.gateway_s, settings.deadlines.turn_s) == (4.0, 3.0)
    assert (settings.deadlines.action_call_s, settings.deadlines.action_s) == (2.0, 1.8)
    assert settings.deadlines.redis_s == 0.1
    assert settings.max_message_chars == MAX_MESSAGE_CHARS
    assert settings.privacy.retention_seconds == 30 * 86400
    assert settings.generator_enabled is None and settings.rasa_speedups


def test_values_are_typed():
    settings = Settings.from_env(
        {
            "PZ_REDIS_URL": "redis://elsewhere:1/2",
            "PZ_NAMESPACE": "staging",
            "PZ_REDIS_TIMEOUT_MS": "250",
            "PZ_ACTION_DEADLINE_MS": "1500",
            "PZ_GENERATOR_ENABLED": "1",
            "PZ_RASA_SPEEDUPS": "off",
            "PZ_RETENTION_DAYS": "0.5",
            "PZ_EXPERIMENTS_FILE": "/tmp/e.yml",
        }
    )
    assert (settings.redis.url, settings.redis.namespace) == ("redis://elsewhere:1/2", "staging")
    assert (settings.deadlines.redis_s, settings.deadlines.action_s) == (0.25, 1.5)
    assert settings.generator_enabled is True and settings.rasa_speedups is False
    assert settings.privacy.retention_seconds == 43200
    assert str(settings.paths.experiments) == "/tmp/e.yml"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PZ_REDIS_TIMEOUT_MS": "abc"}, "PZ_REDIS_TIMEOUT_MS='abc' is not a whole number"),
        ({"PZ_REDIS_TIMEOUT_MS": "0"}, "PZ_REDIS_TIMEOUT_MS='0' must be greater than zero"),
        ({"PZ_ACTION_TIMEOUT_S": "0"}, "must be between 0 and 300 seconds"),
        ({"PZ_TURN_DEADLINE_S": "soon"}, "PZ_TURN_DEADLINE_S='soon' is not a number of seconds"),
        ({"PZ_REDIS_CLUSTER": "maybe"}, "PZ_REDIS_CLUSTER='maybe' must be 1 or 0"),
        ({"PZ_REDIS_CLUSTER": "1"}, "PZ_REDIS_CLUSTER=1 needs PZ_SHARED_REDIS_URL"),
        ({"PZ_RETENTION_DAYS": "-1"}, "PZ_RETENTION_DAYS='-1' must be between 0 and"),
        ({"PZ_RETENTION_DAYS": "nan"}, "PZ_RETENTION_DAYS='nan' must be between"),
        ({"PZ_ACTION_MAX_BODY_BYTES": "10"}, "PZ_ACTION_MAX_BODY_BYTES='10' must be between"),
        ({"PZ_GENERATOR_ENABLED": "perhaps"}, "PZ_GENERATOR_ENABLED='perhaps' must be 1 or 0"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_variable(env, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "inner", "outer"),
    [
        ({"PZ_GATEWAY_RASA_TIMEOUT_S": "2.5"}, "PZ_TURN_DEADLINE_S=3", "PZ_GATEWAY_RASA_TIMEOUT_S"),
        ({"PZ_TURN_DEADLINE_S": "2"}, "PZ_ACTION_TIMEOUT_S=2", "PZ_TURN_DEADLINE_S=2"),
        ({"PZ_ACTION_DEADLINE_MS": "2500"}, "PZ_ACTION_DEADLINE_MS=2500", "PZ_ACTION_TIMEOUT_S"),
        ({"PZ_REDIS_TIMEOUT_MS": "1800"}, "PZ_REDIS_TIMEOUT_MS=1800", "PZ_ACTION_DEADLINE_MS"),
    ],
)
def test_deadlines_must_nest_from_the_gateway_down_to_redis(env, inner, outer):
    with pytest.raises(SettingsError, match="deadlines must nest") as caught:
        Settings.from_env(env)
    assert inner in str(caught.value) and outer in str(caught.value)


def test_a_whole_table_moved_together_is_fine():
    slow = {
        "PZ_GATEWAY_RASA_TIMEOUT_S": "9",
        "PZ_TURN_DEADLINE_S": "8",
        "PZ_ACTION_TIMEOUT_S": "7",
        "PZ_ACTION_DEADLINE_MS": "6000",
        "PZ_REDIS_TIMEOUT_MS": "500",
    }
    assert Settings.from_env(slow).deadlines == Deadlines(9, 8, 7, 6, 0.5)


def test_secrets_stay_out_of_the_repr():
    settings = Settings.from_env(
        {"PZ_ACTION_SECRET": "s" * 40, "PZ_PSEUDONYM_KEY": "k" * 40, "OTHER": "x"}
    )
    assert "s" * 40 not in repr(settings) and "k" * 40 not in repr(settings)
    assert settings.privacy.key_env == {"PZ_PSEUDONYM_KEY": "k" * 40}
