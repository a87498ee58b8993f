"""The audit log of segment versions: who published, activated or rolled back which version,
when, on which data, with the version's model card.

It is a Redis stream, `<ns>:seg:audit` (core/redis_keys.py), appended to in the same
MULTI/EXEC that activates a version, so no version becomes active without its entry. Nothing
trims it: retention (publish.enforce_retention) deletes only `<ns>:seg:<ver>:*`, so every
version stays explainable after its assignments are gone. Entries hold aggregates only
(the card), never a user id.
"""

from __future__ import annotations

import getpass
import time

import redis

from segmentation.errors import InputError, SegmentationError

PUBLISH, ACTIVATE, ROLLBACK = "publish", "activate", "rollback"


def who(by: str | None) -> str:
    """`--by NAME`, or the operating-system user running the command."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry
        return "unknown"


def entry(event: str, version: str, by: str, **fields) -> dict[str, str]:
    """One log entry; fields with a None value are left out."""
    out = {"event": event, "version": version, "by": by, "at": f"{time.time():.3f}"}
    out.update({k: str(v) for k, v in fields.items() if v is not None})
    return out


def append(pipe, key: str, record: dict[str, str]) -> None:
    """Queue the entry on a pipeline (the activation's), never with MAXLEN."""
    pipe.xadd(key, record)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def read_log(client: redis.Redis, key: str, batch: int = 500) -> list[dict[str, str]]:
    """Every entry, oldest first, with its stream id as `id`."""
    out: list[dict[str, str]] = []
    start = "-"
    while True:
        chunk = client.xrange(key, min=start, max="+", count=batch)
        for raw_id, fields in chunk:
            out.append({"id": _text(raw_id), **{_text(k): _text(v) for k, v in fields.items()}})
        if len(chunk) < batch:
            return out
        start = "(" + _text(chunk[-1][0])


def card_of(entries: list[dict[str, str]], version: str, published: bool) -> str:
    """The card of `version` as its publish recorded it; one-line errors for a version
    published before model cards (`published`: it is still in `segment versions`) or not
    in the log at all."""
    for record in reversed(entries):
        if record.get("version") == version and record.get("card"):
            return record["card"]
    if published or any(r.get("version") == version for r in entries):
        raise InputError(
            f"version {version} has no model card: it was published before model cards; "
            "retrain and publish to get a version with one"
        )
    raise SegmentationError(f"no version {version} in the audit log; see 'segment audit-log'")


def table(entries: list[dict[str, str]]) -> list[str]:
    """The log as aligned text lines, oldest first."""
    lines = [f"{'when (UTC)':20}{'event':10}{'version':28}{'by':16}{'data':18}details"]
    for r in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(r.get("at", 0))))
        details = []
        if r.get("previous"):
            details.append(f"was {r['previous']}")
        if r.get("card"):
            details.append("card")
        lines.append(
            f"{when:20}{r.get('event', '?'):10}{r.get('version', '?'):28}"
            f"{r.get('by', '?')[:15]:16}{r.get('data_fingerprint', '-'):18}{', '.join(details)}"
        )
    return lines
