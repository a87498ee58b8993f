"""Rasa's SQL tracker store on the project's PostgreSQL, made to keep answering.

Configured in endpoints.yml (``type: rasa_ext.sql_store.PostgresTrackerStore``); Rasa's
own ``events`` table and queries, so ``type: sql`` reads the same data back. What it adds:

- No acknowledged message is lost. A save the database cannot take goes to a local fsynced
  journal (rasa_ext/spool.py) before the answer leaves, and is written, in order, once the
  database is back; a journal left by a killed process is replayed by the next one. Rasa
  wraps every store in its FailSafeTrackerStore, which would otherwise keep such turns in
  memory only.
- The event loop never waits on the database: every query runs in a worker thread, with a
  2 s connect and statement timeout, and a dead pooled connection is replaced (pre-ping).
- Each save appends exactly the events added since the tracker was read, inside a
  transaction holding a per-conversation advisory lock, so two Rasa processes that serve
  one conversation at once (the lock store degraded, rasa_ext/stores.py) both keep their
  events; Rasa's own store counts stored rows and drops some in that case.
- The erasure guard of the Redis store (the user's "being erased" marker, read from
  PZ_REDIS_URL): no tracker of a user being erased is saved or streamed. Without Redis the
  guard cannot look and the save goes ahead; erasure itself needs Redis, so none runs then.
- Retention: conversations whose last event is older than PZ_RETENTION_DAYS are deleted at
  start-up and then hourly.
- Metrics (prometheus_client, served by the REST channel's /metrics): query latency and
  errors by operation, journalled and replayed events.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from core.breaker import Breaker
from core.redis_keys import UserKeys
from core.settings import ROOT, Settings
from rasa_ext import speedups
from rasa_ext.spool import Batch, Spool
from rasa_ext.stores import _configured_pseudonym_key, publish_all

logger = logging.getLogger(__name__)

STORED = "_pz_stored_events"  # on a tracker: how many of its events the store holds
TIMEOUT_S = 2
PRUNE_EVERY_S = 3600
RECENT = 5000  # trackers kept to go on with while the database is unreachable


class PostgresTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Any = None,
        host: str | None = None,
        port: int | None = None,
        db: str = "voltmart",
        username: str | None = None,
        password: str | None = None,
        event_broker: Any = None,
        key_prefix: str = "pz",
        spool_dir: str | None = None,
        settings: Settings | None = None,  # None: this process's environment (Rasa builds us)
        guard: redis.Redis | None = None,
        connect_wait_s: float = 30,
        **kwargs: Any,
    ) -> None:
        settings = settings or Settings.from_env()
        speedups.install(settings.rasa_speedups)
        # Rasa's constructor retries forever; a command (segment export) must end instead.
        _wait_for_database(host, port, db, username, password, float(connect_wait_s))
        options = f"-c statement_timeout={TIMEOUT_S * 1000} -c lock_timeout={TIMEOUT_S * 1000}"
        query = {"connect_timeout": str(TIMEOUT_S), "options": options}
        super().__init__(
            domain, "postgresql", host, port, db, username, password, event_broker, query=query
        )
        # Rasa's engine again, with dead connections replaced after a database restart.
        self.engine = sa.create_engine(self.engine.url, pool_pre_ping=True, pool_size=5)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        namespace = key_prefix if key_prefix.isalnum() else "pz"
        self.user_keys = UserKeys(namespace, _configured_pseudonym_key(settings))
        self.guard = guard or redis.Redis.from_url(
            settings.redis.shared_url or settings.redis.url,
            socket_timeout=0.1,
            socket_connect_timeout=0.1,
            decode_responses=True,
        )
        self.guard_breaker = Breaker()
        self.db_breaker = Breaker()
        self.retention_s = settings.privacy.retention_seconds
        # One journal directory per database, so a replay never lands in another one.
        self.spool = Spool(Path(spool_dir or ROOT / "var" / "spool" / f"{db}-{port}"))
        self.spool.claim_orphans()
        self._pruned_at = 0.0
        self.recent: OrderedDict[str, DialogueStateTracker] = OrderedDict()
        self.metrics = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "pz_tracker_store_seconds",
            "tracker store queries, by operation",
            ["op"],
            registry=self.metrics,
        )
        self.errors = Counter(
            "pz_tracker_store_errors_total",
            "failed tracker store queries",
            ["op"],
            registry=self.metrics,
        )
        self.journalled = Counter(
            "pz_tracker_journalled_events_total",
            "events journalled locally while the database was unreachable",
            registry=self.metrics,
        )
        self.replayed = Counter(
            "pz_tracker_replayed_events_total",
            "journalled events written to the database",
            registry=self.metrics,
        )
        self.refused = Counter(
            "pz_tracker_refused_saves_total",
            "saves refused: the user is being erased",
            registry=self.metrics,
        )
        Gauge(
            "pz_tracker_journal_batches",
            "saves waiting in the local journal",
            registry=self.metrics,
        ).set_function(lambda: self.spool.pending)
        try:
            self._catch_up()
        except sa.exc.SQLAlchemyError:
            logger.warning("the database did not take the journal yet; trying again later")

    # -- reading ---------------------------------------------------------------------------
    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The last session; while the database is unreachable, or has not yet taken this
        sender's journalled turns, the tracker this process saved last (else None: Rasa
        starts a new session, and the database gets it after the old one)."""
        try:
            if not self.db_breaker.allows():
                raise DatabaseSkipped()
            if self.spool.pending:
                await asyncio.to_thread(self._catch_up)
            return await self._timed("retrieve", self._read, sender_id, False)
        except sa.exc.SQLAlchemyError as exc:
            # Not raised: Rasa's FailSafeTrackerStore would log that it falls back to memory.
            self._failed(exc)
            return self.recent.get(sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return await self._timed("retrieve", self._read, conversation_id, True)

    def _read(self, sender_id: str, everything: bool) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, everything).all()
            events = [json.loads(row.data) for row in rows]
        if not self.domain or not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, STORED, len(tracker.events))
        return tracker

    async def keys(self) -> Iterable[str]:
        return await self._timed("keys", self._keys)

    def _keys(self) -> list[str]:
        with self.session_scope() as session:
            return [s for (s,) in session.query(self.SQLEvent.sender_id).distinct()]

    # -- writing ---------------------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        if await asyncio.to_thread(self._being_erased, tracker.sender_id):
            self.refused.inc()
            self.recent.pop(tracker.sender_id, None)
            logger.warning(
                "tracker of %r not saved: the user is being erased", tracker.sender_id[:64]
            )
            return
        # A tracker this store did not read is new (Rasa's create_tracker): all of it.
        stored = getattr(tracker, STORED, 0)
        new = [e.as_dict() for e in itertools.islice(tracker.events, stored, len(tracker.events))]
        if not new:
            return
        try:
            if not self.db_breaker.allows():
                raise DatabaseSkipped()
            await self._timed("save", self._write, [(tracker.sender_id, new)])
        except sa.exc.SQLAlchemyError as exc:
            self._failed(exc)
            # Durable on disk before the answer leaves (an OSError here fails the turn).
            await asyncio.to_thread(self.spool.append, tracker.sender_id, new)
            self.journalled.inc(len(new))
            logger.debug("database unavailable (%s); %d event(s) journalled", _short(exc), len(new))
        setattr(tracker, STORED, len(tracker.events))
        self._remember(tracker)
        self._publish(tracker.sender_id, new)

    def _failed(self, exc: Exception) -> None:
        """A database that just failed is not asked again for a second: each turn then
        costs a journal append, not a connect timeout and a re-read of the journal."""
        if not isinstance(exc, DatabaseSkipped):
            self.db_breaker.trip()
            logger.warning("database unavailable (%s); journalling for a second", _short(exc))

    def _remember(self, tracker: DialogueStateTracker) -> None:
        self.recent[tracker.sender_id] = tracker
        self.recent.move_to_end(tracker.sender_id)
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)

    def _write(self, batches: list[Batch]) -> None:
        """One transaction; each conversation's appends serialised by an advisory lock."""
        self._catch_up()
        with self.session_scope() as session:
            for sender_id in sorted({sender for sender, _ in batches}):
                session.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:sender))"),
                    {"sender": sender_id},
                )
            for sender_id, events in batches:
                session.add_all(self._row(sender_id, data) for data in events)
            session.commit()
        self._prune_if_due()

    def _row(self, sender_id: str, data: dict[str, Any]) -> Any:
        intent = (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY)
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=data.get("event"),
            timestamp=data.get("timestamp"),
            intent_name=intent,
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    def _catch_up(self) -> None:
        """Write the journal first, so the database holds every earlier turn in order;
        raises while the database is still down (the journal stays)."""
        if not self.spool.pending:
            return
        written: list[int] = []

        def write(batches: list[Batch]) -> None:
            with self.session_scope() as session:
                for sender_id, events in batches:
                    session.add_all(self._row(sender_id, data) for data in events)
                session.commit()
            written.append(sum(len(events) for _, events in batches))

        if self.spool.replay(write):
            self.replayed.inc(sum(written))
            logger.info("wrote %d journalled event(s) to the database", sum(written))

    def _publish(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        if self.event_broker is None:
            return
        publish_all(self.event_broker, [{"sender_id": sender_id, **event} for event in events])

    def _being_erased(self, sender_id: str) -> bool:
        if not self.guard_breaker.allows():
            return False
        try:
            return bool(self.guard.exists(self.user_keys.erasing(sender_id)))
        except redis.RedisError:
            self.guard_breaker.trip()
            return False  # erasure needs Redis too, so none is running (module docstring)

    # -- retention -------------------------------------------------------------------------
    def _prune_if_due(self) -> None:
        if not self.retention_s or time.time() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = time.time()
        try:
            removed = self.prune(time.time() - self.retention_s)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("retention: could not delete old conversations (%s)", _short(exc))
            return
        if removed:
            logger.info("retention: deleted %d event(s) of expired conversations", removed)

    def prune(self, before: float) -> int:
        """Delete conversations whose last event is older than `before` (epoch seconds)."""
        with self.session_scope() as session:
            result = session.execute(
                sa.text(
                    "DELETE FROM events WHERE sender_id IN (SELECT sender_id FROM events "
                    "GROUP BY sender_id HAVING max(timestamp) < :before)"
                ),
                {"before": before},
            )
            session.commit()
            return result.rowcount or 0

    async def _timed(self, op: str, func: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return await asyncio.to_thread(func, *args)
        except Exception:
            self.errors.labels(op).inc()
            raise
        finally:
            self.latency.labels(op).observe(time.perf_counter() - start)


class DatabaseSkipped(sa.exc.OperationalError):
    """The database failed less than a second ago; not asked again yet."""

    def __init__(self) -> None:
        super().__init__("skipped", None, None)

    def __str__(self) -> str:
        return "it failed less than a second ago"


def _wait_for_database(
    host: str | None, port: Any, db: str, user: str | None, password: str | None, wait_s: float
) -> None:
    import psycopg2

    deadline = time.monotonic() + wait_s
    while True:
        try:
            psycopg2.connect(
                host=host or "127.0.0.1",
                port=int(port or 5432),
                dbname=db,
                user=user,
                password=password,
                connect_timeout=TIMEOUT_S,
            ).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"PostgreSQL at {host}:{port}/{db} did not answer for {wait_s:.0f} s "
                    f"({_short(exc)}); start it (make run) or fix tracker_store in endpoints.yml"
                ) from None
            time.sleep(1)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
