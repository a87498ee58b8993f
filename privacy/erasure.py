"""Erase users from every store, with a receipt saying what went where.

One call erases a batch (the operator endpoint takes a list), so each shared
structure (streams, decision logs, published segment versions, experiment
indexes) is walked once for all ids. Aggregates that hold no id (bandit
counters, experiment totals) keep their counts.

PlacedOrder matters: the "being erased" marker (privacy/tombstones.py) is set first,
so a turn already running cannot save its tracker, stream events or write live
features back after the keys are gone.

With a Redis Cluster (core/redis_clients.py) the user's tagged keys are on the cluster
and Rasa's stores, streams and experiment logs on a standalone Redis beside it: every step
then runs against both (SCAN walks every node of the cluster), and the marker is set in both,
for the feature worker and for the tracker store.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from core.redis_keys import UserKeys, bucket_key, decision_index_key, decision_seen_key
from privacy.tombstones import ERASURE_GRACE_S

MAX_IDS_PER_CALL = 1000
MAX_ID_CHARS = 256


def per_user_keys(keys: UserKeys, user: str) -> list[tuple[str, str]]:
    """(key, the receipt's name for it) for every key named after the user."""
    ns = keys.namespace
    return [
        (keys.profile(user), "profile"),
        (keys.consent(user), "consent"),
        (keys.live(user), "live_features"),
        (keys.live_ids(user), "live_features"),
        (f"{ns}:tracker:{user}", "tracker"),  # Rasa's own names (rasa_ext/stores.py)
        (f"{ns}:lock:{user}", "lock"),
        # Named by a digest of the id (experiments/decisions.py), on the decisions' Redis.
        (decision_index_key(ns, user), "decision_index"),
        (decision_seen_key(ns, user), "decision_index"),
        *keys.shop_keys(user),  # carts and orders in every account space, back-in-stock
    ]


class ErasureError(ValueError):
    """The request cannot be carried out as given (bad ids); nothing was erased."""


def check_ids(user_ids: Iterable[Any]) -> list[str]:
    ids = list(user_ids)
    if not ids:
        raise ErasureError("give at least one user id")
    if len(ids) > MAX_IDS_PER_CALL:
        raise ErasureError(f"at most {MAX_IDS_PER_CALL} user ids per call; split the list")
    for user in ids:
        if not isinstance(user, str) or not user.strip() or len(user) > MAX_ID_CHARS:
            raise ErasureError(
                f"user ids must be non-empty strings of at most {MAX_ID_CHARS} chars"
            )
    return list(dict.fromkeys(ids))


def glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def entry_owner(fields: dict[Any, Any], ids: set[str]) -> str | None:
    """The erased user a stream entry is about: a field equal to the id, or JSON naming it."""
    for raw in fields.values():
        value = as_text(raw)
        if value in ids:
            return value
        if value.startswith("{"):
            try:
                data = json.loads(value)
            except ValueError:
                data = None
            if isinstance(data, dict):
                for name in ("sender_id", "user", "user_id"):
                    if data.get(name) in ids:
                        return data[name]
        for user in ids:  # malformed JSON (dead letters) still names the user in quotes
            if json.dumps(user) in value:
                return user
    return None


async def scan_keys(client: Any, pattern: str, type_: str | None = None) -> list[str]:
    return [as_text(k) async for k in client.scan_iter(match=pattern, count=1000, _type=type_)]


class Eraser:
    """Removes users' data from one Redis namespace (asyncio clients, decode off)."""

    def __init__(
        self,
        client: Any,
        namespace: str = "pz",
        grace_s: int = ERASURE_GRACE_S,
        pseudonym_key: bytes | None = None,  # pseudonyms name segments and tag user keys
        shared: Any = None,  # with a cluster: the standalone Redis beside it
        conversations: Any = None,  # privacy/conversations.py, when they live in PostgreSQL
    ):
        self.conversations = conversations
        self.client = client
        self.ns = namespace
        self.grace_s = grace_s
        self.pseudonym_key = pseudonym_key
        self.keys = UserKeys(namespace, pseudonym_key)
        self.clients = [client] if shared is None or shared is client else [client, shared]

    async def erase(self, user_ids: Iterable[Any]) -> dict[str, dict[str, int]]:
        """Erase the users; returns {user: {store: items removed}}."""
        ids = check_ids(user_ids)
        receipt: dict[str, dict[str, int]] = {u: defaultdict(int) for u in ids}
        for client in self.clients:
            async with client.pipeline(transaction=False) as pipe:
                for user in ids:
                    pipe.set(self.keys.erasing(user), 1, ex=self.grace_s)
                await pipe.execute()
        for client in self.clients:
            await self._per_user_keys(client, ids, receipt)
            await self._experiments(client, ids, receipt)
            await self._decisions(client, ids, receipt)
            await self._streams(client, ids, receipt)
        await self._segments(ids, receipt)
        if self.conversations is not None:  # after the marker: no save can bring them back
            for user, n in (await self.conversations.erase(ids)).items():
                receipt[user]["tracker"] += n
        return {u: dict(sorted(counts.items())) for u, counts in receipt.items()}

    async def _per_user_keys(self, client: Any, ids: list[str], receipt: dict) -> None:
        names = [(u, key, store) for u in ids for key, store in per_user_keys(self.keys, u)]
        for user in ids:
            for key in await scan_keys(client, f"{self.ns}:rl:*:{glob_escape(user)}"):
                names.append((user, key, "rate_limits"))
        async with client.pipeline(transaction=False) as pipe:
            for _, key, _ in names:
                pipe.delete(key)
            removed = await pipe.execute()
        for (user, _, store), n in zip(names, removed, strict=True):
            receipt[user][store] += n

    async def _experiments(self, client: Any, ids: list[str], receipt: dict) -> None:
        for user in ids:
            keys = await scan_keys(client, f"{self.ns}:exp:*:u:{glob_escape(user)}")
            if keys:
                receipt[user]["experiment_exposures"] += await client.delete(*keys)
        for suffix in ("exposed", "conv", "ret"):  # ret: returns (experiments/exposures.py)
            for index in await scan_keys(client, f"{self.ns}:exp:*:{suffix}", "hash"):
                removed = await self._hdel_each(client, index, ids)
                for user, n in removed.items():
                    receipt[user]["experiment_exposures"] += n

    async def _hdel_each(self, client: Any, key: str, ids: list[str]) -> dict[str, int]:
        async with client.pipeline(transaction=False) as pipe:
            for user in ids:
                pipe.hdel(key, user)
            return dict(zip(ids, await pipe.execute(), strict=True))

    async def _segments(self, ids: list[str], receipt: dict) -> None:
        """Published versions (on the stores' Redis): under the pseudonym and the raw id."""
        versions = [k.split(":")[-2] for k in await scan_keys(self.client, f"{self.ns}:seg:*:meta")]
        raw_ids = UserKeys(self.ns)
        pairs = [
            (u, bucket_key(self.ns, v, keys.bucket(u)), keys.subject(u))
            for u in ids
            for keys in {self.keys, raw_ids}
            for v in versions
        ]
        async with self.client.pipeline(transaction=False) as pipe:
            for _, key, name in pairs:
                pipe.hdel(key, name)
            removed = await pipe.execute()
        for (user, _, _), n in zip(pairs, removed, strict=True):
            receipt[user]["segment_versions"] += n

    async def _decisions(self, client: Any, ids: list[str], receipt: dict) -> None:
        wanted = set(ids)
        keys = await scan_keys(client, f"{self.ns}:dec:*", "hash")
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            async with client.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.hget(key, "user")
                owners = await pipe.execute()
            doomed = [
                (k, as_text(o))
                for k, o in zip(chunk, owners, strict=True)
                if o and as_text(o) in wanted
            ]
            if doomed:
                await client.delete(*(k for k, _ in doomed))
                for _, user in doomed:
                    receipt[user]["decisions"] += 1

    async def _streams(self, client: Any, ids: list[str], receipt: dict) -> None:
        wanted = set(ids)
        for stream in await scan_keys(client, f"{self.ns}:*", "stream"):
            store = "stream:" + stream[len(self.ns) + 1 :]
            last = "-"
            while True:
                entries = await client.xrange(stream, min=last, max="+", count=1000)
                if last != "-" and entries and as_text(entries[0][0]) == last:
                    entries = entries[1:]
                if not entries:
                    break
                doomed = []
                for entry_id, fields in entries:
                    owner = entry_owner(fields, wanted)
                    if owner is not None:
                        doomed.append(entry_id)
                        receipt[owner][store] += 1
                if doomed:
                    await client.xdel(stream, *doomed)
                last = as_text(entries[-1][0])
