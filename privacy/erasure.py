"""Erase users from every store, with a receipt saying what went where.

One call erases a batch (the operator endpoint takes a list), so each shared
structure (streams, decision logs, published segment versions, experiment
indexes) is walked once for all ids. Aggregates that hold no id (bandit
counters, experiment totals) keep their counts.

Order matters: the "being erased" marker (privacy/tombstones.py) is set first,
so a turn already running cannot save its tracker, stream events or write live
features back after the keys are gone.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from actions.segment_keys import bucket_key, bucket_of
from privacy.pseudonyms import subject
from privacy.tombstones import ERASURE_GRACE_S, erasing_key

MAX_IDS_PER_CALL = 1000
MAX_ID_CHARS = 256

# Keys named after the user: <ns>:<kind>:<user>[suffix] -> the receipt's name for them.
PER_USER_KEYS = (
    ("profile", "", "profile"),
    ("consent", "", "consent"),
    ("live", "", "live_features"),
    ("live", ":ids", "live_features"),
    ("tracker", "", "tracker"),
    ("lock", "", "lock"),
)


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
    """Removes users' data from one Redis namespace (an asyncio client, decode off)."""

    def __init__(
        self,
        client: Any,
        namespace: str = "pz",
        grace_s: int = ERASURE_GRACE_S,
        pseudonym_key: bytes | None = None,  # published segments name users by pseudonym
    ):
        self.client = client
        self.ns = namespace
        self.grace_s = grace_s
        self.pseudonym_key = pseudonym_key

    async def erase(self, user_ids: Iterable[Any]) -> dict[str, dict[str, int]]:
        """Erase the users; returns {user: {store: items removed}}."""
        ids = check_ids(user_ids)
        receipt: dict[str, dict[str, int]] = {u: defaultdict(int) for u in ids}
        async with self.client.pipeline(transaction=False) as pipe:
            for user in ids:
                pipe.set(erasing_key(self.ns, user), 1, ex=self.grace_s)
            await pipe.execute()
        await self._per_user_keys(ids, receipt)
        await self._experiments(ids, receipt)
        await self._segments(ids, receipt)
        await self._decisions(ids, receipt)
        await self._streams(ids, receipt)
        return {u: dict(sorted(counts.items())) for u, counts in receipt.items()}

    async def _per_user_keys(self, ids: list[str], receipt: dict) -> None:
        names = [
            (u, f"{self.ns}:{kind}:{u}{suffix}", store)
            for u in ids
            for kind, suffix, store in PER_USER_KEYS
        ]
        for user in ids:
            for key in await scan_keys(self.client, f"{self.ns}:rl:*:{glob_escape(user)}"):
                names.append((user, key, "rate_limits"))
        async with self.client.pipeline(transaction=False) as pipe:
            for _, key, _ in names:
                pipe.delete(key)
            removed = await pipe.execute()
        for (user, _, store), n in zip(names, removed, strict=True):
            receipt[user][store] += n

    async def _experiments(self, ids: list[str], receipt: dict) -> None:
        for user in ids:
            keys = await scan_keys(self.client, f"{self.ns}:exp:*:u:{glob_escape(user)}")
            if keys:
                receipt[user]["experiment_exposures"] += await self.client.delete(*keys)
        for suffix in ("exposed", "conv"):
            for index in await scan_keys(self.client, f"{self.ns}:exp:*:{suffix}", "hash"):
                removed = await self._hdel_each(index, ids)
                for user, n in removed.items():
                    receipt[user]["experiment_exposures"] += n

    async def _hdel_each(self, key: str, ids: list[str]) -> dict[str, int]:
        async with self.client.pipeline(transaction=False) as pipe:
            for user in ids:
                pipe.hdel(key, user)
            return dict(zip(ids, await pipe.execute(), strict=True))

    async def _segments(self, ids: list[str], receipt: dict) -> None:
        versions = [k.split(":")[-2] for k in await scan_keys(self.client, f"{self.ns}:seg:*:meta")]
        names = {u: {u, subject(u, self.pseudonym_key)} for u in ids}
        pairs = [(u, v, name) for u in ids for v in versions for name in names[u]]
        async with self.client.pipeline(transaction=False) as pipe:
            for _, version, name in pairs:
                pipe.hdel(bucket_key(self.ns, version, bucket_of(name)), name)
            removed = await pipe.execute()
        for (user, _, _), n in zip(pairs, removed, strict=True):
            receipt[user]["segment_versions"] += n

    async def _decisions(self, ids: list[str], receipt: dict) -> None:
        wanted = set(ids)
        keys = await scan_keys(self.client, f"{self.ns}:dec:*", "hash")
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            async with self.client.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.hget(key, "user")
                owners = await pipe.execute()
            doomed = [
                (k, as_text(o))
                for k, o in zip(chunk, owners, strict=True)
                if o and as_text(o) in wanted
            ]
            if doomed:
                await self.client.delete(*(k for k, _ in doomed))
                for _, user in doomed:
                    receipt[user]["decisions"] += 1

    async def _streams(self, ids: list[str], receipt: dict) -> None:
        wanted = set(ids)
        for stream in await scan_keys(self.client, f"{self.ns}:*", "stream"):
            store = "stream:" + stream[len(self.ns) + 1 :]
            last = "-"
            while True:
                entries = await self.client.xrange(stream, min=last, max="+", count=1000)
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
                    await self.client.xdel(stream, *doomed)
                last = as_text(entries[-1][0])
