"""Rasa's Redis tracker and lock stores, made safe to run in front of customers.

Configured in endpoints.yml (``type: rasa_ext.stores.RedisTrackerStore`` /
``rasa_ext.stores.RedisLockStore``); same keys and formats as Rasa's own, so
either can be swapped back. What they add:

- Connections recover: a connection killed by a Redis restart is retried on a
  fresh one (Rasa's stores fail the first message after a restart), and every
  call has a socket deadline.
- Per-user ordering across Rasa processes: Rasa's lock store issues and
  releases tickets with GET-then-SET, so two processes can both take ticket
  N+1 and run one user's messages at once. Here every change of a lock is a
  WATCH/MULTI transaction, the lock key expires with its last ticket, and a
  waiting message polls every 20 ms instead of every second.
- Erasure holds: while a user is being erased (``<ns>:erasing:{<bucket>}:<digest>``,
  named by core/redis_keys.py with the pseudonym key the other services use; see
  privacy/erasure.py) no tracker of theirs is saved or streamed, so a message
  that arrives mid-erasure cannot bring the conversation back.
- Retention: trackers expire ``record_exp`` seconds after the last save
  (endpoints.yml; Rasa's own option, here defaulting to PZ_RETENTION_DAYS).
- ``keys()`` uses SCAN: the application's Redis user may not run KEYS.

Both run against one Redis server, not a Redis Cluster (the tracker key and the erasure
marker do not share a slot); beside a cluster they use the standalone Redis, where the
eraser sets the marker too (core/redis_clients.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, LockStore
from rasa.core.tracker_store import RedisTrackerStore as RasaRedisTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, split_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from core.breaker import Breaker
from core.redis_keys import UserKeys
from core.settings import Settings
from privacy.keyring import service_pseudonym_key
from rasa_ext import speedups

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT_S = 1.0
# A lock op takes ~0.1 ms. The client is blocking and runs on Rasa's event loop, so a hung
# Redis must cost every conversation as little as possible: a short deadline, no retry of a
# timeout (a dead connection is still retried on a fresh one), then a second's pause.
LOCK_SOCKET_TIMEOUT_S = 0.1
LOCK_POLL_S = 0.02

# SET only when the user is not being erased; one round trip, so erasure cannot slip in
# between the check and the write.
SAVE_UNLESS_ERASING = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""


def resilient_client(
    host: str | None,
    port: Any,
    db: Any,
    username: str | None,
    password: str | None,
    socket_timeout: float,
    retries: int = 3,
    retry_timeouts: bool = True,
    **extra: Any,
) -> redis.Redis:
    """A client that retries a dead connection on a fresh one, with hard socket deadlines."""
    return redis.StrictRedis(
        host=host or "127.0.0.1",
        port=int(port),
        db=int(db),
        username=username or None,
        password=password or None,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries),
        retry_on_error=[redis.ConnectionError, *([redis.TimeoutError] if retry_timeouts else [])],
        health_check_interval=30,
        **extra,
    )


class RedisTrackerStore(RasaRedisTrackerStore):
    """Rasa's Redis tracker store with recovering connections, erasure guard and retention."""

    def __init__(
        self,
        domain: Any,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        event_broker: Any = None,
        record_exp: float | None = None,
        key_prefix: str | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_S,
        pseudonym_key: bytes | None = None,  # None: PZ_PSEUDONYM_KEY or its file, as elsewhere
        settings: Settings | None = None,  # None: this process's environment (Rasa builds us)
        **kwargs: Any,
    ) -> None:
        settings = settings or Settings.from_env()
        if record_exp is None:
            record_exp = settings.privacy.retention_seconds or None
        self.speedups = settings.rasa_speedups
        speedups.install(self.speedups)  # also for `rasa shell` and other channels
        super().__init__(
            domain,
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            event_broker=event_broker,
            record_exp=record_exp,
            key_prefix=key_prefix,
            **kwargs,
        )
        self.namespace = key_prefix if key_prefix and key_prefix.isalnum() else "pz"
        self.user_keys = UserKeys(
            self.namespace, pseudonym_key or _configured_pseudonym_key(settings)
        )
        self.red = resilient_client(
            host, port, db, username, password, float(socket_timeout), decode_responses=True
        )
        self._save = self.red.register_script(SAVE_UNLESS_ERASING)
        self.refused_saves = 0

    def _erasing(self, sender_id: str) -> str:
        return self.user_keys.erasing(sender_id)

    # Rasa's signature: `timeout` is the record's expiry in seconds, not a deadline.
    async def save(
        self,
        tracker: DialogueStateTracker,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        erasing, key = self._erasing(tracker.sender_id), self.key_prefix + tracker.sender_id
        with self.red.pipeline(transaction=False) as pipe:
            being_erased, stored = pipe.exists(erasing).get(key).execute()
        if being_erased:
            self._refuse(tracker.sender_id)
            return
        prior = None if stored is None else self.deserialise_tracker(tracker.sender_id, stored)
        if self.speedups:
            self._stream_new(tracker, prior)
        else:
            await self.stream_events(tracker)  # Rasa's way: reads and parses the tracker again
        if prior is not None:
            tracker = self._merge_trackers(prior, tracker)
        expiry = int(timeout or self.record_exp or 0)
        if not self._save(keys=[key, erasing], args=[self.serialise_tracker(tracker), expiry]):
            self._refuse(tracker.sender_id)

    def _stream_new(
        self, tracker: DialogueStateTracker, prior: DialogueStateTracker | None
    ) -> None:
        """Rasa's ``stream_events`` without a second read and parse of the stored tracker, and
        in one round trip: the new events are those past the stored last session, the
        offset Rasa's diff takes (profile: bench/results/turn_profile.json)."""
        if self.event_broker is None:
            return
        offset = 0 if prior is None else last_session_length(prior)
        bodies = [
            {"sender_id": tracker.sender_id, **event.as_dict()}
            for event in itertools.islice(tracker.events, offset, len(tracker.events))
        ]
        publish_all(self.event_broker, bodies)

    def _refuse(self, sender_id: str) -> None:
        self.refused_saves += 1
        logger.warning("tracker of %r not saved: the user is being erased", sender_id[:64])

    async def keys(self) -> Iterable[str]:
        return list(self.red.scan_iter(match=self.key_prefix + "*", count=1000))


def publish_all(broker: Any, bodies: list[dict[str, Any]]) -> None:
    """In one round trip where the broker can (ours), else one by one as Rasa does."""
    publish_many = getattr(broker, "publish_many", None)
    if publish_many is not None:
        publish_many(bodies)
    else:
        for body in bodies:
            broker.publish(body)


def last_session_length(tracker: DialogueStateTracker) -> int:
    """How many events Rasa's ``retrieve`` would return: the last session's, or all."""
    sessions = split_events(
        tracker.events,
        ActionExecuted,
        {"action_name": ACTION_SESSION_START_NAME},
        include_splitting_event=True,
    )
    count = len(sessions[-1]) if len(sessions) > 1 else len(tracker.events)
    limit = tracker._max_event_history
    return min(count, limit) if limit else count


def _configured_pseudonym_key(settings: Settings) -> bytes | None:
    """The key the eraser names the marker with; without it the guard could not see it."""
    try:
        return service_pseudonym_key(settings)
    except ValueError as exc:
        logger.error("erasure guard without the pseudonym key (%s): fix PZ_PSEUDONYM_KEY", exc)
        return None


class RedisLockStore(LockStore):
    """Ticket locks in Redis whose every change is atomic (WATCH/MULTI).

    While Redis is unreachable a conversation's messages are ordered by a lock in this
    process instead (Rasa's in-memory lock store), so shoppers keep getting answers. With
    one Rasa process (``make run``) the order is kept exactly; with several, two messages
    of one shopper that reach different processes during the outage may run at once, and
    the PostgreSQL tracker store then keeps both turns (rasa_ext/sql_store.py). A ticket
    taken in Redis before it failed lapses with its key (LOCK_LIFETIME)."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        config = dict(endpoint_config.kwargs) if endpoint_config else {}
        config.update(kwargs)
        host = endpoint_config.url if endpoint_config and endpoint_config.url else "127.0.0.1"
        self.red = resilient_client(
            host,
            config.get("port", 6379),
            config.get("db", 0),
            config.get("username"),
            config.get("password"),
            float(config.get("socket_timeout", LOCK_SOCKET_TIMEOUT_S)),
            retries=1,
            retry_timeouts=False,
        )
        prefix = config.get("key_prefix")
        namespace = prefix if isinstance(prefix, str) and prefix.isalnum() else None
        self.key_prefix = f"{namespace}:lock:" if namespace else "lock:"
        self.local = InMemoryLockStore()
        self.breaker = Breaker()
        # Tickets whose release failed while Redis was away: released first when it is back,
        # or the conversation would wait for them until they expire (LOCK_LIFETIME).
        self.unreleased: set[tuple[str, int]] = set()
        self.metrics = CollectorRegistry(auto_describe=True)  # the channel's /metrics
        self.degraded = Counter(
            "pz_lock_store_degraded_turns",
            "turns ordered by this process's lock: Redis was unreachable",
            registry=self.metrics,
        )
        super().__init__()

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        raw = self.red.get(self._key(conversation_id))
        return TicketLock.from_dict(_loads(raw)) if raw else None

    def delete_lock(self, conversation_id: str) -> None:
        self.red.delete(self._key(conversation_id))

    def save_lock(self, lock: TicketLock) -> None:
        self._write(self.red, lock)

    def _write(self, client: Any, lock: TicketLock) -> None:
        key = self._key(lock.conversation_id)
        if not lock.tickets:
            client.delete(key)
            return
        ttl_ms = max(1, int((max(t.expires for t in lock.tickets) - _now()) * 1000) + 1000)
        client.set(key, lock.dumps(), px=ttl_ms)

    def _modify(self, conversation_id: str, change: Callable[[TicketLock], Any]) -> Any:
        """Read, change and write one lock atomically; retried when another process wrote it."""
        key = self._key(conversation_id)
        result: list[Any] = []

        def transaction(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(_loads(raw)) if raw else TicketLock(conversation_id)
            result[:] = [change(lock)]
            pipe.multi()
            self._write(pipe, lock)

        self.red.transaction(transaction, key)
        return result[0]

    def _release_leftovers(self) -> None:
        for conversation_id, ticket in sorted(self.unreleased):
            self.cleanup(conversation_id, ticket)  # a RedisError here: Redis is away again
            self.unreleased.discard((conversation_id, ticket))

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return self._modify(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except redis.RedisError as exc:
            who = conversation_id[:64]
            raise LockError(f"could not issue a ticket for {who!r}: {exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        self._modify(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._modify(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # Removing the last ticket deletes the key (_write), in the same transaction.
        self.finish_serving(conversation_id, ticket_number)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = LOCK_POLL_S,
    ):
        wait = min(wait_time_in_seconds, LOCK_POLL_S)
        try:
            if not self.breaker.allows():
                raise redis.ConnectionError("failed less than a second ago")
            self._release_leftovers()
            ticket = self._modify(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
            lock = await self._acquire_lock(conversation_id, ticket, wait)
        except redis.RedisError as exc:
            if self.breaker.allows():
                logger.warning("lock store unreachable (%s); ordering in this process", exc)
                self.breaker.trip()
            self.degraded.inc()
            async with self.local.lock(conversation_id, lock_lifetime, wait) as local:
                yield local
            return
        try:
            yield lock
        finally:
            try:
                self.cleanup(conversation_id, ticket)
            except redis.RedisError:
                self.unreleased.add((conversation_id, ticket))


def _loads(raw: bytes | str) -> dict[str, Any]:
    return json.loads(raw)


def _now() -> float:
    return time.time()
