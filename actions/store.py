"""Profile store: the action server's only door to Redis.

Key schema (all keys live in Redis db 0 and start with the namespace, default ``pz``):

    pz:profile:<sender_id>   hash   segment, favourite_category, recent_category,
                                    updated_at (unix seconds); name, email, phone,
                                    address encrypted (privacy/fields.py)
    pz:consent:<sender_id>   hash   consent to personalization (privacy/consent.py)
    pz:seg:...                      published segment versions (actions/segment_keys.py)

Rasa's own tracker store (``pz:tracker:<sender_id>``) and lock store
(``pz:lock:<sender_id>``) share the server, configured in endpoints.yml.

One client (and so one connection pool) per process; every call has a hard
deadline so a slow Redis costs a turn at most ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from actions.profiles import MalformedProfile
from actions.segment_keys import LOOKUP_SCRIPT, active_key, bucket_of, live_key, meta_key
from privacy.consent import consent_key
from privacy.keys import DEFAULT_SECRETS_DIR, load_pseudonym_key
from privacy.pseudonyms import subject

DEFAULT_URL = "redis://127.0.0.1:6390/0"
DEFAULT_TIMEOUT_MS = 100
DEFAULT_NAMESPACE = "pz"
MAX_SENDER_ID_CHARS = 256


class StoreUnavailable(RuntimeError):
    """Redis could not answer in time; callers decide the fallback."""


@dataclass(frozen=True)
class UserRecord:
    """What Redis knows about a user: the published segment (if any) and the profile hash."""

    version: str | None
    segment_id: str | None
    persona: str | None  # the published segment's persona in that version
    profile: Mapping[bytes, bytes] | None
    live_persona: str | None = None  # set by the feature worker's online assignment
    live_segment: str | None = None
    last_purchase: float | None = None  # unix time, from the live features
    consent: str | None = None  # "granted", "denied" or None (not asked yet)


def profile_key(sender_id: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"{namespace}:profile:{sender_id}"


class ProfileStore:
    """Reads and writes user profiles in Redis with a per-call deadline."""

    def __init__(
        self,
        client: aioredis.Redis,
        timeout: float = DEFAULT_TIMEOUT_MS / 1000,
        namespace: str = DEFAULT_NAMESPACE,
        pseudonym_key: bytes | None = None,
    ) -> None:
        self._client = client
        self.timeout = timeout
        self.namespace = namespace
        # Published segments are keyed by pseudonyms (segmentation works on pseudonymous
        # exports); without a key, by raw ids.
        self.pseudonym_key = pseudonym_key
        self._lookup = client.register_script(LOOKUP_SCRIPT)
        # Segment -> persona maps of published versions; immutable once published.
        self._personas: dict[str, dict[str, str]] = {}

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_URL,
        timeout: float = DEFAULT_TIMEOUT_MS / 1000,
        namespace: str = DEFAULT_NAMESPACE,
        max_connections: int = 64,
        pseudonym_key: bytes | None = None,
    ) -> ProfileStore:
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            max_connections=max_connections,
            # A connection killed by a Redis restart fails once; retry it on a fresh one.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        return cls(client, timeout=timeout, namespace=namespace, pseudonym_key=pseudonym_key)

    @classmethod
    def from_env(cls) -> ProfileStore:
        """Configured by PZ_REDIS_URL, PZ_REDIS_TIMEOUT_MS, PZ_NAMESPACE and the pseudonym key
        (PZ_PSEUDONYM_KEY or its file; development: var/secrets/)."""
        timeout_ms = _positive_int_env("PZ_REDIS_TIMEOUT_MS", DEFAULT_TIMEOUT_MS)
        return cls.from_url(
            os.environ.get("PZ_REDIS_URL", DEFAULT_URL),
            timeout=timeout_ms / 1000,
            namespace=os.environ.get("PZ_NAMESPACE", DEFAULT_NAMESPACE),
            pseudonym_key=load_pseudonym_key(os.environ, DEFAULT_SECRETS_DIR, allow_dev=True)[0],
        )

    def key(self, sender_id: str) -> str:
        return profile_key(sender_id, self.namespace)

    async def _call(self, coro):
        try:
            # asyncio.timeout, unlike wait_for, does not spawn a task per call (~40 us saved).
            async with asyncio.timeout(self.timeout):
                return await coro
        except (TimeoutError, RedisError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def get_user(self, sender_id: str) -> UserRecord:
        """Published segment and profile in one round trip (two the first time a version is seen).

        Raises StoreUnavailable when Redis is down or slow, MalformedProfile when
        stored data has the wrong shape.
        """
        if not sender_id or len(sender_id) > MAX_SENDER_ID_CHARS:
            return UserRecord(None, None, None, None)
        published_as = subject(sender_id, self.pseudonym_key)
        try:
            version, segment, flat, live, consent = await self._call(
                self._lookup(
                    keys=[
                        active_key(self.namespace),
                        self.key(sender_id),
                        live_key(self.namespace, sender_id),
                        consent_key(self.namespace, sender_id),
                    ],
                    args=[self.namespace, bucket_of(published_as), published_as],
                )
            )
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, ResponseError):  # e.g. WRONGTYPE
                raise MalformedProfile(f"user {sender_id[:64]!r}: {exc.__cause__}") from exc
            raise
        profile = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else None
        version = version.decode() if version else None
        segment = segment.decode("utf-8", "replace") if segment else None
        persona = None
        if version and segment:
            personas = await self._version_personas(version)
            persona = personas.get(segment, "default")  # unmapped clusters: default persona
        live_persona, live_segment = (v.decode("utf-8", "replace") if v else None for v in live[:2])
        return UserRecord(
            version,
            segment,
            persona,
            profile,
            live_persona,
            live_segment,
            _number(live[2]),
            consent.decode("utf-8", "replace") if consent else None,
        )

    async def _version_personas(self, version: str) -> dict[str, str]:
        if version not in self._personas:
            raw = await self._call(self._client.hget(meta_key(self.namespace, version), "segments"))
            try:
                mapping = {s["id"]: s["persona"] for s in json.loads(raw or "[]")}
            except (ValueError, TypeError, KeyError) as exc:
                raise MalformedProfile(f"version {version}: unreadable segment list") from exc
            if len(self._personas) >= 16:
                self._personas.pop(next(iter(self._personas)))
            self._personas[version] = mapping
        return self._personas[version]

    async def put_profile(self, sender_id: str, fields: Mapping[str, object]) -> None:
        """Replace a user's profile atomically."""
        key = self.key(sender_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
            await self._call(pipe.execute())

    @property
    def client(self) -> aioredis.Redis:
        """The shared connection pool, for stores that live beside this one."""
        return self._client

    async def ping(self) -> bool:
        try:
            return bool(await self._call(self._client.ping()))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._client.close()
        await self._client.connection_pool.disconnect()


def _number(raw: bytes | None) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value == value else None


def _positive_int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number of milliseconds") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than zero")
    return value


_default_store: ProfileStore | None = None


def default_store() -> ProfileStore:
    """The process-wide store, created on first use inside the server's event loop."""
    global _default_store
    if _default_store is None:
        _default_store = ProfileStore.from_env()
    return _default_store
