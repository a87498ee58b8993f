"""Contextual cues a catalogue condition can test, computed from the turn.

Unknown cues stay None and never satisfy a condition, so a turn without a
timezone simply gets the wording that does not depend on the time of day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.categories import CATEGORIES
from core.dayparts import DAYPARTS, GREETINGS, local_daypart
from core.personas import DEFAULT
from core.shopper import PRICE_BANDS, ShopperFacts
from core.traits import LEVELS, PRESETS, TRAITS, UNPLACED, Traits

TIMES_OF_DAY = DAYPARTS
CHANNELS = ("web", "slack", "rest", "other")
DEVICES = ("mobile", "desktop")
RECENT = ("just_bought", "same_category_again", "recent_order", "long_absence")
JUST_BOUGHT_S = 48 * 3600

REGION = re.compile(r"^[A-Z]{2}$")
# What each cue may be compared with; the linter rejects anything else as "can never match".
DOMAINS: dict[str, tuple] = {
    "time_of_day": TIMES_OF_DAY,
    "channel": CHANNELS,
    "device": DEVICES,
    "recent": RECENT,
    "category": CATEGORIES,
    "has_deals": (True, False),
    "has_new": (True, False),
    "region": (),  # any two-letter code, checked by pattern
    "segment": ("placed", "unplaced"),  # unplaced: no model has placed the shopper yet
    "price_band": PRICE_BANDS,  # from the shopper's own orders
    **{trait: LEVELS for trait in TRAITS},  # the segment's trait levels (core/traits.py)
}


def time_of_day(timezone: str | None, now: float) -> str | None:
    return local_daypart(now, timezone)


def channel_of(metadata_channel: str | None, input_channel: str | None) -> str:
    for value in (metadata_channel, input_channel):
        if value in ("web", "slack"):
            return value
    return "rest" if input_channel in ("rest", "rasa_ext.channels.GuardedRestInput") else "other"


@dataclass(frozen=True)
class Cues:
    persona: str = DEFAULT
    time_of_day: str | None = None
    region: str | None = None
    channel: str = "rest"
    device: str | None = None
    recent: frozenset[str] = field(default_factory=frozenset)
    category: str | None = None
    has_deals: bool | None = None
    has_new: bool | None = None
    traits: Traits | None = None  # None: the persona's preset
    price_band: str | None = None
    favourite: str | None = None  # favourite category, else the conversation's
    companion: str | None = None  # a category that goes with a recent purchase
    last_order: str | None = None  # the category of a recent purchase

    def __post_init__(self) -> None:
        if self.traits is None:
            object.__setattr__(self, "traits", PRESETS.get(self.persona, UNPLACED))

    def value(self, cue: str) -> object:
        if cue in TRAITS:
            return self.traits.level(cue)
        if cue == "segment":
            return "placed" if self.traits.placed else "unplaced"
        return getattr(self, cue)

    @property
    def greeting(self) -> str:
        return GREETINGS.get(self.time_of_day or "", "Hi")


def recent_behaviour(
    last_purchase: float | None,
    category: str | None,
    previous_categories: tuple[str | None, ...],
    now: float,
    facts: ShopperFacts | None = None,
) -> frozenset[str]:
    """`just_bought` within two days of a purchase; `same_category_again` on a repeat visit;
    `recent_order` / `long_absence` from the shopper's own last order."""
    out = set()
    if last_purchase is not None and 0 <= now - last_purchase <= JUST_BOUGHT_S:
        out.add("just_bought")
    if category is not None and category in previous_categories:
        out.add("same_category_again")
    if facts is not None and facts.recent_order(now):
        out.add("recent_order")
    if facts is not None and facts.long_absence(now):
        out.add("long_absence")
    return frozenset(out)
