"""Profile store: the action server's only door to Redis.

Key schema (all keys start with the namespace, default ``pz``; every per-user key carries
the user's hash tag ``{<bucket>}``, see core/redis_keys.py):

    pz:profile:{<b>}:<sender_id>   hash   segment, favourite_category, recent_category,
                                          updated_at (unix seconds); name, email, phone,
                                          address encrypted (privacy/fields.py)
    pz:consent:{<b>}:<sender_id>   hash   consent to personalization (privacy/consent.py)
    pz:seg:...                            published segment versions (core/redis_keys.py)

Rasa's own tracker store (``pz:tracker:<sender_id>``) and lock store
(``pz:lock:<sender_id>``) share the server, configured in endpoints.yml; with a Redis
Cluster they, and the experiment logs, stay on a standalone Redis (core/redis_clients.py).

One client (and so one connection pool) per process; every call has a hard
deadline so a slow Redis costs a turn at most ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from core.breaker import Breaker
from core.categories import CATEGORIES
from core.personas import DEFAULT, is_persona
from core.redis_clients import REPLACE_HASH_SCRIPT, async_client, close_async, flat_mapping
from core.redis_keys import LOOKUP_SCRIPT, UserKeys, meta_key
from core.settings import DEFAULT_NAMESPACE, DEFAULT_REDIS_URL, Settings
from core.traits import PRESETS, Traits, listed_traits
from personalization.profiles import MalformedProfile
from privacy.keyring import service_pseudonym_key

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 0.1
MAX_SENDER_ID_CHARS = 256
MAX_SEGMENTS_PER_VERSION = 1024  # listed plus remembered fallbacks, per cached version


class StoreUnavailable(RuntimeError):
    """Redis could not answer in time; callers decide the fallback."""


@dataclass(frozen=True)
class Segment:
    """A published segment as a turn uses it: its readable persona and its traits."""

    persona: str
    traits: Traits


@dataclass(frozen=True)
class LivePurchases:
    """What the feature worker has seen the user buy (through the gateway's ingest)."""

    count: float = 0.0
    total: float = 0.0
    last_at: float | None = None
    last_category: str | None = None


@dataclass(frozen=True)
class UserRecord:
    """What Redis knows about a user: the published segment (if any) and the profile hash."""

    version: str | None
    segment_id: str | None
    profile: Mapping[bytes, bytes] | None
    consent: str | None = None  # "granted", "denied" or None (not asked yet)
    segment: Segment | None = None  # the published segment in that version
    live: Segment | None = None  # the feature worker's online assignment
    live_persona: str | None = None  # as the feature worker wrote it
    live_segment: str | None = None
    live_version: str | None = None
    purchases: LivePurchases = LivePurchases()

    @property
    def persona(self) -> str | None:
        """The published segment's persona in that version."""
        return self.segment.persona if self.segment else None

    @property
    def last_purchase(self) -> float | None:
        """Unix time, from the live features."""
        return self.purchases.last_at


class ProfileStore:
    """Reads and writes user profiles in Redis with a per-call deadline."""

    def __init__(
        self,
        client: aioredis.Redis,
        timeout: float = DEFAULT_TIMEOUT_S,
        namespace: str = DEFAULT_NAMESPACE,
        pseudonym_key: bytes | None = None,
        shared_client: aioredis.Redis | None = None,
    ) -> None:
        self._client = client
        # With a Redis Cluster: the standalone Redis for experiment logs (redis_clients.py).
        self._shared = shared_client
        self.timeout = timeout
        # A Redis that just failed is not asked for a second: a hung one would otherwise cost
        # every lookup of every action its full timeout.
        self.breaker = Breaker()
        self.namespace = namespace
        # Published segments are keyed by pseudonyms (segmentation works on pseudonymous
        # exports), and so are the hash tags of every per-user key; without a key, raw ids.
        self.pseudonym_key = pseudonym_key
        self.keys = UserKeys(namespace, pseudonym_key)
        self._lookup = client.register_script(LOOKUP_SCRIPT)
        self._replace = client.register_script(REPLACE_HASH_SCRIPT)
        # The active version the last lookup saw: the lookup names that version's bucket hash.
        self._active: str | None = None
        # Segment id -> Segment of published versions; immutable once published.
        self._segments: dict[str, dict[str, Segment]] = {}

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_REDIS_URL,
        timeout: float = DEFAULT_TIMEOUT_S,
        namespace: str = DEFAULT_NAMESPACE,
        max_connections: int = 64,
        pseudonym_key: bytes | None = None,
        cluster: bool = False,
        shared_url: str | None = None,
    ) -> ProfileStore:
        """`cluster`: `url` is a Redis Cluster node; `shared_url` the standalone Redis."""
        options = dict(
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            max_connections=max_connections,  # per node on a cluster
            # A connection killed by a Redis restart fails once; retry it on a fresh one.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        client = async_client(url, cluster=cluster, **options)
        shared = async_client(shared_url, cluster=False, **options) if shared_url else None
        return cls(client, timeout, namespace, pseudonym_key, shared)

    @classmethod
    def from_settings(cls, settings: Settings, pseudonym_key: bytes | None = None) -> ProfileStore:
        """The action server's store: Redis from `settings.redis`, per-call deadline
        PZ_REDIS_TIMEOUT_MS, pseudonyms keyed as every other process keys them (default: the
        configured pseudonym key; development: var/secrets/)."""
        if pseudonym_key is None:
            pseudonym_key = service_pseudonym_key(settings)
        redis = settings.redis
        return cls.from_url(
            redis.url,
            timeout=settings.deadlines.redis_s,
            namespace=redis.namespace,
            pseudonym_key=pseudonym_key,
            cluster=redis.cluster,
            shared_url=redis.shared_url,
        )

    def key(self, sender_id: str) -> str:
        return self.keys.profile(sender_id)

    async def _call(self, coro):
        if not self.breaker.allows():
            close = getattr(coro, "close", None)
            if close is not None:
                close()  # never awaited: nothing was sent
            raise StoreUnavailable("Redis failed less than a second ago")
        try:
            # asyncio.timeout, unlike wait_for, does not spawn a task per call (~40 us saved).
            async with asyncio.timeout(self.timeout):
                return await coro
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            if not isinstance(exc, ResponseError):  # a reply about the data, not an outage
                self.breaker.trip()
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def _lookup_user(self, sender_id: str, published_as: str, version: str | None):
        try:
            return await self._call(
                self._lookup(
                    keys=self.keys.lookup(sender_id, version), args=[version or "", published_as]
                )
            )
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, ResponseError):  # e.g. WRONGTYPE
                raise MalformedProfile(f"user {sender_id[:64]!r}: {exc.__cause__}") from exc
            raise

    async def get_user(self, sender_id: str) -> UserRecord:
        """Published segment and profile in one round trip (two right after a publish or a
        rollback, three the first time a version is seen).

        Raises StoreUnavailable when Redis is down or slow, MalformedProfile when
        stored data has the wrong shape.
        """
        if not sender_id or len(sender_id) > MAX_SENDER_ID_CHARS:
            return UserRecord(None, None, None)
        published_as = self.keys.subject(sender_id)
        expected = self._active
        reply = await self._lookup_user(sender_id, published_as, expected)
        active = reply[0].decode() if reply[0] else None
        if active != expected:  # a publish or rollback since the last lookup
            self._active = active
            if active:
                reply = await self._lookup_user(sender_id, published_as, active)
        version, segment, flat, live, consent = reply
        profile = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else None
        version = version.decode() if version else None
        segment = segment.decode("utf-8", "replace") if segment else None
        published = None
        if version and segment:
            published = await self.segment_of(version, segment)
        text = [v.decode("utf-8", "replace") if v else None for v in live]
        live_persona, live_segment, live_version = text[0], text[1], text[6]
        live_seg = None
        if live_segment:
            live_seg = await self.segment_of(live_version or version, live_segment, live_persona)
        return UserRecord(
            version,
            segment,
            profile,
            consent.decode("utf-8", "replace") if consent else None,
            published,
            live_seg,
            live_persona,
            live_segment,
            live_version,
            LivePurchases(
                _number(live[3]) or 0.0,
                _number(live[4]) or 0.0,
                _number(live[2]),
                text[5] if text[5] in CATEGORIES else None,
            ),
        )

    async def segment_of(
        self, version: str | None, segment_id: str, persona: str | None = None
    ) -> Segment:
        """The segment's persona and traits in `version`. A segment the version does not
        have (a rollback removed it) or a version without traits gets its persona's preset,
        with a warning once per version and segment; never an exception for a turn."""
        segments = await self._version_segments(version) if version else {}
        found = segments.get(segment_id)
        if found is not None:
            return found
        preset = persona if is_persona(persona) else DEFAULT
        logger.warning(
            "segment %r is not in version %r (rolled back?); using the %r preset",
            segment_id[:64],
            version,
            preset,
        )
        fallback = Segment(preset, PRESETS[preset])
        if version and len(segments) < MAX_SEGMENTS_PER_VERSION:
            segments[segment_id] = fallback  # every later turn of these users: no new warning
        return fallback

    async def _version_segments(self, version: str) -> dict[str, Segment]:
        if version not in self._segments:
            raw = await self._call(self._client.hget(meta_key(self.namespace, version), "segments"))
            try:
                listed = json.loads(raw or "[]")
                mapping = {str(s["id"]): _segment(version, s) for s in listed}
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise MalformedProfile(f"version {version}: unreadable segment list") from exc
            if len(self._segments) >= 16:
                self._segments.pop(next(iter(self._segments)))
            self._segments[version] = mapping
        return self._segments[version]

    async def put_profile(self, sender_id: str, fields: Mapping[str, object]) -> None:
        """Replace a user's profile atomically."""
        await self._call(self._replace(keys=[self.key(sender_id)], args=flat_mapping(fields)))

    @property
    def client(self) -> aioredis.Redis:
        """The shared connection pool, for stores that live beside this one."""
        return self._client

    @property
    def shared_client(self) -> aioredis.Redis:
        """Where data that is not per user lives (experiments, decisions): the same client,
        or the standalone Redis beside a cluster."""
        return self._shared or self._client

    async def ping(self) -> bool:
        try:
            return bool(await self._call(self._client.ping()))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await close_async(self._client)
        if self._shared is not None:
            await close_async(self._shared)


def _segment(version: str, listed: Mapping) -> Segment:
    """One entry of a version's segment list; missing or unusable traits mean the persona's
    preset, logged once per version (the version's list is cached)."""
    persona, traits, problem = listed_traits(listed)
    if problem:
        logger.warning(
            "version %s segment %s: %s; using the %r preset",
            version,
            listed["id"],
            problem,
            persona,
        )
    return Segment(persona, traits)


def _number(raw: bytes | None) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value == value else None
