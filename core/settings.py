"""Every setting a process reads from the environment, in one place: typed, checked at start-up.

Only this module reads the environment. An entry point calls ``Settings.from_env()`` once and
passes it (or a part) down, so nothing reads ``os.environ`` at import time and tests build the
settings they want. Every problem is one line naming the variable, raised before listening.

Deadlines nest, so every fault ends in an answer in time (the table is checked at start-up):

    gateway -> Rasa            PZ_GATEWAY_RASA_TIMEOUT_S   4.0 s   gateway answers the fallback
    Rasa REST channel answer   PZ_TURN_DEADLINE_S          3.0 s   fallback answer, counted
    Rasa -> action server      PZ_ACTION_TIMEOUT_S         2.0 s   per action call
    action server, per action  PZ_ACTION_DEADLINE_MS       1800    the action's fallback
    Redis, each action call    PZ_REDIS_TIMEOUT_MS         100     segment fallback
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType

from core.limits import MAX_MESSAGE_CHARS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6390/0"
DEFAULT_NAMESPACE = "pz"
# The privacy notice users agree to; bump PZ_PRIVACY_POLICY_VERSION when it changes.
DEFAULT_POLICY_VERSION = "2026-11-25"
# Anchored at the repository, so a process started from another directory does not mint a
# second development secret and lose access to what the first one encrypted.
DEFAULT_SECRETS_DIR = ROOT / "var" / "secrets"
# Where privacy/keys.py finds key material (values or files); never logged.
KEY_VARIABLES = (
    "PZ_ENCRYPTION_KEYS",
    "PZ_ENCRYPTION_KEYS_FILE",
    "PZ_PSEUDONYM_KEY",
    "PZ_PSEUDONYM_KEY_FILE",
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable and what to set."""


def environment() -> dict[str, str]:
    """A copy of the process environment (the only place that reads os.environ)."""
    return dict(os.environ)


class EnvReader:
    """Typed lookups in an environment mapping; every error names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str = "") -> str:
        value = self.env.get(name, "").strip()
        return value or default

    def integer(
        self, name: str, default: int, low: int | None = None, high: int | None = None
    ) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from None
        _check_range(name, raw, value, low, high)
        return value

    def number(
        self,
        name: str,
        default: float,
        low: float,
        high: float,
        unit: str,
        low_inclusive: bool = False,
    ) -> float:
        """A number of `unit` above `low` (or at least, with `low_inclusive`), at most `high`."""
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number of {unit}") from None
        above = value >= low if low_inclusive else value > low
        if not (above and value <= high):  # NaN fails too
            raise SettingsError(f"{name}={raw!r} must be between {low:g} and {high:g} {unit}")
        return value

    def seconds(self, name: str, default: float, high: float = 300) -> float:
        return self.number(name, default, 0, high, "seconds")

    def milliseconds(self, name: str, default_ms: int, high_ms: int = 60_000) -> float:
        """A whole number of milliseconds, returned in seconds."""
        raw = self.text(name)
        if not raw:
            return default_ms / 1000
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number of milliseconds") from None
        if value <= 0:
            raise SettingsError(f"{name}={raw!r} must be greater than zero")
        if value > high_ms:
            raise SettingsError(f"{name}={raw!r} must be at most {high_ms} milliseconds")
        return value / 1000

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise SettingsError(f"{name}={raw!r} must be 1 or 0 (true or false)")

    def optional_flag(self, name: str) -> bool | None:
        """True, False, or None when the variable is unset (the config file decides)."""
        return self.flag(name, False) if self.text(name) else None

    def rate(self, name: str, default: tuple[int, float]) -> tuple[int, float]:
        """(requests, seconds) from e.g. ``30/10``."""
        raw = self.text(name)
        if not raw:
            return default
        match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?", raw)
        if not match or int(match[1]) <= 0 or float(match[2]) <= 0:
            raise SettingsError(f"{name}={raw!r} must look like 30/10 (requests per seconds)")
        return int(match[1]), float(match[2])

    def networks(self, name: str) -> tuple[IPNetwork, ...]:
        nets = []
        for item in filter(None, (p.strip() for p in self.text(name).split(","))):
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                message = f"{name}: {item!r} is not an IP address or CIDR range"
                raise SettingsError(message) from None
        return tuple(nets)


def _check_range(name: str, raw: str, value: int, low: int | None, high: int | None) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} must be between {low} and {high}")
    if low is not None and value < low:
        raise SettingsError(f"{name}={raw!r} must be at least {low}")
    if high is not None and value > high:
        raise SettingsError(f"{name}={raw!r} must be at most {high}")


@dataclass(frozen=True)
class RedisSettings:
    """The segment and feature stores' Redis: one server, or a cluster plus a standalone one."""

    url: str = DEFAULT_REDIS_URL  # PZ_REDIS_URL; with a cluster, any one node
    cluster: bool = False  # PZ_REDIS_CLUSTER
    # PZ_SHARED_REDIS_URL: with a cluster, the standalone Redis of what is not per user.
    shared_url: str | None = None
    namespace: str = DEFAULT_NAMESPACE  # PZ_NAMESPACE: the prefix of every key

    def __post_init__(self) -> None:
        if self.cluster and not self.shared_url:
            raise SettingsError(
                "PZ_REDIS_CLUSTER=1 needs PZ_SHARED_REDIS_URL: the standalone Redis of Rasa's "
                "stores, the event streams and the experiment logs"
            )

    @classmethod
    def read(cls, get: EnvReader) -> RedisSettings:
        cluster = get.flag("PZ_REDIS_CLUSTER", False)
        return cls(
            url=get.text("PZ_REDIS_URL", DEFAULT_REDIS_URL),
            cluster=cluster,
            shared_url=(get.text("PZ_SHARED_REDIS_URL") or None) if cluster else None,
            namespace=get.text("PZ_NAMESPACE", DEFAULT_NAMESPACE),
        )


# (attribute, variable, seconds-to-unit factor), outermost first.
_DEADLINE_ORDER = (
    ("gateway_s", "PZ_GATEWAY_RASA_TIMEOUT_S", 1),
    ("turn_s", "PZ_TURN_DEADLINE_S", 1),
    ("action_call_s", "PZ_ACTION_TIMEOUT_S", 1),
    ("action_s", "PZ_ACTION_DEADLINE_MS", 1000),
    ("redis_s", "PZ_REDIS_TIMEOUT_MS", 1000),
)


@dataclass(frozen=True)
class Deadlines:
    """How long each hop of a turn may take, outermost first; each must end before the hop
    that waits for it, or a fault would end in silence instead of a fallback answer."""

    gateway_s: float = 4.0
    turn_s: float = 3.0
    action_call_s: float = 2.0
    action_s: float = 1.8
    redis_s: float = 0.1

    def __post_init__(self) -> None:
        for (outer, outer_var, outer_unit), (inner, inner_var, inner_unit) in pairwise(
            _DEADLINE_ORDER
        ):
            if not getattr(self, inner) < getattr(self, outer):
                raise SettingsError(
                    f"deadlines must nest: {inner_var}={getattr(self, inner) * inner_unit:g} "
                    f"must be shorter than {outer_var}={getattr(self, outer) * outer_unit:g}; "
                    "lower the first or raise the second (table in core/settings.py)"
                )

    @classmethod
    def read(cls, get: EnvReader) -> Deadlines:
        return cls(
            gateway_s=get.seconds("PZ_GATEWAY_RASA_TIMEOUT_S", cls.gateway_s, high=3600),
            turn_s=get.seconds("PZ_TURN_DEADLINE_S", cls.turn_s),
            action_call_s=get.seconds("PZ_ACTION_TIMEOUT_S", cls.action_call_s),
            action_s=get.milliseconds("PZ_ACTION_DEADLINE_MS", round(cls.action_s * 1000)),
            redis_s=get.milliseconds("PZ_REDIS_TIMEOUT_MS", round(cls.redis_s * 1000)),
        )


@dataclass(frozen=True)
class Paths:
    """Files the services read; each can be pointed elsewhere (tests, other shops)."""

    responses: Path = ROOT / "responses" / "catalogue.yml"  # PZ_RESPONSES_FILE
    experiments: Path = ROOT / "experiments" / "experiments.yml"  # PZ_EXPERIMENTS_FILE
    endpoints: Path = Path("endpoints.yml")  # PZ_ENDPOINTS_FILE (the generator section)
    secrets_dir: Path = DEFAULT_SECRETS_DIR  # PZ_SECRETS_DIR: development secrets

    @classmethod
    def read(cls, get: EnvReader) -> Paths:
        return cls(
            responses=Path(get.text("PZ_RESPONSES_FILE", str(cls.responses))),
            experiments=Path(get.text("PZ_EXPERIMENTS_FILE", str(cls.experiments))),
            endpoints=Path(get.text("PZ_ENDPOINTS_FILE", str(cls.endpoints))),
            secrets_dir=Path(get.text("PZ_SECRETS_DIR", str(cls.secrets_dir))),
        )


@dataclass(frozen=True)
class ActionServerSettings:
    secret: str = ""  # PZ_ACTION_SECRET (else the file below, else a development file)
    secret_file: str = ""  # PZ_ACTION_SECRET_FILE
    max_body_bytes: int = 1024 * 1024  # PZ_ACTION_MAX_BODY_BYTES
    # Where `rasa run actions` listens (rasa-sdk's variable and default); plugin.py checks.
    sanic_host: str = "0.0.0.0"  # SANIC_HOST
    allow_remote: bool = False  # PZ_ACTION_ALLOW_REMOTE

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"ActionServerSettings(max_body_bytes={self.max_body_bytes})"

    @classmethod
    def read(cls, get: EnvReader) -> ActionServerSettings:
        return cls(
            secret=get.text("PZ_ACTION_SECRET"),
            secret_file=get.text("PZ_ACTION_SECRET_FILE"),
            max_body_bytes=get.integer(
                "PZ_ACTION_MAX_BODY_BYTES", cls.max_body_bytes, 1024, 64 << 20
            ),
            sanic_host=get.text("SANIC_HOST", cls.sanic_host),
            allow_remote=get.flag("PZ_ACTION_ALLOW_REMOTE", cls.allow_remote),
        )


@dataclass(frozen=True)
class PrivacySettings:
    retention_days: float = 30  # PZ_RETENTION_DAYS: trackers and live features; 0: until erased
    policy_version: str = DEFAULT_POLICY_VERSION  # PZ_PRIVACY_POLICY_VERSION: in each consent
    # The key variables as set (privacy/keys.py reads keys from them); hidden from repr.
    key_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def retention_seconds(self) -> int:
        return int(self.retention_days * 86400)

    @classmethod
    def read(cls, get: EnvReader) -> PrivacySettings:
        return cls(
            retention_days=get.number(
                "PZ_RETENTION_DAYS", cls.retention_days, 0, 36500, "days", low_inclusive=True
            ),
            policy_version=get.text("PZ_PRIVACY_POLICY_VERSION", cls.policy_version),
            key_env=MappingProxyType({k: get.env[k] for k in KEY_VARIABLES if k in get.env}),
        )


@dataclass(frozen=True)
class StreamSettings:
    """Where the event stream runs: a Redis stream (default) or a Kafka-compatible broker."""

    transport: str = "redis"  # PZ_EVENT_TRANSPORT: redis | kafka
    kafka_bootstrap: str = "127.0.0.1:9392"  # PZ_KAFKA_BOOTSTRAP (the broker make run starts)
    kafka_topic: str = "pz_events"  # PZ_KAFKA_TOPIC
    kafka_partitions: int = 6  # PZ_KAFKA_PARTITIONS: when the project creates the topic

    def __post_init__(self) -> None:
        if self.transport not in ("redis", "kafka"):
            raise SettingsError(f"PZ_EVENT_TRANSPORT={self.transport!r} must be redis or kafka")

    @classmethod
    def read(cls, get: EnvReader) -> StreamSettings:
        return cls(
            get.text("PZ_EVENT_TRANSPORT", cls.transport).lower(),
            get.text("PZ_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            get.text("PZ_KAFKA_TOPIC", cls.kafka_topic),
            get.integer("PZ_KAFKA_PARTITIONS", cls.kafka_partitions, 1, 1024),
        )


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[2]"  # PZ_SPARK_MASTER
    driver_memory: str = "4g"  # PZ_SPARK_DRIVER_MEMORY

    @classmethod
    def read(cls, get: EnvReader) -> SparkSettings:
        return cls(
            get.text("PZ_SPARK_MASTER", cls.master),
            get.text("PZ_SPARK_DRIVER_MEMORY", cls.driver_memory),
        )


@dataclass(frozen=True)
class Settings:
    redis: RedisSettings = field(default_factory=RedisSettings)
    deadlines: Deadlines = field(default_factory=Deadlines)
    paths: Paths = field(default_factory=Paths)
    action_server: ActionServerSettings = field(default_factory=ActionServerSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    spark: SparkSettings = field(default_factory=SparkSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    max_message_chars: int = MAX_MESSAGE_CHARS  # PZ_GATEWAY_MAX_MESSAGE_CHARS
    generator_enabled: bool | None = None  # PZ_GENERATOR_ENABLED: None, endpoints.yml decides
    rasa_speedups: bool = True  # PZ_RASA_SPEEDUPS=0: stock Rasa (the benchmark's baseline)
    conversations_url: str = field(default="", repr=False)  # PZ_CONVERSATIONS_URL: PostgreSQL
    # PZ_ATTRIBUTION_WINDOW_S: a purchase or add-to-cart rewards the user's latest decision
    # this long before it; at most the 30 days decisions are kept (experiments/decisions.py).
    attribution_window_s: int = 86400
    # PZ_GATEWAY_SECRET: proves a chat request came through the gateway (core/accounts.py);
    # empty: no request is vouched for, every shopper is anonymous to carts and orders.
    gateway_secret: str = field(default="", repr=False)
    # The environment, read-only: variables named by config files, child processes; not in repr.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process (default: its environment); SettingsError if bad."""
        env = MappingProxyType(dict(os.environ if env is None else env))
        get = EnvReader(env)
        return cls(
            redis=RedisSettings.read(get),
            deadlines=Deadlines.read(get),
            paths=Paths.read(get),
            action_server=ActionServerSettings.read(get),
            privacy=PrivacySettings.read(get),
            spark=SparkSettings.read(get),
            stream=StreamSettings.read(get),
            max_message_chars=get.integer(
                "PZ_GATEWAY_MAX_MESSAGE_CHARS", MAX_MESSAGE_CHARS, 1, 1_000_000
            ),
            generator_enabled=get.optional_flag("PZ_GENERATOR_ENABLED"),
            rasa_speedups=get.flag("PZ_RASA_SPEEDUPS", True),
            conversations_url=get.text("PZ_CONVERSATIONS_URL"),
            attribution_window_s=get.integer(
                "PZ_ATTRIBUTION_WINDOW_S", cls.attribution_window_s, 1, 30 * 86400
            ),
            gateway_secret=get.text("PZ_GATEWAY_SECRET"),
            env=env,
        )

    def reader(self) -> EnvReader:
        """Typed lookups of this process's other variables (a service's own settings)."""
        return EnvReader(self.env)


def command_settings() -> Settings:
    """The settings of a command-line entry point; a bad value ends it with one line on
    stderr and exit status 2, like every other usage error."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
