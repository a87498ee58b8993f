"""Live features: what one event changes, computed as plain data, applied atomically in Redis.

Live features of a user live in one hash, `pz:live:{<bucket>}:<user_id>` (the user's hash
tag, core/redis_keys.py):

    messages, sessions, last_seen            counts and the latest event time
    daypart_night|morning|afternoon|evening  messages by local time of day
    intent_recommendations|deals|new_arrivals|specs
    sentiment_ema                            moving average of message sentiment
    channel_web, channel_other, device_mobile, device_other
    purchases, monetary, first_purchase, last_purchase, last_category, region, timezone
    cart_adds, cart_items, last_cart, last_cart_category       (add-to-cart events)
    segment, persona, segment_reason, segment_at, segment_version   (online assignment)

Updates are applied by a Lua script that first records each stream entry id in
`pz:live:{<bucket>}:<user_id>:ids` (HSETNX): a replayed event changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import ujson

from core.dayparts import local_daypart
from realtime.stream import MAX_QUANTITY
from segmentation.features import DAYPARTS, INTENT_GROUPS, WEB_CHANNELS, vader

SENTIMENT_ALPHA = 0.2  # weight of the newest message in the moving average
IDS_TTL_S = 7 * 24 * 3600  # how long event ids are remembered for deduplication


@dataclass
class Update:
    """What one event does to a user's live features."""

    user_id: str
    incr: dict[str, int] = field(default_factory=dict)  # counters (HINCRBY)
    fincr: dict[str, float] = field(default_factory=dict)  # amounts (HINCRBYFLOAT)
    set: dict[str, str] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    min: dict[str, float] = field(default_factory=dict)
    sentiment: float | None = None
    kind: str = "other"  # "message", "purchase", "cart", "session", "other"
    at: float | None = None  # the event's time: purchases and add-to-carts are attributed by it


# Update kinds that count as conversions, and the name experiments and decisions know them by.
CONVERSIONS = {"purchase": "purchase", "cart": "add_to_cart"}


def daypart(timestamp: float, timezone: str) -> str:
    """Local daypart; UTC's when the timezone is unknown."""
    return local_daypart(timestamp, timezone) or local_daypart(timestamp, "UTC")


@lru_cache(maxsize=65536)
def sentiment(text: str) -> float:
    return vader().polarity_scores(text)["compound"] if text else 0.0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def update_for(event: dict[str, Any]) -> Update | None:
    """The live-feature change an event makes, or None for events that change nothing."""
    user = event.get("sender_id")
    if not isinstance(user, str) or not user or len(user) > 256:
        return None
    kind = event.get("event")
    ts = _number(event.get("timestamp"))
    if kind == "user":
        return _message_update(user, event, ts)
    if kind == "session_started":
        return Update(
            user, incr={"sessions": 1}, max={"last_seen": ts} if ts else {}, kind="session"
        )
    if kind == "purchase":
        amount = _number(event.get("amount"))
        if amount is None or amount <= 0 or ts is None:
            return None
        up = Update(
            user,
            incr={"purchases": 1},
            fincr={"monetary": amount},
            max={"last_purchase": ts, "last_seen": ts},
            min={"first_purchase": ts},
            kind="purchase",
            at=ts,
        )
        if isinstance(event.get("category"), str) and event["category"]:
            up.set["last_category"] = event["category"][:40]
        return up
    if kind == "add_to_cart":
        return _cart_update(user, event, ts)
    return None


def _cart_update(user: str, event: dict[str, Any], ts: float | None) -> Update | None:
    """Interest, not a purchase: its own counters, so spend and recency keep their meaning."""
    quantity = event.get("quantity", 1)
    if ts is None or isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        return None
    up = Update(
        user,
        incr={"cart_adds": 1, "cart_items": min(quantity, MAX_QUANTITY)},
        max={"last_cart": ts, "last_seen": ts},
        kind="cart",
        at=ts,
    )
    if isinstance(event.get("category"), str) and event["category"]:
        up.set["last_cart_category"] = event["category"][:40]
    return up


def _message_update(user: str, event: dict[str, Any], ts: float | None) -> Update:
    meta = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    tz = meta.get("timezone") if isinstance(meta.get("timezone"), str) else ""
    up = Update(user, incr={"messages": 1}, kind="message")
    if ts is not None:
        up.max["last_seen"] = ts
        up.incr[f"daypart_{daypart(ts, tz)}"] = 1
    parse = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
    intent = (
        (parse.get("intent") or {}).get("name") if isinstance(parse.get("intent"), dict) else None
    )
    if intent in INTENT_GROUPS:
        up.incr[f"intent_{INTENT_GROUPS[intent]}"] = 1
    channel = event.get("input_channel")
    up.incr["channel_web" if channel in WEB_CHANNELS else "channel_other"] = 1
    up.incr["device_mobile" if meta.get("device") == "mobile" else "device_other"] = 1
    for name in ("region", "timezone"):
        if isinstance(meta.get(name), str) and meta[name]:
            up.set[name] = meta[name][:64]
    text = event.get("text")
    up.sentiment = sentiment(text[:2000]) if isinstance(text, str) else None
    return up


def as_features(live: dict[str, str], now: float) -> dict[str, Any]:
    """Live counters in the offline feature schema (segmentation/features.py)."""

    def num(name: str) -> float:
        return _number(live.get(name)) or 0.0

    messages, sessions, purchases = num("messages"), num("sessions"), num("purchases")
    last, first = _number(live.get("last_purchase")), _number(live.get("first_purchase"))
    out: dict[str, Any] = {
        "recency_days": math.floor((now - last) / 86400) if last else math.nan,
        "frequency": purchases,
        "monetary": num("monetary"),
        "avg_order_value": num("monetary") / purchases if purchases else 0.0,
        "tenure_days": math.floor((now - first) / 86400) if first else math.nan,
        "has_purchases": 1.0 if purchases else 0.0,
        "sessions": max(sessions, 1.0 if messages else 0.0),
        "messages_per_session": messages / max(sessions, 1.0) if messages else 0.0,
        "session_duration_s": math.nan,
        "sentiment": _number(live.get("sentiment_ema")) if messages else math.nan,
        "share_web": num("channel_web") / messages if messages else 0.0,
        "share_mobile": num("device_mobile") / messages if messages else 0.0,
        "has_conversations": 1.0 if messages else 0.0,
        "region": live.get("region") or "unknown",
    }
    for group in INTENT_GROUPS.values():
        out[f"share_{group}"] = num(f"intent_{group}") / messages if messages else 0.0
    for part in DAYPARTS:
        out[f"share_{part}"] = num(f"daypart_{part}") / messages if messages else 0.0
    return out


# Applies a chunk of updates in one call. KEYS: per update, its live hash, ids hash, consent
# hash and erasure marker (KEYS_PER_UPDATE); on a Redis Cluster all of a call's keys must be
# in one slot (realtime/worker.py groups them). ARGV: ids ttl, live-hash ttl, sentiment alpha,
# a JSON array with one object per update: {"e": entry id, "i": integer increments,
# "f": float increments, "s": set, "x": max, "n": min, "m": sentiment or null}, and "1" when
# only users who consented to personalization get live features.
# Returns 1 (applied), 0 (already applied: a replay), 2 (no consent, or being erased: nothing
# stored) or -1 (a key of the wrong type, left untouched) per update. Sending a chunk as one
# JSON argument keeps the client's command packing cheap; it dominated the worker's profile.
KEYS_PER_UPDATE = 4
APPLY_SCRIPT = """
local updates = cjson.decode(ARGV[4])
local out = {}
for k, u in ipairs(updates) do
  local live, ids, consent, erasing = KEYS[4 * k - 3], KEYS[4 * k - 2], KEYS[4 * k - 1], KEYS[4 * k]
  local lt, it = redis.call('TYPE', live).ok, redis.call('TYPE', ids).ok
  local ct = redis.call('TYPE', consent).ok
  if (lt ~= 'hash' and lt ~= 'none') or (it ~= 'hash' and it ~= 'none')
     or (ct ~= 'hash' and ct ~= 'none') then
    out[k] = -1
  elseif redis.call('EXISTS', erasing) == 1
     or (ARGV[5] == '1' and redis.call('HGET', consent, 'status') ~= 'granted') then
    out[k] = 2
  elseif redis.call('HSETNX', ids, u.e, 1) == 0 then
    out[k] = 0
  else
    redis.call('EXPIRE', ids, ARGV[1])
    for f, v in pairs(u.i) do redis.call('HINCRBY', live, f, v) end
    for f, v in pairs(u.f) do redis.call('HINCRBYFLOAT', live, f, v) end
    for f, v in pairs(u.s) do redis.call('HSET', live, f, v) end
    for f, v in pairs(u.x) do
      local old = tonumber(redis.call('HGET', live, f))
      if old == nil or v > old then redis.call('HSET', live, f, string.format('%.17g', v)) end
    end
    for f, v in pairs(u.n) do
      local old = tonumber(redis.call('HGET', live, f))
      if old == nil or v < old then redis.call('HSET', live, f, string.format('%.17g', v)) end
    end
    if type(u.m) == 'number' then
      local old = tonumber(redis.call('HGET', live, 'sentiment_ema'))
      if old == nil then old = u.m end
      redis.call('HSET', live, 'sentiment_ema', old + tonumber(ARGV[3]) * (u.m - old))
    end
    if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', live, ARGV[2]) end
    out[k] = 1
  end
end
return out
"""


def update_payload(update: Update, entry_id: str) -> dict[str, Any]:
    # cjson turns an empty JSON object into an empty table, so empty groups are fine.
    return {
        "e": entry_id,
        "i": update.incr,
        "f": update.fincr,
        "s": update.set,
        "x": update.max,
        "n": update.min,
        "m": update.sentiment,
    }


def script_args(
    payloads: list[dict[str, Any]], live_ttl_s: int, require_consent: bool = True
) -> list:
    return [
        IDS_TTL_S,
        live_ttl_s,
        SENTIMENT_ALPHA,
        ujson.dumps(payloads),
        "1" if require_consent else "0",
    ]
