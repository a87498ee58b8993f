"""Everything stored about one user, as JSON (gateway export) or as a short readable answer.

Reads the same stores erasure clears (privacy/erasure.py), so "what do you know
about me?" and "forget me" cover the same ground. Identifying profile fields
are decrypted for the user; keys and ciphertext never leave.
"""

from __future__ import annotations

import json
import time
from typing import Any

from core.redis_keys import (
    OWNER_SPACES,
    UserKeys,
    active_key,
    decision_index_key,
    decision_seen_key,
    owner_name,
)
from privacy.erasure import as_text, glob_escape, scan_keys
from privacy.fields import PII_FIELDS, decrypt_fields
from privacy.keyring import Keyring

MAX_MESSAGES = 200  # the conversation part of an export: the latest messages
# What an export shows of a decision: the answer, the user's rating, the purchase or
# add-to-cart it was credited with (experiments/decisions.py) and the survey answer
# (experiments/surveys.py).
DECISION_FIELDS = (
    *("id", "response", "variant", "arm", "ts", "rating", "reason"),
    *("conversion", "converted_at", "satisfaction", "surveyed_at", "comment", "commented_at"),
)
SURVEY_FIELDS = ("decision", "segment", "variant", "arm", "kind", "satisfaction", "comment", "ts")


def _decode_hash(raw: dict) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}


async def export_user(
    client: Any,
    namespace: str,
    user_id: str,
    keyring: Keyring | None,
    shared: Any = None,
    keys: UserKeys | None = None,
    conversations: Any = None,
) -> dict[str, Any]:
    """The user's data from every store (asyncio clients, decode off).

    `keyring` decrypts profile fields; `keys` names the user's keys (default: with the
    keyring's pseudonym key); `shared`: with a Redis Cluster, the standalone Redis of Rasa's
    stores and the experiment logs; `conversations`: where conversations live when not in
    Redis (privacy/conversations.py)."""
    ns = namespace
    shared = client if shared is None else shared
    if keys is None:
        keys = UserKeys(ns, keyring.pseudonym_key if keyring else None)
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.consent(user_id))
        pipe.hgetall(keys.profile(user_id))
        pipe.hgetall(keys.live(user_id))
        pipe.get(active_key(ns))
        consent, profile, live, active = await pipe.execute()
    if conversations is not None:  # PostgreSQL (privacy/conversations.py)
        events = await conversations.events(user_id)
        tracker = json.dumps({"events": events}) if events else None
    else:
        tracker = await shared.get(f"{ns}:tracker:{user_id}")
    profile = _decode_hash(profile)
    if keyring is not None:
        profile = decrypt_fields(profile, keyring)
    else:
        profile = {k: ("(encrypted)" if k in PII_FIELDS else v) for k, v in profile.items()}
    return {
        "user_id": user_id,
        "exported_at": round(time.time(), 3),
        "consent": _decode_hash(consent) or None,
        "profile": profile or None,
        "segments": await _segments(client, keys, user_id, as_text(active) if active else None),
        "live_features": _decode_hash(live) or None,
        "experiments": await _experiments(shared, ns, user_id),
        "decisions": await _decisions(shared, ns, user_id),
        "attribution": await _attribution(shared, ns, user_id),
        "surveys": await _surveys(shared, ns, user_id),
        "conversation": _conversation(tracker),
        "shop": await _shop(client, keys, user_id),
    }


async def _shop(client: Any, keys: UserKeys, user_id: str) -> dict[str, Any] | None:
    """Carts and orders in every account space, and back-in-stock requests, as stored."""
    owners = [owner_name(space, user_id) for space in OWNER_SPACES]
    async with client.pipeline(transaction=False) as pipe:
        for owner in owners:
            pipe.hgetall(keys.cart(owner))
            pipe.hgetall(keys.order_records(owner))
        pipe.hgetall(keys.notify(user_id))
        *found, waiting = await pipe.execute()
    carts, orders = {}, {}
    for owner, cart, records in zip(owners, found[::2], found[1::2], strict=True):
        if cart:
            carts[owner] = _decode_hash(cart)
        if records:
            orders[owner] = [json.loads(v) for v in _decode_hash(records).values()]
    if not (carts or orders or waiting):
        return None
    return {"carts": carts, "orders": orders, "back_in_stock": _decode_hash(waiting)}


async def _segments(
    client: Any, keys: UserKeys, user_id: str, active: str | None
) -> dict[str, Any]:
    pattern = f"{keys.namespace}:seg:*:meta"
    versions = sorted(k.split(":")[-2] for k in await scan_keys(client, pattern))
    async with client.pipeline(transaction=False) as pipe:
        for version in versions:
            pipe.hget(keys.segment(user_id, version), keys.subject(user_id))
        found = await pipe.execute()
    by_version = {v: as_text(s) for v, s in zip(versions, found, strict=True) if s is not None}
    return {"active_version": active, "by_version": by_version}


async def _experiments(client: Any, ns: str, user: str) -> dict[str, Any]:
    out = {}
    for key in await scan_keys(client, f"{ns}:exp:*:u:{glob_escape(user)}"):
        experiment = key[len(ns) + len(":exp:") : -len(f":u:{user}")]
        out[experiment] = _decode_hash(await client.hgetall(key))
    return out


async def _decisions(client: Any, ns: str, user: str) -> list[dict[str, str]]:
    """Answers chosen for the user (arm, rating); read from the decision records."""
    keys = await scan_keys(client, f"{ns}:dec:*", "hash")
    out = []
    for start in range(0, len(keys), 1000):
        async with client.pipeline(transaction=False) as pipe:
            for key in keys[start : start + 1000]:
                pipe.hgetall(key)
            records = await pipe.execute()
        for raw in records:
            record = _decode_hash(raw)
            if record.get("user") == user:
                out.append({k: record[k] for k in DECISION_FIELDS if k in record})
    return sorted(out, key=lambda d: d.get("ts", ""))


async def _surveys(client: Any, ns: str, user: str) -> list[dict[str, str]]:
    """The user's survey answers as streamed (they outlive the decision's 30 days)."""
    out, last = [], "-"
    while True:
        entries = await client.xrange(f"{ns}:surveys", min=last, max="+", count=1000)
        if last != "-" and entries and as_text(entries[0][0]) == last:
            entries = entries[1:]
        if not entries:
            return out
        for _, raw in entries:
            entry = _decode_hash(raw)
            if entry.get("user") == user:
                out.append({k: entry[k] for k in SURVEY_FIELDS if k in entry})
        last = as_text(entries[-1][0])


async def _attribution(client: Any, ns: str, user: str) -> dict[str, Any] | None:
    """The decision index purchases are attributed through (experiments/decisions.py): the
    latest decisions (id -> time) and the events already attributed (entry id -> decision
    id, "" when none was in the window)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.zrange(decision_index_key(ns, user), 0, -1, withscores=True)
        pipe.hgetall(decision_seen_key(ns, user))
        index, seen = await pipe.execute()
    if not index and not seen:
        return None
    return {
        "latest_decisions": {as_text(d): round(float(ts), 3) for d, ts in index},
        "attributed_events": _decode_hash(seen),
    }


def _conversation(raw: Any) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        events = json.loads(raw).get("events") or []
    except (ValueError, AttributeError):
        return {"events": None, "messages": [], "note": "stored conversation is unreadable"}
    messages = [
        {"from": e["event"], "text": e.get("text"), "at": e.get("timestamp")}
        for e in events
        if isinstance(e, dict) and e.get("event") in ("user", "bot") and e.get("text")
    ]
    return {"events": len(events), "messages": messages[-MAX_MESSAGES:]}


def readable(export: dict[str, Any]) -> str:
    """A few lines a person can read in a chat window."""
    lines = ["Here is what I have stored about you:"]
    consent = export.get("consent") or {}
    if consent:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(consent.get("at") or 0)))
        lines.append(
            f"- Personalization: {consent.get('status')} on {when} "
            f"(privacy notice {consent.get('policy')})"
        )
    else:
        lines.append("- Personalization: you have not answered yet, so I do not personalize")
    profile = {k: v for k, v in (export.get("profile") or {}).items() if v}
    if profile:
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(profile.items()) if k != "updated_at")
        lines.append(f"- Profile: {shown}")
    segments = (export.get("segments") or {}).get("by_version") or {}
    if segments:
        lines.append(f"- Customer segment in {len(segments)} published version(s)")
    live = export.get("live_features") or {}
    if live:
        lines.append(
            f"- Recent activity: {live.get('messages', '0')} messages, "
            f"{live.get('purchases', '0')} purchases"
            + (f", current segment {live['persona']}" if live.get("persona") else "")
        )
    experiments = export.get("experiments") or {}
    if experiments:
        lines.append(f"- Experiments: {', '.join(sorted(experiments))}")
    decisions = export.get("decisions") or []
    if decisions:
        rated = sum(1 for d in decisions if d.get("rating"))
        lines.append(f"- {len(decisions)} recommendation(s) logged, {rated} rated by you")
    scores = [s for s in export.get("surveys") or [] if s.get("kind") == "score"]
    if scores:
        lines.append(f"- {len(scores)} survey answer(s)")
    conversation = export.get("conversation") or {}
    if conversation.get("messages"):
        lines.append(f"- This conversation: {len(conversation['messages'])} messages")
    shop = export.get("shop") or {}
    if shop:
        orders = sum(len(v) for v in shop["orders"].values())
        units = sum(
            int(v) for cart in shop["carts"].values() for k, v in cart.items() if k.startswith("i:")
        )
        waiting = len(shop["back_in_stock"])
        lines.append(
            f"- Shop: {orders} order(s), {units} item(s) in your cart, "
            f"{waiting} back-in-stock request(s)"
        )
    if len(lines) == 2 and not consent:
        lines.append("- Nothing else.")
    lines.append("Say 'forget me' to erase all of it.")
    return "\n".join(lines)
