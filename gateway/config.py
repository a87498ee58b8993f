"""Gateway settings: one frozen dataclass, built from core/settings.py and checked at start-up.

The parts every service shares (Redis, the deadline table, the message limit) come from
`Settings`; the gateway's own variables are read through its `EnvReader`. Every problem is
a one-line ConfigError naming the variable, so a bad deployment fails before it listens
instead of on the first request.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from core.limits import MAX_MESSAGE_CHARS
from core.settings import (
    DEFAULT_NAMESPACE,
    DEFAULT_REDIS_URL,
    DEFAULT_SECRETS_DIR,
    Deadlines,
    EnvReader,
    IPNetwork,
    RedisSettings,
    Settings,
    SettingsError,
    StreamSettings,
)

PACKAGE_DIR = Path(__file__).resolve().parent
SCOPES = ("chat", "ingest", "privacy")
ALGORITHMS = ("HS256", "RS256")
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")


# One error for every bad setting, the shared ones (core/settings.py) and the gateway's own.
ConfigError = SettingsError


@dataclass(frozen=True)
class Client:
    """A server-to-server caller allowed to use the client-credentials grant."""

    client_id: str
    secret_sha256: str  # hex digest; the secret itself is never stored
    scopes: frozenset[str]


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests in any ``window`` seconds."""

    limit: int
    window: float

    def __str__(self) -> str:
        return f"{self.limit}/{self.window:g}"


DEFAULT_USER_RATE = RateLimit(30, 10)
DEFAULT_ADDRESS_RATE = RateLimit(120, 10)
DEFAULT_INGEST_RATE = RateLimit(1000, 10)


@dataclass(frozen=True)
class GatewayConfig:
    jwt_algorithm: str = "HS256"
    jwt_secret: bytes | None = field(default=None, repr=False)  # HS256; never in a log line
    jwt_private_key: rsa.RSAPrivateKey | None = field(default=None, repr=False)  # RS256 signing
    jwt_public_keys: tuple[rsa.RSAPublicKey, ...] = ()  # RS256 verification
    jwt_issuer: str = "voltmart-gateway"
    jwt_audience: str = "voltmart-api"
    token_ttl: int = 3600
    jwt_leeway: int = 10
    clients: Mapping[str, Client] = field(default_factory=dict)
    redis_url: str = DEFAULT_REDIS_URL
    redis_cluster: bool = False  # redis_url is a Redis Cluster node (core/redis_clients.py)
    shared_redis_url: str = ""  # with a cluster: the standalone Redis (streams, rate limits)
    conversations_url: str = field(default="", repr=False)  # PostgreSQL: erasure, export
    redis_timeout: float = 0.25
    namespace: str = DEFAULT_NAMESPACE
    stream: str = f"{DEFAULT_NAMESPACE}:events"
    stream_settings: StreamSettings = field(default_factory=StreamSettings)  # redis or kafka
    ingest_timeout: float = 1.0  # Redis: one XADD; Kafka: until the broker confirms (3 s)
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_secret: str = field(default="", repr=False)  # PZ_GATEWAY_SECRET: vouches to Rasa
    rasa_timeout: float = Deadlines.gateway_s
    max_message_chars: int = MAX_MESSAGE_CHARS
    max_body_bytes: int = 16 * 1024
    user_rate: RateLimit = DEFAULT_USER_RATE
    address_rate: RateLimit = DEFAULT_ADDRESS_RATE
    ingest_rate: RateLimit = DEFAULT_INGEST_RATE
    trusted_proxies: tuple[IPNetwork, ...] = ()
    demo_login: bool = False
    static_dir: Path = PACKAGE_DIR / "static"
    ip_regions_file: Path = PACKAGE_DIR / "data" / "ip_regions.csv"
    # The privacy key variables as set (export and erasure read keys from them) and where
    # development keys live, as for the other services; key material stays out of repr.
    privacy_keys: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    secrets_dir: Path = DEFAULT_SECRETS_DIR

    def __post_init__(self) -> None:
        # The cluster check is RedisSettings' own, so a config built by hand gets it too.
        RedisSettings(
            url=self.redis_url, cluster=self.redis_cluster, shared_url=self.shared_redis_url or None
        )
        if self.jwt_algorithm not in ALGORITHMS:
            raise ConfigError(f"PZ_JWT_ALGORITHM={self.jwt_algorithm!r} must be HS256 or RS256")
        if self.jwt_algorithm == "HS256":
            if not self.jwt_secret or len(self.jwt_secret) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"PZ_JWT_SECRET (or PZ_JWT_SECRET_FILE) must hold at least "
                    f"{MIN_SECRET_BYTES} bytes for HS256"
                )
            if self.jwt_private_key or self.jwt_public_keys:
                raise ConfigError("HS256 takes PZ_JWT_SECRET only; unset the PZ_JWT_*KEY* files")
        else:
            if self.jwt_secret:
                raise ConfigError("RS256 takes key files; unset PZ_JWT_SECRET/PZ_JWT_SECRET_FILE")
            if self.jwt_private_key is None and not self.jwt_public_keys:
                raise ConfigError(
                    "RS256 needs PZ_JWT_PRIVATE_KEY_FILE (to sign) or PZ_JWT_PUBLIC_KEY_FILES"
                )
            if self.jwt_private_key is not None and not self.jwt_public_keys:
                object.__setattr__(self, "jwt_public_keys", (self.jwt_private_key.public_key(),))
        if self.demo_login and not self.can_sign:
            raise ConfigError("PZ_GATEWAY_DEMO_LOGIN needs a signing key (PZ_JWT_PRIVATE_KEY_FILE)")
        for name, value in (
            ("PZ_JWT_TTL_S", self.token_ttl),
            ("PZ_GATEWAY_MAX_MESSAGE_CHARS", self.max_message_chars),
            ("PZ_GATEWAY_MAX_BODY_BYTES", self.max_body_bytes),
        ):
            if value <= 0:
                raise ConfigError(f"{name}={value} must be greater than zero")
        for name, seconds in (
            ("PZ_GATEWAY_RASA_TIMEOUT_S", self.rasa_timeout),
            ("PZ_GATEWAY_REDIS_TIMEOUT_MS", self.redis_timeout),
        ):
            if not seconds > 0:
                raise ConfigError(f"{name} must be greater than zero")
        if self.jwt_leeway < 0:
            raise ConfigError(f"PZ_JWT_LEEWAY_S={self.jwt_leeway} must not be negative")

    @property
    def can_sign(self) -> bool:
        """False for a verifier-only RS256 deployment: no token endpoint, no demo login."""
        return self.jwt_algorithm == "HS256" or self.jwt_private_key is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """The gateway's settings from ``env`` (default: this process's environment)."""
        return cls.from_settings(Settings.from_env(env))

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        """The shared settings (Redis, the Rasa deadline, the message limit, privacy keys)
        plus the gateway's own PZ_GATEWAY_*, PZ_JWT_* and PZ_RASA_URL."""
        get = settings.reader()
        secret = get.text("PZ_JWT_SECRET")
        secret_file = get.text("PZ_JWT_SECRET_FILE")
        if secret and secret_file:
            raise ConfigError("set PZ_JWT_SECRET or PZ_JWT_SECRET_FILE, not both")
        if secret_file:
            secret = _read_file("PZ_JWT_SECRET_FILE", secret_file).decode().strip()
        private_file = get.text("PZ_JWT_PRIVATE_KEY_FILE")
        public_files = [p.strip() for p in get.text("PZ_JWT_PUBLIC_KEY_FILES").split(",")]
        public_files = [p for p in public_files if p]
        default_alg = "RS256" if private_file or public_files else "HS256"
        redis = settings.redis
        return cls(
            jwt_algorithm=get.text("PZ_JWT_ALGORITHM", default_alg).upper(),
            jwt_secret=secret.encode() if secret else None,
            jwt_private_key=load_private_key(private_file) if private_file else None,
            jwt_public_keys=tuple(load_public_key(p) for p in public_files),
            jwt_issuer=get.text("PZ_JWT_ISSUER", cls.jwt_issuer),
            jwt_audience=get.text("PZ_JWT_AUDIENCE", cls.jwt_audience),
            token_ttl=get.integer("PZ_JWT_TTL_S", cls.token_ttl),
            jwt_leeway=get.integer("PZ_JWT_LEEWAY_S", cls.jwt_leeway),
            clients=load_clients(get.text("PZ_GATEWAY_CLIENTS_FILE")),
            redis_url=redis.url,
            redis_cluster=redis.cluster,
            shared_redis_url=redis.shared_url or "",
            conversations_url=settings.conversations_url,
            redis_timeout=get.integer("PZ_GATEWAY_REDIS_TIMEOUT_MS", 250) / 1000,
            namespace=redis.namespace,
            stream=get.text("PZ_GATEWAY_STREAM", f"{redis.namespace}:events"),
            stream_settings=settings.stream,
            ingest_timeout=3.5 if settings.stream.transport == "kafka" else 1.0,
            rasa_url=get.text("PZ_RASA_URL", cls.rasa_url).rstrip("/"),
            rasa_timeout=settings.deadlines.gateway_s,
            rasa_secret=settings.gateway_secret,
            max_message_chars=settings.max_message_chars,
            max_body_bytes=get.integer("PZ_GATEWAY_MAX_BODY_BYTES", cls.max_body_bytes),
            user_rate=_rate(get, "PZ_GATEWAY_RATE_USER", cls.user_rate),
            address_rate=_rate(get, "PZ_GATEWAY_RATE_ADDRESS", cls.address_rate),
            ingest_rate=_rate(get, "PZ_GATEWAY_RATE_INGEST", cls.ingest_rate),
            trusted_proxies=get.networks("PZ_GATEWAY_TRUSTED_PROXIES"),
            demo_login=get.flag("PZ_GATEWAY_DEMO_LOGIN", False),
            static_dir=Path(get.text("PZ_GATEWAY_STATIC_DIR", str(cls.static_dir))),
            ip_regions_file=Path(get.text("PZ_GATEWAY_IP_REGIONS_FILE", str(cls.ip_regions_file))),
            privacy_keys=settings.privacy.key_env,
            secrets_dir=settings.paths.secrets_dir,
        )


def _rate(get: EnvReader, name: str, default: RateLimit) -> RateLimit:
    return RateLimit(*get.rate(name, (default.limit, default.window)))


def _read_file(name: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}={path!r} cannot be read: {exc.strerror or exc}") from None


def load_private_key(path: str) -> rsa.RSAPrivateKey:
    pem = _read_file("PZ_JWT_PRIVATE_KEY_FILE", path)
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"PZ_JWT_PRIVATE_KEY_FILE={path!r} is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"PZ_JWT_PRIVATE_KEY_FILE={path!r} must be an RSA key of >= 2048 bits")
    return key


def load_public_key(path: str) -> rsa.RSAPublicKey:
    pem = _read_file("PZ_JWT_PUBLIC_KEY_FILES", path)
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ConfigError(f"PZ_JWT_PUBLIC_KEY_FILES: {path!r} is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"PZ_JWT_PUBLIC_KEY_FILES: {path!r} must be an RSA key of >= 2048 bits")
    return key


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_clients(data: object, where: str = "clients") -> dict[str, Client]:
    """{"client_id": {"secret_sha256": "<hex>", "scopes": ["ingest"]}} -> Client objects."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a JSON object of client_id -> settings")
    clients = {}
    for client_id, spec in data.items():
        if not CLIENT_ID_RE.match(client_id):
            raise ConfigError(
                f"{where}: client id {client_id[:40]!r} must match {CLIENT_ID_RE.pattern}"
            )
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: client {client_id!r} must be an object")
        digest = spec.get("secret_sha256")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise ConfigError(f"{where}: client {client_id!r}: secret_sha256 must be 64 hex digits")
        scopes = spec.get("scopes")
        if (
            not isinstance(scopes, list)
            or not scopes
            or not all(isinstance(s, str) and s in SCOPES for s in scopes)
        ):
            raise ConfigError(
                f"{where}: client {client_id!r}: scopes must be a non-empty list of {SCOPES}"
            )
        clients[client_id] = Client(client_id, digest.lower(), frozenset(scopes))
    return clients


def load_clients(path: str) -> dict[str, Client]:
    if not path:
        return {}
    raw = _read_file("PZ_GATEWAY_CLIENTS_FILE", path)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"PZ_GATEWAY_CLIENTS_FILE={path!r} is not valid JSON") from None
    return parse_clients(data, f"PZ_GATEWAY_CLIENTS_FILE={path!r}")
