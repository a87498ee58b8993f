"""The feature worker's processing: consumes events, keeps live features, re-assigns
segments online (run by realtime/worker.py: voltmart-worker).

Each batch: apply every event's live-feature update (idempotent by event id,
one pipelined round trip), attribute purchases and add-to-carts of the users
whose events were kept (consent) to the decision before them, acknowledge the
batch, then re-assign the segment of users whose features changed enough:
after any purchase, and after new messages once `reassign_interval_s` has passed
since their last assignment. The model is the one `segment publish` made active
(its JSON assigner spec).

On a Redis Cluster (PZ_REDIS_CLUSTER=1) the live features are on the cluster and the event
stream on the standalone Redis beside it (PZ_SHARED_REDIS_URL). A script call may only
touch one slot there, so updates are batched per slot instead of in runs of 100; the
calls still go out in one pipeline, split per node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import NoScriptError, ResponseError

from core.redis_clients import is_cluster
from core.redis_keys import UserKeys
from core.settings import PrivacySettings, Settings
from experiments.policy import ArmChooser
from realtime.live import (
    APPLY_SCRIPT,
    CONVERSIONS,
    KEYS_PER_UPDATE,
    Update,
    as_features,
    script_args,
    update_for,
    update_payload,
)
from realtime.model_cache import ModelCache
from realtime.sources import EventSource, Rejected

logger = logging.getLogger(__name__)
APPLY_CHUNK = 100  # updates per script call
MIN_CHAT_MESSAGES = 3  # messages before chat alone places a new visitor (a purchase always)


# Live features expire this long after a user's last event (PZ_RETENTION_DAYS; 0: never).
DEFAULT_LIVE_TTL_S = PrivacySettings().retention_seconds


@dataclass
class Stats:
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    not_kept: int = 0  # no consent to personalization, or being erased
    malformed: int = 0
    reassigned: int = 0
    segment_changes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    # Purchases and add-to-carts by what they did to the decision before them (rewarded,
    # already_rewarded, unattributed: none in the window, replayed, failed), and the
    # experiment conversions they recorded.
    attributions: dict[str, int] = field(default_factory=dict)
    conversions: int = 0


def enough_chat(live: dict[str, str]) -> bool:
    """Whether chat alone is evidence enough to place (or move) a user: MIN_CHAT_MESSAGES
    messages in their live features."""
    try:
        return float(live.get("messages") or 0) >= MIN_CHAT_MESSAGES
    except ValueError:
        return False


class FeatureWorker:
    def __init__(
        self,
        source: EventSource,
        client,
        namespace: str = "pz",
        reassign_interval_s: float = 30.0,
        live_ttl_s: int = DEFAULT_LIVE_TTL_S,
        require_consent: bool = True,
        pseudonym_key: bytes | None = None,  # names published segments and tags user keys
        chooser: ArmChooser | None = None,  # decisions and exposures; None: no attribution
        attribution_window_s: float = Settings.attribution_window_s,
    ) -> None:
        self.source, self.client, self.namespace = source, client, namespace
        self.chooser, self.attribution_window_s = chooser, attribution_window_s
        self.reassign_interval_s = reassign_interval_s
        self.live_ttl_s = live_ttl_s
        self.require_consent = require_consent
        self.pseudonym_key = pseudonym_key
        self.keys = UserKeys(namespace, pseudonym_key)
        self.per_tag = is_cluster(client)  # one slot per script call on a cluster
        self.models = ModelCache(client, namespace)
        self.stats = Stats()
        self._sha: str | None = None
        # When this worker last assigned each user: skips a Redis read for users who are
        # not due yet (bounded; forgetting a user only costs one extra read).
        self._assigned_at: OrderedDict[str, float] = OrderedDict()
        self.dead_letters = f"{namespace}:events:dead"

    async def process(self, entries) -> None:
        """Apply one batch, ack it, then re-assign the users it touched."""
        if self._sha is None:  # EVALSHA inside a pipeline cannot fall back to EVAL
            self._sha = await self.client.script_load(APPLY_SCRIPT)
        touched: dict[str, str] = {}
        keys: list[list[str]] = []
        payloads: list[dict] = []
        updates: list[Update] = []
        for event_id, event in entries:
            if isinstance(event, Rejected):
                self.stats.malformed += 1
                await self.client.xadd(
                    self.dead_letters,
                    {"id": event_id, "reason": event.reason, "head": event.head},
                    maxlen=10_000,
                    approximate=True,
                )
                continue
            update = update_for(event)
            if update is None:
                self.stats.skipped += 1
                continue
            keys.append(self._keys(update.user_id))
            payloads.append(update_payload(update, event_id))
            updates.append(update)
        results = await self._apply(keys, payloads)
        for update, result in zip(updates, results, strict=True):
            if result == 1 and (
                update.kind == "purchase" or touched.get(update.user_id) != "purchase"
            ):
                touched[update.user_id] = update.kind
        for payload, result in zip(payloads, results, strict=True):
            if result == -1:
                self.stats.malformed += 1
                await self.client.xadd(
                    self.dead_letters,
                    {"id": payload["e"], "reason": "live key has the wrong type"},
                    maxlen=10_000,
                    approximate=True,
                )
        self.stats.applied += sum(1 for r in results if r == 1)
        self.stats.duplicates += sum(1 for r in results if r == 0)
        self.stats.not_kept += sum(1 for r in results if r == 2)
        await self.attribute(updates, payloads, results)
        await self.source.ack([eid for eid, _ in entries])
        await self.reassign(touched)

    async def attribute(
        self, updates: list[Update], payloads: list[dict], results: list[int | None]
    ) -> None:
        """Reward the decision before each kept purchase or add-to-cart. Replays (result 0)
        are attributed again: the store answers a seen entry as before, so a crash between
        applying and attributing loses nothing and nothing counts twice."""
        if self.chooser is None:
            return
        counts = self.stats.attributions
        for update, payload, result in zip(updates, payloads, results, strict=True):
            conversion = CONVERSIONS.get(update.kind)
            if conversion is None or update.at is None or result not in (0, 1):
                continue  # not a conversion, or not kept (no consent, being erased)
            try:
                outcome, converted = await self.chooser.attribute(
                    update.user_id, conversion, update.at, self.attribution_window_s, payload["e"]
                )
            except ResponseError as exc:  # a key of the wrong type: skip, do not stall
                logger.warning("%s %s not attributed: %s", conversion, payload["e"], exc)
                counts["failed"] = counts.get("failed", 0) + 1
                continue
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            self.stats.conversions += len(converted)

    def _chunks(self, keys: list[list[str]]) -> list[list[int]]:
        """Indexes of the updates each script call applies, in stream order: runs of
        APPLY_CHUNK, or on a cluster runs within one slot (a call must stay in one slot)."""
        if not self.per_tag:
            return [
                list(range(start, min(start + APPLY_CHUNK, len(keys))))
                for start in range(0, len(keys), APPLY_CHUNK)
            ]
        by_slot: dict[int, list[int]] = {}
        for i, user_keys in enumerate(keys):
            by_slot.setdefault(key_slot(user_keys[0].encode()), []).append(i)
        return [
            group[start : start + APPLY_CHUNK]
            for group in by_slot.values()
            for start in range(0, len(group), APPLY_CHUNK)
        ]

    async def _apply(self, keys: list[list[str]], payloads: list[dict]) -> list[int | None]:
        """One result per update (None: Redis refused it; dead-lettered)."""
        results: list[int | None] = [None] * len(payloads)
        chunks = self._chunks(keys)
        replies = await self._apply_chunks(keys, payloads, chunks)
        lost = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if lost:
            # Redis (or one cluster node) restarted and forgot the script: load it again (on
            # every node) and apply those chunks again. Nothing was applied by a NOSCRIPT call,
            # so this cannot double count.
            self._sha = await self.client.script_load(APPLY_SCRIPT)
            again = await self._apply_chunks(keys, payloads, [chunks[n] for n in lost])
            for n, reply in zip(lost, again, strict=True):
                replies[n] = reply
        for chunk, reply in zip(chunks, replies, strict=True):
            if isinstance(reply, ResponseError):  # e.g. a live key of the wrong type
                reply = await self._apply_one_by_one(keys, payloads, chunk)
            elif isinstance(reply, Exception):
                raise reply
            for i, result in zip(chunk, reply, strict=True):
                results[i] = result
        return results

    async def _apply_chunks(
        self, keys: list[list[str]], payloads: list[dict], chunks: list[list[int]]
    ) -> list:
        if not chunks:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                chunk_keys = [key for i in chunk for key in keys[i]]
                # execute_command, not pipe.evalsha: redis-py's cluster pipeline refuses the
                # evalsha method (it could not reload a script per node); NOSCRIPT is handled
                # above, and the command is routed by its keys like any other.
                pipe.execute_command(
                    "EVALSHA",
                    self._sha,
                    len(chunk_keys),
                    *chunk_keys,
                    *self._args([payloads[i] for i in chunk]),
                )
            return await pipe.execute(raise_on_error=False)

    def _keys(self, user: str) -> list[str]:
        names = self.keys.names(user)
        return [names.live, names.live_ids, names.consent, names.erasing]

    def _args(self, payloads: list[dict]) -> list:
        return script_args(payloads, self.live_ttl_s, self.require_consent)

    async def _apply_one_by_one(
        self, keys: list[list[str]], payloads: list[dict], chunk: list[int]
    ) -> list[int | None]:
        """Isolate the update Redis refused, so one bad key cannot stall the stream."""
        out: list[int | None] = []
        for i in chunk:
            try:
                out += await self.client.evalsha(
                    self._sha, KEYS_PER_UPDATE, *keys[i], *self._args([payloads[i]])
                )
            except ResponseError as exc:
                self.stats.malformed += 1
                out.append(None)
                await self.client.xadd(
                    self.dead_letters,
                    {"id": payloads[i]["e"], "reason": str(exc)[:200]},
                    maxlen=10_000,
                    approximate=True,
                )
        return out

    def _remember(self, user: str, at: float) -> None:
        self._assigned_at[user] = at
        self._assigned_at.move_to_end(user)
        if len(self._assigned_at) > 200_000:
            self._assigned_at.popitem(last=False)

    async def _without_known_segment(
        self, users: list[str], touched: dict[str, str], version: str | None
    ) -> list[str]:
        """Chat alone re-segments only users nobody has segmented yet.

        The worker's live counters start where the stream starts, so a few messages
        say little about a user the batch segmentation or the CRM already placed:
        for those, only a purchase (strong, fresh evidence) triggers re-assignment.
        """
        chat_only = [u for u in users if touched[u] != "purchase"]
        if not chat_only:
            return users
        async with self.client.pipeline(transaction=False) as pipe:
            for user in chat_only:
                pipe.hget(self.keys.profile(user), "segment")
                if version:
                    pipe.hget(self.keys.segment(user, version), self.keys.subject(user))
            found = await pipe.execute()
        per_user = 2 if version else 1
        known = {
            u for i, u in enumerate(chat_only) if any(found[i * per_user : (i + 1) * per_user])
        }
        for user in known:
            self._remember(user, time.time() + 10 * self.reassign_interval_s)
        return [u for u in users if u not in known]

    async def reassign(self, touched: dict[str, str]) -> None:
        version, assigner = await self.models.get()
        if assigner is None or not touched:
            return
        now = time.time()
        users = [
            u
            for u, trigger in touched.items()
            if trigger == "purchase"
            or now - self._assigned_at.get(u, 0.0) >= self.reassign_interval_s
        ]
        users = await self._without_known_segment(users, touched, version)
        async with self.client.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hgetall(self.keys.live(user))
            lives = await pipe.execute()
        due: list[tuple[str, dict[str, str], dict]] = []
        for user, raw in zip(users, lives, strict=True):
            live = {k.decode(): v.decode() for k, v in raw.items()}
            last = float(live.get("segment_at") or 0)  # another worker may have done it
            if touched[user] != "purchase" and not enough_chat(live):
                continue  # a greeting says too little to place a new visitor
            if touched[user] == "purchase" or now - last >= self.reassign_interval_s:
                due.append((user, live, as_features(live, now)))
            else:
                self._remember(user, last)
        segments = assigner.predict_many([features for _, _, features in due])
        async with self.client.pipeline(transaction=False) as pipe:
            for (user, live, features), segment in zip(due, segments, strict=True):
                self.stats.reassigned += 1
                self._remember(user, now)
                key = self.keys.live(user)
                if segment == live.get("segment") and version == live.get("segment_version"):
                    pipe.hset(key, "segment_at", f"{now:.3f}")
                    continue
                trigger = touched[user]
                self.stats.segment_changes += 1
                self.stats.reasons[trigger] = self.stats.reasons.get(trigger, 0) + 1
                pipe.hset(
                    key,
                    mapping={
                        "segment": segment,
                        "persona": self.models.personas.get(segment, "default"),
                        "segment_version": version or "",
                        "segment_reason": (
                            f"{trigger}: {live.get('segment') or 'none'} -> {segment} "
                            f"(purchases={features['frequency']:.0f}, "
                            f"spend={features['monetary']:.2f}, "
                            f"messages={float(live.get('messages') or 0):.0f})"
                        ),
                        "segment_at": f"{now:.3f}",
                    },
                )
            await pipe.execute()

    async def run(self, stop: asyncio.Event, batch: int = 500, block_ms: int = 1000) -> None:
        """Consume until `stop` is set, reading the next batch while this one is applied."""
        prefetch: asyncio.Future | None = None
        while not stop.is_set():
            try:
                entries = await (prefetch or self.source.read(batch, block_ms))
                prefetch = None
                if entries:
                    # Redis runs this batch's script while Python decodes the next one.
                    prefetch = asyncio.ensure_future(self.source.read(batch, block_ms))
                    await self.process(entries)
            except (aioredis.RedisError, OSError) as exc:
                prefetch = None
                logger.warning("feature worker: Redis unavailable (%s); retrying in 1 s", exc)
                await asyncio.sleep(1)
        if prefetch is not None:  # its entries stay pending and are replayed on restart
            prefetch.cancel()

    @property
    def handled(self) -> int:
        s = self.stats
        return s.applied + s.duplicates + s.skipped + s.not_kept + s.malformed
