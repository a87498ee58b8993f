"""Look for a user everywhere in Redis: the proof an erasure worked (tests, security check).

Reads every key and every value (all types, every stream entry), so it is for
test and audit databases, not for a production keyspace on every request.

Keys named by a digest of the id instead of the id are found too where they hold the
user's data: the decision index and its `:seen` hash. The erasure marker is not a trace:
it names a digest on purpose and outlives the erasure by its grace period.
"""

from __future__ import annotations

from typing import Any

from core.redis_keys import decision_index_key


def _contains(value: Any, needles: list[bytes]) -> bool:
    if isinstance(value, bytes | str):
        data = value.encode() if isinstance(value, str) else value
        return any(n in data for n in needles)
    if isinstance(value, dict):
        return any(_contains(k, needles) or _contains(v, needles) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return any(_contains(v, needles) for v in value)
    return False


async def find_traces(client: Any, needles: list[str], match: str = "*") -> list[str]:
    """Keys whose name or value contains any needle, or that a needle's decision index
    names, as 'key (type)' lines. Works on a Redis Cluster too: SCAN walks every node,
    pipelines are split per node."""
    raw = [n.encode() for n in needles if n]
    # ":dec:by:<digest>" (no namespace): part of the index's name and of its :seen hash's.
    raw += [decision_index_key("", n).encode() for n in needles if n]
    found = []
    page: list[bytes] = []
    async for key in client.scan_iter(match=match, count=1000):
        page.append(key)
        if len(page) >= 1000:
            found += await _page_traces(client, page, raw)
            page = []
    return found + await _page_traces(client, page, raw)


async def _page_traces(client: Any, keys: list[bytes], needles: list[bytes]) -> list[str]:
    if not keys:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
        kinds = [as_kind(k) for k in await pipe.execute()]
    async with client.pipeline(transaction=False) as pipe:
        for key, kind in zip(keys, kinds, strict=True):
            read = _READERS.get(kind)
            if read is None:
                pipe.exists(key)  # a placeholder: the value is not read
            else:
                read(pipe, key)
        values = await pipe.execute()
    found = []
    for key, kind, value in zip(keys, kinds, values, strict=True):
        if kind not in _READERS:
            value = None
        elif kind == "stream":
            value = [fields for _, fields in value]
        if _contains(key, needles) or _contains(value, needles):
            found.append(f"{key.decode('utf-8', 'replace')} ({kind})")
    return found


def as_kind(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


_READERS = {
    "string": lambda pipe, key: pipe.get(key),
    "hash": lambda pipe, key: pipe.hgetall(key),
    "set": lambda pipe, key: pipe.smembers(key),
    "zset": lambda pipe, key: pipe.zrange(key, 0, -1),
    "list": lambda pipe, key: pipe.lrange(key, 0, -1),
    "stream": lambda pipe, key: pipe.xrange(key),
}
