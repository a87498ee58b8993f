"""Look for a user everywhere in Redis: the proof an erasure worked (tests, security check).

Reads every key and every value (all types, every stream entry), so it is for
test and audit databases, not for a production keyspace on every request.
"""

from __future__ import annotations

from typing import Any


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
    """Keys whose name or value contains any needle, as 'key (type)' lines."""
    raw = [n.encode() for n in needles if n]
    found = []
    async for key in client.scan_iter(match=match, count=1000):
        kind = (await client.type(key)).decode()
        if kind == "string":
            value: Any = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "set":
            value = await client.smembers(key)
        elif kind == "zset":
            value = await client.zrange(key, 0, -1)
        elif kind == "list":
            value = await client.lrange(key, 0, -1)
        elif kind == "stream":
            value = [fields for _, fields in await client.xrange(key)]
        else:
            value = None
        if _contains(key, raw) or _contains(value, raw):
            found.append(f"{key.decode('utf-8', 'replace')} ({kind})")
    return found
