"""What the actions read off the tracker: the message's metadata, the category asked about,
experiments already seen, and the cues the wording may depend on."""

from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker

from core.categories import CATEGORIES
from personalization.resolution import Resolution
from responses.cues import Cues, channel_of, recent_behaviour, time_of_day

SEGMENT_SLOT = "segment"  # the segment id (or the override's / unplaced persona name)
VERSION_SLOT = "segment_version"
TRAITS_SLOT = "traits"  # the traits that shaped the turn (core/traits.py Traits.as_dict)
CONSENT_SLOT = "consent"  # granted / denied as last recorded, or "asked" this session
DECISION_SLOT = "last_decision"
EXPERIMENTS_SLOT = "experiments"
SHOWN_SLOT = "shown_products"  # ids of the products the last listing showed


@dataclass(frozen=True)
class MessageMetadata:
    """What the gateway added to the message (the request's own facts, not the user's
    claims); anything missing or malformed is None."""

    timezone: str | None = None
    region: str | None = None
    device: str | None = None
    channel: str | None = None


def _text(value: object) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def message_metadata(tracker: Tracker) -> MessageMetadata:
    metadata = (tracker.latest_message or {}).get("metadata")
    if not isinstance(metadata, dict):
        return MessageMetadata()
    fields = ("timezone", "region", "device", "channel")
    return MessageMetadata(*(_text(metadata.get(k)) for k in fields))


def latest_intent(tracker: Tracker) -> str | None:
    intent = (tracker.latest_message or {}).get("intent", {}).get("name")
    return intent if isinstance(intent, str) else None


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text")
    return text if isinstance(text, str) else ""


def requested_category(tracker: Tracker, carry_over: bool = False) -> str | None:
    """The category named in this message; the one the conversation was about only with
    `carry_over`, for answers that need a category ("recommend one", "under 300"), so an
    earlier category never narrows a question that did not ask for it."""
    values = [next(tracker.get_latest_entity_values("product_category"), None)]
    if carry_over:
        values.append(tracker.get_slot("product_category"))
    for value in values:
        if isinstance(value, str) and value in CATEGORIES:
            return value
    return None


def entity_values(tracker: Tracker, entity: str, limit: int = 20) -> list[str]:
    """Every value of an entity in this message, in order (strings only, bounded)."""
    values = tracker.get_latest_entity_values(entity)
    return [v[:80] for v in values if isinstance(v, str)][:limit]


def exposed_experiments(tracker: Tracker) -> dict[str, str]:
    value = tracker.get_slot(EXPERIMENTS_SLOT)
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def previous_categories(tracker: Tracker, limit: int = 60) -> tuple[str, ...]:
    """Categories the user asked about earlier in this conversation (not this message)."""
    seen: list[str] = []
    user_turns = [e for e in tracker.events[-limit:] if e.get("event") == "user"]
    for event in user_turns[:-1]:
        for entity in (event.get("parse_data") or {}).get("entities") or []:
            value = entity.get("value") if isinstance(entity, dict) else None
            if entity.get("entity") == "product_category" and value in CATEGORIES:
                seen.append(value)
    return tuple(seen)


def turn_cues(tracker: Tracker, resolution: Resolution, now: float) -> Cues:
    metadata = message_metadata(tracker)
    previous = (resolution.profile.recent_category, *previous_categories(tracker))
    category = next(tracker.get_latest_entity_values("product_category"), None)
    facts = resolution.facts
    companion = facts.companion(now)
    return Cues(
        persona=resolution.persona,
        time_of_day=time_of_day(metadata.timezone, now),
        region=metadata.region if metadata.region and len(metadata.region) == 2 else None,
        channel=channel_of(metadata.channel, tracker.get_latest_input_channel()),
        device=metadata.device if metadata.device in ("mobile", "desktop") else None,
        recent=recent_behaviour(resolution.last_purchase, category, previous, now, facts),
        traits=resolution.traits,
        price_band=facts.price_band,
        # The shopper's favourite, else what this conversation is about (for "usually").
        favourite=facts.favourite_category
        or resolution.profile.favourite_category
        or requested_category(tracker, carry_over=True),
        companion=companion,
        last_order=facts.last_order_category if companion else None,
    )
